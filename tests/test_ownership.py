"""Who owned a DID number or trunk when (`cdrex dids`, `cdrex trunks`), and imports routed by
it: each CDR goes to the owner at its time_start, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid

import pytest

from conftest import (
    Service,
    assert_cli_error,
    create_account,
    create_export,
    durations,
    month_back,
    wait_completed,
)


def new_did() -> str:
    return str(random.randrange(10**11, 10**12))  # a number of this test's own


def last_month(day: int, hour: int = 10) -> str:
    """A time in last month: wholly past, whatever the date today."""
    year, month = month_back(1)
    return f"{year}-{month:02d}-{day:02d} {hour:02d}:00:00"


def calls_file(service: Service, rows: list[tuple[object, ...]], header: str = "") -> str:
    header = header or "time_start,did_number,duration"
    path = service.data_dir / f"calls-{uuid.uuid4().hex[:8]}.csv"
    path.write_text("\n".join([header, *(",".join(map(str, row)) for row in rows)]) + "\n")
    return str(path)


def test_a_number_that_moves_mid_month_gives_each_owner_their_own_calls(
    cli_service: Service,
) -> None:
    first, second = create_account(cli_service, "own"), create_account(cli_service, "own")
    did = new_did()
    moved = last_month(15)
    cli_service.cli("dids", "assign", did, "--account", first, "--until", moved)
    assigned = cli_service.cli("dids", "assign", did, "--account", second, "--since", moved)
    assert assigned.stdout.decode() == (
        f"assigned DID number {did} of account {second!r} from {moved} UTC until now on\n"
    )
    path = calls_file(
        cli_service,
        [(last_month(1), did, 1), (last_month(14, 23), did, 2), (moved, did, 3),
         (last_month(28), did, 4)],
    )  # fmt: skip
    done = cli_service.cli("cdrs", "import", path)
    assert done.stdout.decode() == "imported 4 CDRs into 2 accounts\n"
    assert durations(cli_service, first) == [1, 2]
    assert durations(cli_service, second) == [3, 4]  # the moment it moved is the new owner's
    # And through the API: the second account's export of the month holds its two calls.
    key = cli_service.cli("keys", "create", "--account", second).stdout.decode().strip()
    with cli_service.client(key) as client:
        export = wait_completed(client, create_export(client, months_back=1)["id"])
        assert export["attributes"]["url"]
        body = client.get(export["attributes"]["url"]).text
    assert body.count(did) == 2


def test_listing_releasing_and_overlaps(cli_service: Service) -> None:
    account = create_account(cli_service, "own")
    did = new_did()
    cli_service.cli("dids", "assign", did, "--account", account, "--name", "reception")
    taken = cli_service.cli("dids", "assign", did, "--account", account, check=False)
    assert_cli_error(taken, f"DID number {did} of account {account!r} from the start", "overlaps")
    listed = cli_service.cli("dids", "list", "--account", account).stdout.decode()
    assert listed == f"{did}\t{account}\t-\t-\treception\n"
    at = last_month(10)
    released = cli_service.cli("dids", "release", did, "--at", at)
    assert released.stdout.decode() == (
        f"released DID number {did} of account {account!r} from the start until {at} UTC\n"
    )
    assert_cli_error(cli_service.cli("dids", "release", did, check=False), f"{did} is nobody's at")
    # Free again after the release: another interval may start there.
    cli_service.cli("dids", "assign", did, "--account", account, "--since", at)
    listed = cli_service.cli("dids", "list", "--account", account).stdout.decode()
    assert listed.splitlines() == [
        f"{did}\t{account}\t-\t{at}\treception",
        f"{did}\t{account}\t{at}\t-\t",
    ]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["dids", "assign", "12ab", "--account", "{account}"], ["must be 3 to 15 digits"]),
        (["trunks", "assign", "t-1", "--account", "{account}"], ["must be a UUID"]),
        (["dids", "assign", "441234", "--account", "nobody-here"], ["no account named"]),
        (
            ["dids", "assign", "441234", "--account", "{account}", "--since", "2026-05-02",
             "--until", "2026-05-01"],
            ["--until must be later than --since"],
        ),
    ],
)  # fmt: skip
def test_bad_assignments_are_refused_clearly(
    cli_service: Service, args: list[str], fragments: list[str]
) -> None:
    account = create_account(cli_service, "own")
    failed = cli_service.cli(*[arg.format(account=account) for arg in args], check=False)
    assert_cli_error(failed, *fragments)


def test_a_time_that_is_not_one_is_a_usage_error(cli_service: Service) -> None:
    account = create_account(cli_service, "own")
    failed = cli_service.cli(
        "dids", "assign", new_did(), "--account", account, "--since", "soon", check=False
    )
    assert failed.returncode == 2 and b"'soon'" in failed.stderr
    assert b"Traceback" not in failed.stderr


def test_unrouted_calls_refuse_the_file_or_are_skipped(cli_service: Service) -> None:
    account = create_account(cli_service, "own")
    did, stranger = new_did(), new_did()
    cli_service.cli("dids", "assign", did, "--account", account)
    path = calls_file(
        cli_service,
        [(last_month(2), did, 1), (last_month(3), stranger, 2), (last_month(4), did, 3)],
    )
    refused = cli_service.cli("cdrs", "import", path, check=False)
    assert_cli_error(
        refused,
        f"line 3: no account owned DID number {stranger} at {last_month(3)} UTC",
        "nothing was imported",
    )
    assert durations(cli_service, account) == []
    skipped = cli_service.cli("cdrs", "import", path, "--unrouted", "skip")
    assert skipped.stdout.decode() == (
        "imported 2 CDRs into 1 accounts\n"
        f"skipped 1 CDRs nobody owned, by DID number ({stranger}: 1)\n"
    )
    assert durations(cli_service, account) == [1, 3]


def test_calls_older_than_the_kept_months_are_refused_or_skipped(cli_service: Service) -> None:
    # Kept: the current month, the 2 exportable before it, 1 more (the defaults).
    account = create_account(cli_service, "own")
    year, month = month_back(4)
    old = f"{year}-{month:02d}-28 23:59:59"
    path = calls_file(cli_service, [(last_month(2), new_did(), 1), (old, new_did(), 2)])
    refused = cli_service.cli("cdrs", "import", path, "--account", account, check=False)
    assert_cli_error(refused, f"line 3: time_start {old} is before ", "nothing was imported")
    skipped = cli_service.cli("cdrs", "import", path, "--account", account, "--unrouted", "skip")
    assert skipped.stdout.decode() == (
        f"imported 1 CDRs into account {account}\n"
        "skipped 1 CDRs older than the oldest month cdrex keeps\n"
    )
    assert durations(cli_service, account) == [1]


def test_outbound_calls_are_routed_by_trunk(cli_service: Service) -> None:
    account = create_account(cli_service, "own")
    trunk = str(uuid.uuid4())
    cli_service.cli("trunks", "assign", trunk.upper(), "--account", account, "--name", "sip-1")
    listed = cli_service.cli("trunks", "list", "--account", account).stdout.decode()
    assert listed == f"{trunk}\t{account}\t-\t-\tsip-1\n"
    path = calls_file(
        cli_service,
        [(last_month(5), trunk, 7, "4930123456")],
        header="time_start,voice_out_trunk_id,duration,destination_number",
    )
    done = cli_service.cli("cdrs", "import", path, "--type", "cdr_out")
    assert done.stdout.decode() == "imported 1 CDRs into 1 accounts\n"
    assert durations(cli_service, account, "cdrs_out") == [7]


def test_concurrent_assignments_of_one_number_leave_one_owner(cli_service: Service) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from cdrex.exports.kinds import DID
    from cdrex.store import accounts as account_store
    from cdrex.store import ownership

    db = cli_service.database()
    owners = [
        account_store.find_account(db, create_account(cli_service, "own")).id for _ in range(8)
    ]
    did = new_did()

    def assign(account_id: int) -> bool:
        try:
            ownership.assign(db, DID, did, account_id)
        except account_store.AccountError:
            return False
        return True

    with ThreadPoolExecutor(len(owners)) as pool:
        won = list(pool.map(assign, owners))
    assert won.count(True) == 1, won
    [held] = ownership.list_assignments(db, DID, owners[won.index(True)])
    assert held.identifier == did and held.since is None and held.until is None
