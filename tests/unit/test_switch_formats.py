"""The switches' own CDR formats and mapping files (cdrex.cdrs.mapping, input_formats),
in-process, on samples written from the switches' documentation (tests/samples/switches):
answered and unanswered calls, B-legs, local time across both DST changes, non-ASCII
caller names, and what a bad record or a bad mapping file is told."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from cdrex.cdrs.files import BadCdrFile, read_numbered_records
from cdrex.cdrs.input_formats import InputFormat, input_format, template_columns
from cdrex.cdrs.mapping import BadMapping, MappedReader
from cdrex.exports.kinds import KINDS
from cdrex.exports.model import ExportType

SWITCH_SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "switches"
INBOUND = KINDS[ExportType.CDR_IN]
OUTBOUND = KINDS[ExportType.CDR_OUT]
TRUNK = "0b7c57b4-6c1f-4f43-a0cb-3c8b4d0f6a11"


def read(
    source: InputFormat,
    data: bytes,
    kind=INBOUND,  # type: ignore[no-untyped-def]
) -> tuple[list[dict], MappedReader]:
    reader = source.reader(kind)
    assert reader is not None
    batches = read_numbered_records(io.BytesIO(data), kind.fields, records_of=reader.records)
    names = [field.name for field in kind.fields]
    rows = [dict(zip(names, record, strict=True)) for _, batch in batches for record in batch]
    return rows, reader


def sample(name: str) -> bytes:
    return (SWITCH_SAMPLES / name).read_bytes()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_freeswitch_csv_example_template_in_local_time_across_both_dst_changes() -> None:
    rows, _ = read(
        input_format("freeswitch-csv", "Europe/Berlin"), sample("freeswitch-example.csv")
    )
    answered, unanswered, late = rows
    # 29 March 2026: Berlin's clocks go from 02:00 CET to 03:00 CEST; 01:59:30 is UTC+1,
    # 03:00:05 UTC+2: the call rang 35 s, not an hour and 35 s.
    assert answered["time_start"] == at("2026-03-29 00:59:30")
    assert answered["time_connect"] == at("2026-03-29 01:00:05")
    assert answered["time_end"] == at("2026-03-29 01:01:05")
    assert answered["did_number"] == "4930901820"  # the + is not part of a stored number
    assert answered["source"] == "+4915112345678"
    assert answered["source_name"] == "Zoë Müller"
    assert (answered["status"], answered["duration"]) == ("Completed", 60)
    assert answered["call_id"] == "6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
    assert answered["customer_id"] is None  # an empty accountcode
    # 25 October: 02:30 happens twice; the first (CEST, UTC+2) is taken (docs/switches.md).
    assert unanswered["time_start"] == at("2026-10-25 00:30:00")
    assert unanswered["time_connect"] is None  # an unanswered call has no answer_stamp
    assert (unanswered["status"], unanswered["duration"]) == ("No Answer", 0)
    assert unanswered["source_name"] is None
    assert late["source_name"] == 'O\'Brien, "Pat"'  # a quote escaped with a backslash


def test_freeswitch_csv_in_utc_by_default_and_a_sites_template() -> None:
    rows, _ = read(input_format("freeswitch-csv"), sample("freeswitch-example.csv"))
    assert rows[0]["time_start"] == at("2026-03-29 01:59:30")
    template = (
        '"${start_stamp}","${billsec}","${destination_number}","${uuid}","${voice_out_trunk_id}"'
    )
    assert template_columns(template) == (
        "start_stamp", "billsec", "destination_number", "uuid", "voice_out_trunk_id"
    )  # fmt: skip
    site = input_format("freeswitch-csv", template=template)
    line = f'"2026-05-01 10:00:00","42","4930901822","u-1","{TRUNK.upper()}"\n'.encode()
    (inbound,), _ = read(site, line)
    assert (inbound["did_number"], inbound["duration"], inbound["call_id"]) == (
        "4930901822", 42, "u-1",
    )  # fmt: skip
    assert inbound["source"] is None  # the template has no caller_id_number
    (outbound,), _ = read(site, line.replace(b'"4930901822"', b'"+15550100"'), OUTBOUND)
    # A variable named as a cdrex field gives it, normalized as cdrex's own format would.
    assert outbound["voice_out_trunk_id"] == TRUNK
    assert outbound["time_start"] == at("2026-05-01 10:00:00")


def test_a_template_without_what_a_kind_needs_is_refused_before_reading() -> None:
    site = input_format("freeswitch-csv", template='"${start_stamp}","${uuid}"')
    with pytest.raises(BadMapping, match="nothing gives cdr_in did_number"):
        site.reader(INBOUND)
    with pytest.raises(BadMapping, match='one "\\$\\{variable\\}"'):
        template_columns('"${a}","literal","${b}"')
    with pytest.raises(BadMapping, match="names no"):
        template_columns("no variables here")


def test_asterisk_master_csv_with_and_without_uniqueid_in_local_time() -> None:
    rows, _ = read(input_format("asterisk-csv", "Europe/Berlin"), sample("asterisk-master.csv"))
    answered, unanswered, busy = rows
    assert answered["time_start"] == at("2026-03-29 00:59:30")
    assert answered["time_connect"] == at("2026-03-29 01:00:05")
    assert answered["source_name"] == "Zoë Müller"  # from the clid "Zoë Müller" <+49...>
    assert answered["destination"] == "PJSIP/reception-00000002"
    assert (answered["status"], answered["duration"], answered["call_id"]) == (
        "Completed", 60, "1774745970.1",
    )  # fmt: skip
    assert unanswered["time_connect"] is None
    assert unanswered["status"] == "No Answer"
    assert busy["status"] == "Busy"
    assert busy["source_name"] is None
    assert busy["call_id"] == "1792888200.5"  # the line stops at uniqueid: no userfield


def test_asterisk_outbound_takes_the_trunk_from_the_accountcode() -> None:
    line = (
        f'"{TRUNK}","4930901820","0044207946000","customers","""Sales"" <4930901820>",'
        '"PJSIP/pbx-1","PJSIP/carrier-2","Dial","PJSIP/carrier/0044207946000",'
        '"2026-05-01 10:00:00","2026-05-01 10:00:07","2026-05-01 10:03:07",187,180,'
        '"ANSWERED","BILLING","1777629600.9",""\n'
    ).encode()
    (call,), _ = read(input_format("asterisk-csv"), line, OUTBOUND)
    assert (call["voice_out_trunk_id"], call["cli"], call["destination_number"]) == (
        TRUNK, "4930901820", "0044207946000",
    )  # fmt: skip
    assert (call["duration"], call["billing_duration"], call["status"]) == (180, 180, "Completed")


def test_freeswitch_json_a_leg_and_b_leg() -> None:
    data = sample("freeswitch-a-leg.json") + sample("freeswitch-b-leg.json")
    # Two pretty-printed documents one after the other are not one input: send them as
    # JSON Lines (as a file of them) or one per request (as mod_json_cdr does).
    lines = b"".join(
        _one_line(sample(name)) for name in ("freeswitch-a-leg.json", "freeswitch-b-leg.json")
    )
    (call,), reader = read(input_format("freeswitch-json"), lines)
    assert reader.ignored == {"B-leg": 1}  # the switch's leg to the customer: not a call
    assert call["time_start"] == at("2026-03-29 00:59:30.123456")  # microseconds kept
    assert call["time_connect"] == at("2026-03-29 01:00:05.000001")
    assert call["time_end"] == at("2026-03-29 01:01:05.500000")
    # The number as dialled (the first profile, last in callflow), not the extension it
    # was transferred to.
    assert call["did_number"] == "4930901820"
    assert (call["source"], call["source_name"]) == ("+4915112345678", "Zoë Müller")
    assert (call["duration"], call["disconnect_code"], call["status"]) == (60, 200, "Completed")
    assert call["customer_id"] == "cust 042"  # url-decoded, as mod_json_cdr encodes it
    assert call["call_id"] == "3c9a0e1f-2b3c-4d5e-8f6a-7b8c9d0e1f2a"
    (alone,), _ = read(input_format("freeswitch-json"), sample("freeswitch-a-leg.json"))
    assert alone == call  # one pretty-printed document reads the same
    with pytest.raises(BadCdrFile, match="not valid JSON"):
        read(input_format("freeswitch-json"), data)


def test_freeswitch_json_with_a_trunk_is_outbound_and_unanswered_has_no_connect() -> None:
    document = _document()
    document["variables"] |= {"voice_out_trunk_id": TRUNK, "answer_uepoch": "0", "billsec": "0"}
    document["variables"]["hangup_cause"] = "USER_BUSY"
    line = _json_line(document)
    rows, reader = read(input_format("freeswitch-json"), line)
    assert rows == [] and reader.ignored == {"cdr_out record": 1}  # not an inbound call
    (call,), _ = read(input_format("freeswitch-json"), line, OUTBOUND)
    assert call["voice_out_trunk_id"] == TRUNK
    assert call["destination_number"] == "+4930901820"
    assert call["time_connect"] is None  # answer_uepoch 0: never answered
    assert (call["status"], call["disconnect_reason"], call["duration"]) == (
        "Busy", "USER_BUSY", 0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start_uepoch": "soon"}, "line 1: time_start (from variables.start_uepoch or"),
        ({"billsec": "-3"}, "duration (from variables.billsec): must be at least 0"),
        ({"billsec": {"a": 1}}, "duration (from variables.billsec): is a JSON object"),
        # source_name, not source (whose name is the start of it)
        (
            {"caller_id_name": "a\x00b"},
            "source_name (from callflow.-1.caller_profile.caller_id_name)",
        ),
    ],
)
def test_a_bad_value_names_the_field_and_where_it_was_read(change: dict, message: str) -> None:
    document = _document()
    if "caller_id_name" in change:
        document["callflow"][-1]["caller_profile"] |= change
    else:
        document["variables"] |= change
    with pytest.raises(BadCdrFile) as raised:
        read(input_format("freeswitch-json"), _json_line(document))
    assert message in str(raised.value)


def test_a_time_in_the_hour_clocks_skip_is_refused() -> None:
    line = b'"","1","4930901820","p","2026-03-29 02:30:00","","2026-03-29 03:00:10","1","0",' + (
        b'"NO_ANSWER","u","","","PCMA","PCMA"\n'
    )
    with pytest.raises(BadCdrFile, match="does not exist in Europe/Berlin"):
        read(input_format("freeswitch-csv", "Europe/Berlin"), line)


def test_a_sites_own_mapping_file(tmp_path: Path) -> None:
    mapping = tmp_path / "pbx.toml"
    mapping.write_text(
        """
[source]
format = "csv"
header = true
time_format = "%d/%m/%Y %H:%M"
timezone = "America/New_York"

[cdr_in]
time_start = "Started"
did_number = { from = "Called", take = "digits" }
source = "Caller"
duration = "Seconds"
status = { value = "Completed" }
"""
    )
    source = input_format("mapping", mapping_file=mapping)
    data = "Caller,Called,Started,Seconds\n+1 555 0100,+1 (212) 555-0199,01/07/2026 09:15,33\n"
    (call,), _ = read(source, data.encode())
    assert call["time_start"] == at("2026-07-01 13:15:00")  # EDT, UTC-4
    assert (call["did_number"], call["duration"], call["status"]) == (
        "12125550199",
        33,
        "Completed",
    )
    with pytest.raises(BadMapping, match="has no cdr_out records"):
        source.reader(OUTBOUND)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[source]\nformat = 'xml'\n[cdr_in]\n", 'format must be "csv" or "json"'),
        ("[source]\nformat = 'csv'\n[cdr_in]\n", "a CSV without a header needs its columns"),
        ("[source]\nformat = 'json'\n", "maps no record kind"),
        ("[source]\nformat = 'json'\n[cdr_in]\nfoo = 'a'\n", "'foo' is not a field"),
        ("[source]\nformat='json'\ntimezone='Mars/Olympus'\n[cdr_in]\n", "unknown time zone"),
        ("[source]\nformat = 'json'\n[cdr_in]\nsource = {from='a', take='x'}\n", "take must be"),
        ("[source]\nformat = 'json'\n[cdr_in]\nsource = {from='a', time='%H'}\n", "time is for"),
        ("[source]\nformat = 'json'\n[cdr_in]\ntime_start = {from='a', time='x'}\n", "strptime"),
        ("[source]\nformat = 'json'\n[cdr_in]\n[cdr_x]\n", "unknown table [cdr_x]"),
        ("[source]\nformat = 'json'\n[cdr_in]\nsource = 3\n", "give a source name"),
        ("[source\n", "not valid TOML"),
    ],
)
def test_a_bad_mapping_file_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    mapping = tmp_path / "bad.toml"
    mapping.write_text(text)
    with pytest.raises(BadMapping, match=message.replace("[", r"\[").replace("(", r"\(")):
        input_format("mapping", mapping_file=mapping)


def test_options_that_do_not_fit_the_format_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadMapping, match="--timezone is not for it"):
        input_format("cdrex", timezone="Europe/Berlin")
    with pytest.raises(BadMapping, match="--template goes with"):
        input_format("asterisk-csv", template='"${uuid}"')
    with pytest.raises(BadMapping, match="--mapping FILE goes with"):
        input_format("mapping")
    with pytest.raises(BadMapping, match="unknown time zone"):
        input_format("asterisk-csv", timezone="Berlin")
    with pytest.raises(BadMapping, match="cannot be read"):
        input_format("mapping", mapping_file=tmp_path / "missing.toml")


def _document() -> dict:
    return orjson.loads(sample("freeswitch-a-leg.json"))


def _json_line(document: dict) -> bytes:
    return orjson.dumps(document) + b"\n"


def _one_line(data: bytes) -> bytes:
    return _json_line(orjson.loads(data))


def test_the_mapping_file_of_the_docs_is_one_cdrex_reads(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "switches.md").read_text()
    example = docs.split("```toml\n", 1)[1].split("```", 1)[0]
    mapping = tmp_path / "pbx.toml"
    mapping.write_text(example)
    source = input_format("mapping", mapping_file=mapping)
    data = "Caller,ANI,Called,Started,Seconds,Result,AnsweredAt\n,+1555,+12125550199,"
    data += "01/12/2026 09:15,33,BUSY,1796134500\n"
    (call,), _ = read(source, data.encode())
    assert call["time_start"] == at("2026-12-01 14:15:00")  # EST, UTC-5
    assert (call["source"], call["status"], call["customer_id"]) == ("+1555", "Failed", "pbx-7")
    assert call["time_connect"] == at("2026-12-01 14:15:00")
