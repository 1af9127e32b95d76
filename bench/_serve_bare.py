"""Serve ``_asgi_apps.bare_app`` the way ``cdrex serve`` serves cdrex: the same uvicorn.run()
call, logging set up alike (the access log, on stderr, is a good part of a cached list
response's cost). Usage: _serve_bare.py PORT, with BENCH_BODY_FILE and BENCH_CONTENT_TYPE.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from _asgi_apps import bare_app
from cdrex.cli import _uvicorn_logging  # serve's own: stays in step if serve changes it

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")
    uvicorn.run(
        bare_app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=_uvicorn_logging(),
        proxy_headers=False,
    )
