"""Child process of export_sqlite.py: build one pending export exactly as a worker does.

Usage: _export_child.py DATA_DIR ACCOUNT_ID EXPORT_ID. Prints one JSON object: the time
build_export_file took, the peak RSS of this process, and what was built.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from cdrex.exports.kinds import file_format
from cdrex.pipeline.build import build_export_file
from cdrex.pipeline.local_files import LocalFiles
from cdrex.settings import Settings
from cdrex.store.db import Database
from cdrex.store.exports import get_export


def main(data_dir: Path, account_id: int, export_id: str) -> None:
    settings = Settings.from_env(data_dir=data_dir)
    db = Database(settings.resolved_database_url)
    files = LocalFiles(settings.files_dir)
    export = get_export(db, account_id, export_id)
    if export is None:
        raise SystemExit(f"no export {export_id} for account {account_id}")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    built = build_export_file(db, files, export)
    seconds = time.perf_counter() - started
    fmt = file_format(export.api_version, export.export_type)
    print(
        json.dumps(
            {
                "build_seconds": seconds,
                "rss_before_build_mb": rss_before,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "row_count": built.row_count,
                "byte_size": built.byte_size,
                "file": str(files.path(export.file_name + fmt.suffix)),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
