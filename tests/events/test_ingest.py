from __future__ import annotations

import json
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import pairwise
from pathlib import Path
from unittest.mock import patch
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qunyun.analytics.group_daily import group_daily_rows
from qunyun.analytics.lake import open_lake
from qunyun.core.errors import Conflict, InvalidInput
from qunyun.events import actions, id_index
from qunyun.events import lake as lake_module
from qunyun.events.actions import (
    EventsRejected,
    do_compact_events,
    do_import_events,
    do_ingest_events,
    do_rebuild_rollups,
    tenant_lake,
)
from qunyun.events.lake import id_hashes
from qunyun.events.readers import open_event_file
from qunyun.events.schema import KIND_COUNTS
from qunyun.org.models import Tenant

from ..conftest import Cli


def _tenant(slug: str = "acme", created: datetime | None = None) -> Tenant:
    return Tenant(
        slug=slug,
        name="示例饮料",
        timezone="Asia/Shanghai",
        created_at=created or datetime(2026, 1, 1, tzinfo=UTC),
    )


def _event(
    event_id: str, ts: str | int, kind: str = "message", **extra: object
) -> dict[str, object]:
    return {
        "event_id": event_id,
        "ts": ts,
        "kind": kind,
        "group_id": "SG0001",
        "member_kind": "store",
        "member_id": "S1",
        **extra,
    }


def _lake_events(tenant: Tenant, root: Path) -> list[tuple[str, str, str]]:
    """Return (event_id, local day, member_id) of every event in the lake, by id."""
    tables = open_lake(tenant_lake(tenant, root))
    rows = tables.events.select("event_id", "day", "member_id").to_pyarrow().to_pylist()
    return sorted((row["event_id"], row["day"].isoformat(), row["member_id"]) for row in rows)


def _shanghai_day(event: dict[str, object]) -> str:
    """Return the Asia/Shanghai date (YYYY-MM-DD) of an event whose ``ts`` is epoch ms."""
    moment = datetime.fromtimestamp(int(str(event["ts"])) / 1000, UTC)
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()


def _published_files(root: Path) -> int:
    """Return how many data files (Parquet, id and key indexes) the tenant folder holds, retired ones left out."""
    folder = root / "tenant=acme"
    return sum(
        1
        for path in folder.rglob("*")
        if path.suffix in (".parquet", ".npy", ".arrow") and ".retired" not in path.parts
    )


def _ingest_in_pieces(
    tenant: Tenant, events: list[dict[str, object]], cuts: list[int], root: Path
) -> None:
    """Ingest ``events`` in calls that end at the ``cuts`` (positions; larger ones ignored)."""
    bounds = [0, *sorted(cut for cut in cuts if cut < len(events)), len(events)]
    for start, end in pairwise(bounds):
        do_ingest_events(tenant, events[start:end], skip_invalid=False, root=root)


def _write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text(
        "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records),
        encoding="utf-8",
    )
    return path


def test_in_memory_batch_accepts_dedupes_and_rejects_by_index(tmp_path: Path) -> None:
    # given
    tenant = _tenant()
    records: list[object] = [
        _event("e1", "2026-11-23T15:59:59Z"),
        _event("e2", 1763913600000, "join", scene="qr", inviter_kind="store", inviter_id="S9"),
        _event("e1", "2026-11-23T16:00:00Z", member_id="S2"),
        _event("e3", "2026-11-23 25:00"),
        _event("", "2026-11-23T10:00:00+08:00", "dance"),
        _event("e4", "2026-11-23T10:00:00"),
        "not a record",
    ]

    # when
    result = do_ingest_events(tenant, records, root=tmp_path)

    # then
    assert (result.accepted, result.duplicates) == (2, 1)
    assert result.rejected == [
        (3, "ts：无法解析的时间 '2026-11-23 25:00'（应为带时区的 ISO 8601，或 epoch 毫秒）"),
        (
            4,
            "event_id：不能为空；kind：未知的值 'dance'（可选：message、join、leave、"
            "red_packet_send、red_packet_grab、order、referral、content_view、content_share）",
        ),
        (5, "ts：无法解析的时间 '2026-11-23T10:00:00'（应为带时区的 ISO 8601，或 epoch 毫秒）"),
        (6, '不是一个 JSON 对象（应为 {"event_id": …}）'),
    ]
    assert _lake_events(tenant, tmp_path) == [
        ("e1", "2026-11-23", "S1"),
        ("e2", "2025-11-24", "S1"),
    ]
    assert (result.new_members, result.new_groups) == (2, 1)


def test_same_id_twice_is_one_event_across_calls_and_files(tmp_path: Path) -> None:
    # given
    tenant = _tenant()
    do_ingest_events(tenant, [_event("e1", "2026-11-23T01:00:00+08:00")], root=tmp_path)
    file = _write_jsonl(
        tmp_path / "again.jsonl",
        [_event("e1", "2026-11-20T01:00:00+08:00", member_id="S2"), _event("e2", 1763913600000)],
    )

    # when
    report = do_import_events(tenant, file, root=tmp_path)
    again = do_import_events(tenant, file, root=tmp_path)

    # then
    assert (report.accepted, report.duplicates, report.rejected) == (1, 1, [])
    assert (again.accepted, again.duplicates) == (0, 2)
    assert _lake_events(tenant, tmp_path) == [
        ("e1", "2026-11-23", "S1"),
        ("e2", "2025-11-24", "S1"),
    ]
    assert tenant_lake(tenant, tmp_path).manifest().event_count == 2


def test_kind_specific_fields_and_integers_are_checked(tmp_path: Path) -> None:
    records = [
        _event("o1", 1763913600000, "order", amount_fen="12.5"),
        _event("r1", 1763913600000, "referral", inviter_kind="boss"),
        _event("m1", 1763913600000, msg_type="sticker", length=-3),
        _event("g1", 1763913600000, "red_packet_grab", red_packet_id="RP1", amount_fen=88),
    ]

    result = do_ingest_events(_tenant(), records, root=tmp_path)

    assert result.accepted == 1
    assert result.rejected == [
        (0, "order_id：order 事件必须有；amount_fen：应为非负整数"),
        (
            1,
            "inviter_kind：未知的值 'boss'（可选：store、distributor、consumer、staff）；"
            "inviter_id：referral 事件必须有",
        ),
        (
            2,
            "msg_type：未知的值 'sticker'（可选：text、image、video、voice、link、file、"
            "miniprogram、red_packet）；length：应为非负整数",
        ),
    ]


def test_cells_are_trimmed_and_blank_ones_count_as_empty(tmp_path: Path) -> None:
    # given: ids with spaces, tabs and an ideographic space around them, blank cells, and
    # ids longer than the limit in characters and in bytes only
    tenant = _tenant()
    records = [
        _event(" e1\t", 1763913600000, group_id="\u3000SG0002 ", member_id="S1 "),
        _event("e2", 1763913600000, " join", group_id="   ", member_kind=" store"),
        _event("   ", 1763913600000),
        _event("e3", 1763913600000, member_id="\n"),
        _event("x" * 129, 1763913600000),
        _event("事" * 128, 1763913600000),
        _event("e4", 1763913600000, member_id=" " + "事" * 129),
    ]

    # when
    result = do_ingest_events(tenant, records, root=tmp_path)

    # then
    assert result.rejected == [
        (2, "event_id：不能为空"),
        (3, "member_id：不能为空"),
        (4, "event_id：超过 128 个字符"),
        (6, "member_id：超过 128 个字符"),
    ]
    rows = (
        open_lake(tenant_lake(tenant, tmp_path))
        .events.select("event_id", "kind", "group_id", "member_kind", "member_id")
        .to_pyarrow()
        .to_pylist()
    )
    assert sorted(tuple(row.values()) for row in rows) == [
        ("e1", "message", "SG0002", "store", "S1"),
        ("e2", "join", None, "store", "S1"),
        ("事" * 128, "message", "SG0001", "store", "S1"),
    ]


def test_epoch_seconds_are_refused_as_out_of_range(tmp_path: Path) -> None:
    result = do_ingest_events(_tenant(), [_event("e1", 1763913600)], root=tmp_path)

    assert result.rejected == [(0, "ts：时间 '1763913600' 不在 2000–2099 年之间（秒当成了毫秒？）")]


def test_all_or_nothing_batch_writes_nothing_when_one_record_is_bad(tmp_path: Path) -> None:
    tenant = _tenant()

    with pytest.raises(EventsRejected) as raised:
        do_ingest_events(
            tenant,
            [_event("e1", 1763913600000), _event("e2", "x")],
            skip_invalid=False,
            root=tmp_path,
        )

    assert raised.value.message == "1 条事件无效，未写入任何事件（共 2 条）"
    assert tenant_lake(tenant, tmp_path).manifest().event_count == 0
    assert _published_files(tmp_path) == 0


def test_late_events_land_in_their_day_and_compaction_keeps_every_event(tmp_path: Path) -> None:
    # given: eight imports of one event each for one day, then a late one for an older day
    tenant = _tenant()
    for number in range(7):
        do_ingest_events(
            tenant, [_event(f"d{number}", f"2026-11-23T0{number}:00:00+08:00")], root=tmp_path
        )
    before = tenant_lake(tenant, tmp_path).manifest()

    # when
    do_ingest_events(tenant, [_event("d7", "2026-11-23T23:59:59+08:00")], root=tmp_path)
    do_ingest_events(tenant, [_event("late", "2026-11-01T00:00:00+08:00")], root=tmp_path)
    after = tenant_lake(tenant, tmp_path).manifest()

    # then: the eighth file of the day triggered compaction into one
    assert len(before.events["2026-11-23"]) == 7
    assert len(after.events["2026-11-23"]) == 1
    assert len(after.events["2026-11-01"]) == 1
    events = _lake_events(tenant, tmp_path)
    assert [event_id for event_id, _, _ in events] == [*(f"d{n}" for n in range(8)), "late"]
    assert ("late", "2026-11-01", "S1") in events
    assert sorted(p.name for p in (tmp_path / "tenant=acme" / "events").iterdir()) == [
        "day=2026-11-01",
        "day=2026-11-23",
    ]
    assert len(list((tmp_path / "tenant=acme" / "events" / "day=2026-11-23").iterdir())) == 1


def test_event_files_are_zstd_as_imported_and_as_compacted(tmp_path: Path) -> None:
    # given: eight imports for one day (the eighth compacts the day) and one for another day
    tenant = _tenant()
    for number in range(8):
        do_ingest_events(
            tenant, [_event(f"d{number}", f"2026-11-23T0{number}:00:00+08:00")], root=tmp_path
        )
    do_ingest_events(tenant, [_event("late", "2026-11-01T00:00:00+08:00")], root=tmp_path)
    lake = tenant_lake(tenant, tmp_path)

    # when
    files = lake.event_files(lake.manifest())
    codecs = {
        metadata.row_group(group).column(column).compression
        for metadata in (pq.ParquetFile(path).metadata for path in files)
        for group in range(metadata.num_row_groups)
        for column in range(metadata.num_columns)
    }

    # then
    assert len(files) == 2
    assert codecs == {"ZSTD"}


def test_compact_command_merges_days_ids_and_dictionaries(tmp_path: Path) -> None:
    tenant = _tenant()
    for number in range(3):
        do_ingest_events(
            tenant,
            [_event(f"e{number}", "2026-11-23T12:00:00+08:00", member_id=f"S{number}")],
            root=tmp_path,
        )

    removed = do_compact_events(tenant, root=tmp_path)
    again = do_compact_events(tenant, root=tmp_path)

    manifest = tenant_lake(tenant, tmp_path).manifest()
    assert removed == 2 + 2  # the day's files, members' files (imports merged the id runs)
    assert again == 0
    assert len(manifest.events["2026-11-23"]) == 1
    assert len(manifest.members) == 1
    assert manifest.id_runs == [
        {
            "file": manifest.id_runs[0]["file"],
            "count": 3,
            "directory": manifest.id_runs[0]["directory"],
        }
    ]
    assert [event_id for event_id, _, _ in _lake_events(tenant, tmp_path)] == ["e0", "e1", "e2"]
    assert _published_files(tmp_path) == len(manifest.files())


def test_a_failed_write_leaves_nothing_published_and_the_next_write_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    tenant = _tenant()
    do_ingest_events(tenant, [_event("e1", 1763913600000)], root=tmp_path)
    original = lake_module.LakeWriter.commit

    def broken(self: lake_module.LakeWriter) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(lake_module.LakeWriter, "commit", broken)

    # when
    with pytest.raises(OSError, match="disk full"):
        do_ingest_events(tenant, [_event("e2", 1763913600000, member_id="S2")], root=tmp_path)
    monkeypatch.setattr(lake_module.LakeWriter, "commit", original)

    # then
    manifest = tenant_lake(tenant, tmp_path).manifest()
    assert manifest.event_count == 1
    assert _published_files(tmp_path) == len(manifest.files())
    assert do_ingest_events(tenant, [_event("e2", 1763913600000)], root=tmp_path).accepted == 1


def test_a_second_writer_is_refused_while_one_holds_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = _tenant()
    monkeypatch.setattr(lake_module, "LOCK_WAIT_SECONDS", 0.2)

    with tenant_lake(tenant, tmp_path).writing(), pytest.raises(Conflict) as raised:
        do_ingest_events(tenant, [_event("e1", 1763913600000)], root=tmp_path)

    assert raised.value.message == "租户 acme 的事件库正被另一个进程写入，请稍后再试"


def test_a_new_tenant_with_a_deleted_tenants_slug_starts_with_an_empty_lake(tmp_path: Path) -> None:
    old = _tenant(created=datetime(2026, 1, 1, tzinfo=UTC))
    new = _tenant(created=datetime(2026, 6, 1, tzinfo=UTC))
    do_ingest_events(old, [_event("e1", 1763913600000)], root=tmp_path)

    first = tenant_lake(new, tmp_path).manifest()
    result = do_ingest_events(new, [_event("e1", 1763913600000)], root=tmp_path)

    assert first.event_count == 0
    assert result.accepted == 1
    assert len(list((tmp_path / ".deleted").iterdir())) == 1


def test_parquet_with_typed_columns_imports(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": ["p1", "p2"],
                "ts": pa.array([1763913600000, 1763913600000], pa.int64()).cast(
                    pa.timestamp("ms", tz="UTC")
                ),
                "kind": ["order", "message"],
                "member_kind": ["consumer", "staff"],
                "member_id": ["C1", "R1"],
                "order_id": ["O1", None],
                "amount_fen": pa.array([1999, None], pa.int64()),
                "extra": [1, 2],
            }
        ),
        path,
    )

    report = do_import_events(_tenant(), path, root=tmp_path)

    assert (report.rows, report.accepted, report.ignored_columns) == (2, 2, ["extra"])


# --- the command ---------------------------------------------------------------------------


def _home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_events_import_command_prints_a_chinese_summary(cli: Cli, tmp_path: Path) -> None:
    cli("tenant", "create", "acme", "--name", "示例饮料")
    file = _write_jsonl(
        tmp_path / "events.jsonl",
        [
            _event("e1", "2026-11-23T23:30:00+08:00"),
            _event("e2", "2026-11-23T16:30:00Z", "join", member_kind="consumer", member_id="C1"),
            _event("e1", "2026-11-23T23:30:00+08:00"),
        ],
    )

    result = cli("events", "import", file, "--tenant", "acme")

    assert result.output == (
        "事件 events.jsonl（JSON Lines）：读取 3 行 · 新增 2 · 重复 1 · 拒绝 0 · "
        "新成员 2 · 新群 1 · 涉及日期 2026-11-23 至 2026-11-24\n"
    )
    assert (_home(tmp_path) / "lake" / "tenant=acme" / "manifest.json").exists()


def test_events_import_with_bad_rows_exits_1_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    cli("tenant", "create", "acme", "--name", "示例饮料")
    file = tmp_path / "events.csv"
    file.write_text(
        "event_id,ts,kind,group_id,member_kind,member_id,note\n"
        "e1,2026-11-23T10:00:00+08:00,message,SG1,store,S1,x\n"
        "e2,yesterday,message,SG1,store,S1,y\n"
        ",1763913600000,join,SG1,consumer,C1,z\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"

    refused = cli("events", "import", file, "--rejects", rejects, expect=1)
    skipped = cli("events", "import", file, "--skip-invalid", "--rejects", rejects)

    assert "错误：events.csv：2 行有错误，未写入任何事件（共 3 行）" in refused.stderr
    assert "ts：无法解析的时间 'yesterday'" in refused.stderr
    assert f"全部 2 行错误已写入 {rejects}" in refused.stderr
    assert skipped.output.startswith(
        "注意：忽略了未知列 note\n事件 events.csv（CSV（utf-8））：读取 3 行 · 新增 1 · 重复 0 · 拒绝 2 · "
    )
    lines = rejects.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == (
        "row,event_id,ts,kind,group_id,member_kind,member_id,msg_type,reply_to,scene,"
        "inviter_kind,inviter_id,red_packet_id,order_id,content_id,length,amount_fen,errors"
    )
    assert lines[1:] == [
        "3,e2,yesterday,message,SG1,store,S1,,,,,,,,,,,"
        "ts：无法解析的时间 'yesterday'（应为带时区的 ISO 8601，或 epoch 毫秒）",
        "4,,1763913600000,join,SG1,consumer,C1,,,,,,,,,,,event_id：不能为空",
    ]


def test_events_import_refuses_a_file_without_required_columns(cli: Cli, tmp_path: Path) -> None:
    cli("tenant", "create", "acme", "--name", "示例饮料")
    file = tmp_path / "events.csv"
    file.write_text("event_id,kind\ne1,message\n", encoding="utf-8")

    result = cli("events", "import", file, expect=1)
    other = cli("events", "import", tmp_path / "events.xlsx", expect=1)

    assert result.stderr == (
        "错误：events.csv 缺少必需的列：ts、member_kind、member_id"
        "（表头应为字段名，如 event_id,ts,kind,…）\n"
    )
    assert other.stderr == f"错误：文件不存在：{tmp_path / 'events.xlsx'}\n"


def test_events_compact_command(cli: Cli, tmp_path: Path) -> None:
    cli("tenant", "create", "acme", "--name", "示例饮料")
    for number in range(2):
        file = _write_jsonl(tmp_path / f"e{number}.jsonl", [_event(f"e{number}", 1763913600000)])
        cli("events", "import", file)

    first = cli("events", "compact")
    second = cli("events", "compact")

    assert first.output.startswith("已合并事件库：减少 ")
    assert second.output == "事件库无需合并。\n"


def test_id_hashes_never_change_and_spread_evenly() -> None:
    # the id index stores these hashes: a change would make old ids invisible
    assert [
        hex(value)
        for value in id_hashes(
            pa.array(["e1", "E0000000001", "a-much-longer-event-id-0001", "事件-1", ""])
        ).tolist()
    ] == [
        "0x438c5aa2496b5b56",
        "0xa6cbf9d3678bfcc5",
        "0x27320daceb73c5a0",
        "0x2dd603e2229e173c",
        "0xb9034ad37056f5fb",
    ]
    hashes = id_hashes(pa.array([f"E{n}" for n in range(64_000)]))
    counts = np.bincount((hashes >> np.uint64(58)).astype(np.int64), minlength=64)
    assert len(np.unique(hashes)) == 64_000
    assert counts.min() > 900
    assert counts.max() < 1100


def _plain_id_hash(event_id: str) -> int:
    """FNV-1a over the UTF-8 bytes and the length, then the MurmurHash3 finaliser, in Python."""
    mask = (1 << 64) - 1
    hashed = 14695981039346656037
    data = event_id.encode()
    for byte in data:
        hashed = ((hashed ^ byte) * 1099511628211) & mask
    hashed = ((hashed ^ len(data)) * 1099511628211) & mask
    for multiplier in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        hashed = ((hashed ^ (hashed >> 33)) * multiplier) & mask
    return hashed ^ (hashed >> 33)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=30), st.integers(0, 5))
def test_id_hashes_equal_a_plain_implementation(ids: list[str], skip: int) -> None:
    # ids of mixed lengths, multi-byte characters, empty ones, in a sliced array
    values = pa.array(["pad"] * skip + ids).slice(skip)

    assert id_hashes(values).tolist() == [_plain_id_hash(value) for value in ids]
    assert id_hashes(values.cast(pa.large_string())).tolist() == id_hashes(values).tolist()


def test_csv_rows_keep_spreadsheet_numbers_through_line_breaks_and_bad_widths(
    tmp_path: Path,
) -> None:
    # given: a cell with a line break (one row, two lines), a blank line, a short row
    file = tmp_path / "events.csv"
    file.write_text(
        "event_id,ts,kind,member_kind,member_id,reply_to\n"
        'e1,1763913600000,message,store,S1,"two\nlines"\n'
        "\n"
        "e2,1763913600000\n"
        "e3,never,message,store,S1,\n",
        encoding="utf-8",
    )

    # when
    report = do_import_events(_tenant(), file, skip_invalid=True, root=tmp_path)

    # then
    assert report.accepted == 1
    assert report.rejected == [
        (4, "列数不对：表头 6 列，此行 2 列"),
        (5, "ts：无法解析的时间 'never'（应为带时区的 ISO 8601，或 epoch 毫秒）"),
    ]


def test_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 4)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    json_lines = _write_jsonl(tmp_path / "odd.jsonl", [[1, 2]])
    with json_lines.open("a", encoding="utf-8") as handle:
        handle.write('{"event_id": "x"\n')

    with pytest.raises(InvalidInput) as not_csv:
        do_import_events(_tenant(), garbage, root=tmp_path)
    with pytest.raises(InvalidInput) as not_parquet:
        do_import_events(_tenant(), broken, root=tmp_path)
    with pytest.raises(EventsRejected) as not_json:
        do_import_events(_tenant(), json_lines, root=tmp_path)

    assert not_csv.value.message.startswith("garbage.csv 第 1 行不是 CSV 表头")
    assert not_parquet.value.message.startswith("无法读取 Parquet 文件 broken.parquet：")
    assert [row for row, _ in not_json.value.result.rejected] == [1, 2]
    assert not_json.value.result.rejected[1][1].startswith("不是合法的 JSON：")


def test_an_import_refreshes_only_the_days_it_touches_and_a_rebuild_changes_nothing(
    tmp_path: Path,
) -> None:
    # given
    tenant = _tenant()
    do_ingest_events(tenant, [_event("a", "2026-11-21T10:00:00+08:00")], root=tmp_path)
    do_ingest_events(tenant, [_event("b", "2026-11-22T10:00:00+08:00")], root=tmp_path)
    before = tenant_lake(tenant, tmp_path).manifest()

    # when: a new day arrives, then everything is rebuilt
    do_ingest_events(tenant, [_event("c", "2026-11-23T10:00:00+08:00")], root=tmp_path)
    after = tenant_lake(tenant, tmp_path).manifest()
    daily = list(group_daily_rows(open_lake(tenant_lake(tenant, tmp_path))))
    rebuilt_days = do_rebuild_rollups(tenant, root=tmp_path)

    # then
    assert {day: after.member_daily[day] for day in before.member_daily} == before.member_daily
    assert {day: after.group_daily[day] for day in before.group_daily} == before.group_daily
    assert sorted(after.group_daily) == ["2026-11-21", "2026-11-22", "2026-11-23"]
    assert rebuilt_days == 3
    assert list(group_daily_rows(open_lake(tenant_lake(tenant, tmp_path)))) == daily
    assert daily[-1] == ("2026-11-23", "SG0001", 1, 1, 0, 1, 0, 0)


def test_json_numbers_read_as_a_csv_would_hold_them(tmp_path: Path) -> None:
    records = [
        _event(1001, 1763913600000.0, "order", order_id=42, amount_fen=1999.0),  # type: ignore[arg-type]
        _event("e2", 1763913600000, length=1.5),
        _event("e3", 1763913600000, length=True),
    ]

    result = do_ingest_events(_tenant(), records, root=tmp_path)

    assert result.accepted == 1
    assert result.rejected == [(1, "length：应为非负整数"), (2, "length：应为非负整数")]
    assert _lake_events(_tenant(), tmp_path) == [("1001", "2025-11-24", "S1")]


def test_replaced_files_stay_readable_for_a_while_then_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: two files of one day, merged by compaction
    tenant = _tenant()
    for number in range(2):
        do_ingest_events(tenant, [_event(f"e{number}", 1763913600000)], root=tmp_path)
    old_files = tenant_lake(tenant, tmp_path).event_files(tenant_lake(tenant, tmp_path).manifest())

    # when
    do_compact_events(tenant, root=tmp_path)
    retired = sorted((tmp_path / "tenant=acme" / ".retired").iterdir())
    monkeypatch.setattr(lake_module, "RETIRED_SECONDS", -1)
    do_ingest_events(tenant, [_event("e9", 1763913600000)], root=tmp_path)

    # then: the merged files were kept aside until the next write after the retention time
    assert len(old_files) == 2
    assert not any(path.exists() for path in old_files)
    assert len(retired) >= 2
    assert not any(path.exists() for path in retired)


def test_gbk_csv_from_excel_with_tabs_imports(tmp_path: Path) -> None:
    file = tmp_path / "事件.csv"
    file.write_bytes(
        "event_id\tts\tkind\tgroup_id\tmember_kind\tmember_id\n"
        "e1\t2026-11-23T10:00:00+08:00\tmessage\t广州群1\tconsumer\t刘宝妈\n".encode("gbk")
    )

    report = do_import_events(_tenant(), file, root=tmp_path)

    assert (report.format, report.accepted) == ("CSV（gb18030）", 1)
    assert _lake_events(_tenant(), tmp_path) == [("e1", "2026-11-23", "刘宝妈")]


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 5), st.integers(-2_000, 2_000)),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.integers(1, 39), max_size=3),
)
def test_the_lake_holds_the_first_event_of_each_id_however_the_batches_fall(
    draws: list[tuple[int, int, int]], cuts: list[int]
) -> None:
    # given: events with repeating ids, split into calls at random places
    events = [
        _event(f"e{number}", 1763913600000 + minutes * 60_000, member_id=f"S{member}")
        for number, member, minutes in draws
    ]
    tenant = _tenant()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)

        # when
        _ingest_in_pieces(tenant, events, cuts, root)
        stored = _lake_events(tenant, root)

    # then
    first: dict[str, dict[str, object]] = {}
    for event in events:
        first.setdefault(str(event["event_id"]), event)
    expected = sorted(
        (
            event_id,
            _shanghai_day(event),
            str(event["member_id"]),
        )
        for event_id, event in first.items()
    )
    assert stored == expected


def test_a_second_writer_waits_for_the_first_to_finish(tmp_path: Path) -> None:
    # given: another writer holds the lock for 0.3 s
    tenant = _tenant()
    acquired = threading.Event()

    def hold_the_lock() -> None:
        with tenant_lake(tenant, tmp_path).writing():
            acquired.set()
            time.sleep(0.3)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    acquired.wait(5)
    started = time.monotonic()

    # when
    result = do_ingest_events(tenant, [_event("e1", 1763913600000)], root=tmp_path)
    holder.join()

    # then
    assert result.accepted == 1
    assert time.monotonic() - started >= 0.2


def test_a_lake_with_ids_by_bucket_is_indexed_on_its_next_write(tmp_path: Path) -> None:
    # given: a lake as written before the id index, its ids in a bucket file
    tenant = _tenant()
    do_ingest_events(
        tenant, [_event("e1", 1763913600000), _event("e2", 1763913600000)], root=tmp_path
    )
    folder = tmp_path / "tenant=acme"
    stored = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for run in stored.pop("id_runs"):
        (folder / run["file"]).unlink()
        (folder / run["directory"]).unlink()
    (folder / "ids" / "bucket=07").mkdir(parents=True)
    pq.write_table(pa.table({"event_id": ["e1", "e2"]}), folder / "ids/bucket=07/part-old.parquet")
    stored["ids"] = {"07": ["ids/bucket=07/part-old.parquet"]}
    (folder / "manifest.json").write_text(json.dumps(stored), encoding="utf-8")

    # when
    result = do_ingest_events(
        tenant, [_event("e1", 1763913600000), _event("e3", 1763913600000)], root=tmp_path
    )

    # then
    manifest = tenant_lake(tenant, tmp_path).manifest()
    assert (result.accepted, result.duplicates) == (1, 1)
    assert manifest.ids == {}
    assert [run["count"] for run in manifest.id_runs] == [3]
    assert _published_files(tmp_path) == len(manifest.files())
    assert [event_id for event_id, _, _ in _lake_events(tenant, tmp_path)] == ["e1", "e2", "e3"]


@settings(max_examples=60, deadline=None)
@example(  # a late message must not move a customer's last day back
    [(0, "message", "G1", "store", 1), (5, "message", "G1", "store", 1)], [1]
)
@example(  # a new message moves a customer's last day on
    [(5, "message", "G1", "store", 1), (0, "message", "G1", "store", 1)], [1]
)
@example(  # a new last day drops the customers last seen before the window
    [
        (30, "message", "G1", "store", 1),
        (10, "message", "G2", "store", 2),
        (0, "join", "G2", "store", 3),
    ],
    [2],
)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 45),
            st.sampled_from(["message", "message", "join"]),
            st.sampled_from(["G1", "G2", ""]),
            st.sampled_from(["store", "staff"]),
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.integers(1, 39), max_size=3),
)
def test_recent_customers_hold_each_customers_last_message_day_of_the_window(
    draws: list[tuple[int, str, str, str, int]], cuts: list[int]
) -> None:
    # given: events over 46 days in several imports, late ones among them
    noon = datetime(2026, 11, 23, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    events = [
        _event(
            f"e{number}",
            int((noon.timestamp() - days_back * 86400) * 1000),
            kind,
            group_id=group,
            member_kind=member_kind,
            member_id=f"M{member}",
        )
        for number, (days_back, kind, group, member_kind, member) in enumerate(draws)
    ]
    tenant = _tenant()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)

        # when
        _ingest_in_pieces(tenant, events, cuts, root)
        tables = open_lake(tenant_lake(tenant, root))
        recent = tables.recent_customers
        named = recent.join(tables.groups, "group_key").join(tables.members, "member_key")
        stored = {
            (row["group_id"], row["member_id"]): row["last_day"]
            for row in named.to_pyarrow().to_pylist()
        }
        last_day = tables.manifest.recent_customers["day"]

    # then
    latest = min(days_back for days_back, *_ in draws)
    expected: dict[tuple[str, str], object] = {}
    for days_back, kind, group, member_kind, member in draws:
        if kind == "message" and group and member_kind != "staff" and days_back - latest < 28:
            day = (noon - timedelta(days=days_back)).date()
            key = (group, f"M{member}")
            expected[key] = max(expected.get(key, day), day)  # type: ignore[type-var]
    assert last_day == (noon - timedelta(days=latest)).date().isoformat()
    assert stored == expected


def test_id_runs_stop_growing_at_their_cap_and_still_find_every_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: runs capped at two ids, five imports of one event each
    monkeypatch.setattr(id_index, "MAX_RUN_IDS", 2)
    tenant = _tenant()
    events = [_event(f"e{number}", 1763913600000 + number) for number in range(5)]
    for event in events:
        do_ingest_events(tenant, [event], root=tmp_path)

    # when
    again = do_ingest_events(tenant, events, root=tmp_path)
    do_compact_events(tenant, root=tmp_path)

    # then
    runs = tenant_lake(tenant, tmp_path).manifest().id_runs
    assert (again.accepted, again.duplicates) == (0, 5)
    assert [run["count"] for run in runs] == [2, 2, 1]
    # merged runs are deleted at once: only writers read them; what waits in .retired are
    # the four replaced recent-customers arrays (2 rows) and health figures (7 rows)
    retired = [np.load(path) for path in (tmp_path / "tenant=acme" / ".retired").glob("*.npy")]
    assert (
        sorted((array.dtype.name, array.shape[0]) for array in retired)
        == [("int64", 2)] * 4 + [("int64", 7)] * 4
    )
    assert len(list((tmp_path / "tenant=acme" / "ids").iterdir())) == 3 + 3  # and directories
    assert do_ingest_events(tenant, events, root=tmp_path).duplicates == 5


_PAIR_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["", "SG0001", "SG0002", "SG0003"]),
        st.sampled_from(["store", "staff", "consumer"]),
        st.integers(0, 5),
        st.sampled_from(["message", "join", "leave", "content_view"]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=25, deadline=None)
@given(_PAIR_EVENTS, st.integers(0, 60))
def test_rollups_from_event_files_in_pair_order_equal_the_rollups_of_hashed_pairs(
    drawn: list[tuple[str, str, int, str]], cut: int
) -> None:
    # given: one day's events, imported whole (one file, rolled up from the events in memory)
    # and in two pieces (two files of the day, rolled up from both)
    records = [
        _event(
            f"e{number}",
            "2026-11-21T10:00:00+08:00",
            kind,
            group_id=group,
            member_kind=member_kind,
            member_id=f"M{member}",
            **({"content_id": "C1"} if kind == "content_view" else {}),
        )
        for number, (group, member_kind, member, kind) in enumerate(drawn)
    ]
    with tempfile.TemporaryDirectory() as whole, tempfile.TemporaryDirectory() as pieces:
        tenant = _tenant()
        do_ingest_events(tenant, records, skip_invalid=False, root=Path(whole))
        _ingest_in_pieces(tenant, records, [min(cut, len(records))], Path(pieces))
        imported = _member_daily_rows(tenant, Path(whole))

        # when: the whole day's rollups are rebuilt from its one file
        do_rebuild_rollups(tenant, root=Path(whole))

        # then: the file is in pair order, and all three give the same rollup
        lake = tenant_lake(tenant, Path(whole))
        (file,) = lake.event_files(lake.manifest())
        stored = pq.read_table(str(file), columns=["group_key", "member_key"])
        groups = stored.column("group_key").fill_null(-1).to_pylist()
        keys = list(zip(groups, stored.column("member_key").to_pylist(), strict=True))
        assert keys == sorted(keys)
        assert _member_daily_rows(tenant, Path(whole)) == imported
        assert _member_daily_rows(tenant, Path(pieces)) == imported
        assert sum(row[-1] for row in imported) == len(records)


def _member_daily_rows(tenant: Tenant, root: Path) -> list[tuple[object, ...]]:
    """Return the member-daily rollup as sorted rows of ids (not keys: they depend on the order
    of imports) and counts, with the row's number of events last."""
    tables = open_lake(tenant_lake(tenant, root))
    daily = tables.member_daily.left_join(tables.groups, "group_key").join(
        tables.members, "member_key"
    )
    rows = daily.to_pyarrow().to_pylist()
    counts = [name for name in KIND_COUNTS.values() if name in rows[0]]
    return sorted(
        (
            str(row["day"]),
            row["group_id"] or "",
            row["member_kind"],
            row["member_id"],
            row["is_staff"],
            *(row[name] for name in counts),
            sum(row[name] for name in counts),
        )
        for row in rows
    )


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 25), st.integers(0, 4), st.integers(0, 3), st.integers(0, 2_000)),
        min_size=1,
        max_size=60,
    ),
    st.integers(1, 12),
    st.booleans(),
)
def test_a_large_import_staged_in_chunks_stores_what_one_chunk_would(
    draws: list[tuple[int, int, int, int]], chunk_rows: int, known_day: bool
) -> None:
    # given: a file whose ids repeat across the chunks an import stages it in (read in
    # batches of 4, chunks of about ``chunk_rows``), across local days, and maybe a day the
    # lake already has
    events = [
        _event(
            f"e{number}",
            1763913600000 + minutes * 60_000,
            member_id=f"S{member}",
            group_id=f"SG{group}",
        )
        for number, member, group, minutes in draws
    ]
    tenant = _tenant()
    with tempfile.TemporaryDirectory() as folder:
        roots = {name: Path(folder) / name for name in ("whole", "staged")}
        source = _write_jsonl(Path(folder) / "events.jsonl", events)
        if known_day:
            for root in roots.values():
                do_ingest_events(tenant, [_event("old", "2026-11-24T08:00:00+08:00")], root=root)

        # when
        do_import_events(tenant, source, root=roots["whole"])
        with (
            patch.object(actions, "CHUNK_ROWS", chunk_rows),
            patch.object(actions, "open_event_file", partial(open_event_file, batch_rows=4)),
        ):
            report = do_import_events(tenant, source, root=roots["staged"])
        stored = {name: _lake_events(tenant, root) for name, root in roots.items()}
        daily = {
            name: list(group_daily_rows(open_lake(tenant_lake(tenant, root))))
            for name, root in roots.items()
        }
        staged_left = list((roots["staged"] / "tenant=acme").rglob("batch-*"))

    # then
    first = {str(event["event_id"]): event for event in reversed(events)}
    assert report.accepted == len(first)
    assert report.duplicates == len(events) - len(first)
    assert stored["staged"] == stored["whole"]
    assert stored["staged"] == sorted(
        [
            *(
                (
                    event_id,
                    _shanghai_day(event),
                    str(event["member_id"]),
                )
                for event_id, event in first.items()
            ),
            *([("old", "2026-11-24", "S1")] if known_day else []),
        ]
    )
    assert daily["staged"] == daily["whole"]
    assert staged_left == []
