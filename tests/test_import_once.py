"""A call imported twice is stored once: the same file again, an overlapping one, the
same call twice in a file, and overlapping files imported at the same time, on SQLite and
PostgreSQL. Each account keeps its own calls: the same file for two accounts is stored
for both."""

from __future__ import annotations

import subprocess
import sys
import uuid

from conftest import Service, create_account, durations, month_back


def call(n: int) -> str:
    year, month = month_back(1)  # last month: wholly past, whatever the date today
    return f"{year}-{month:02d}-{1 + n % 28:02d} {n % 24:02d}:00:00,441234567890,{n}"


def calls_file(service: Service, numbers: range | list[int], with_ids: bool = False) -> str:
    header = "time_start,did_number,duration" + (",call_id" if with_ids else "")
    lines = [call(n) + (f",leg-{n}" if with_ids else "") for n in numbers]
    path = service.data_dir / f"calls-{uuid.uuid4().hex[:8]}.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    return str(path)


def imported(service: Service, path: str, account: str) -> str:
    return service.cli("cdrs", "import", path, "--account", account).stdout.decode()


def test_the_same_file_again_stores_nothing(cli_service: Service) -> None:
    account = create_account(cli_service, "once")
    path = calls_file(cli_service, range(50))
    assert imported(cli_service, path, account) == f"imported 50 CDRs into account {account}\n"
    assert imported(cli_service, path, account) == (
        f"imported 0 CDRs into account {account}, skipped 50 already present\n"
    )
    overlapping = calls_file(cli_service, range(40, 60))
    assert imported(cli_service, overlapping, account) == (
        f"imported 10 CDRs into account {account}, skipped 10 already present\n"
    )
    assert durations(cli_service, account) == list(range(60))


def test_a_call_id_makes_a_changed_line_the_same_call(cli_service: Service) -> None:
    account = create_account(cli_service, "once")
    imported(cli_service, calls_file(cli_service, range(5), with_ids=True), account)
    # The switch wrote the same legs again with other durations: the same calls.
    path = cli_service.data_dir / "rewritten.csv"
    lines = [f"{call(n)[: -len(str(n))]}{n + 100},leg-{n}" for n in range(5)]
    path.write_text("time_start,did_number,duration,call_id\n" + "\n".join(lines) + "\n")
    assert imported(cli_service, str(path), account) == (
        f"imported 0 CDRs into account {account}, skipped 5 already present\n"
    )
    assert durations(cli_service, account) == list(range(5))


def test_a_call_twice_in_one_file_is_stored_once(cli_service: Service) -> None:
    account = create_account(cli_service, "once")
    path = calls_file(cli_service, [1, 2, 2, 3, 1])
    assert imported(cli_service, path, account) == (
        f"imported 3 CDRs into account {account}, skipped 2 already present\n"
    )
    assert durations(cli_service, account) == [1, 2, 3]


def test_each_account_keeps_its_own_copy(cli_service: Service) -> None:
    first, second = create_account(cli_service, "once"), create_account(cli_service, "once")
    path = calls_file(cli_service, range(5))
    imported(cli_service, path, first)
    assert imported(cli_service, path, second) == f"imported 5 CDRs into account {second}\n"
    assert durations(cli_service, first) == durations(cli_service, second) == list(range(5))


def test_overlapping_imports_at_the_same_time_store_each_call_once(
    cli_service: Service,
) -> None:
    account = create_account(cli_service, "once")
    files = [calls_file(cli_service, range(start, start + 20_000)) for start in (0, 10_000)]
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "cdrex", "cdrs", "import", path, "--account", account],
            env=cli_service.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for path in files
    ]
    outputs = [process.communicate(timeout=120) for process in running]
    for process, (_, stderr) in zip(running, outputs, strict=True):
        assert process.returncode == 0, stderr.decode()
    said = [stdout.decode() for stdout, _ in outputs]
    # Together they stored the 30,000 calls once; one skipped what the other stored first.
    stored = [int(text.split()[1]) for text in said]
    assert sum(stored) == 30_000, said
    assert any("skipped 10000 already present" in text for text in said), said
    assert durations(cli_service, account) == list(range(30_000))
