from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from qunyun.analytics.group_daily import group_daily_rows
from qunyun.analytics.lake import open_lake
from qunyun.events.actions import do_ingest_events, tenant_lake
from qunyun.org.models import Tenant

from ..conftest import Cli

SHANGHAI = ZoneInfo("Asia/Shanghai")
KINDS = ("message", "message", "message", "join", "leave", "content_view")
MEMBER_KINDS = ("store", "consumer", "staff", "distributor")


def reference_group_daily(batches: list[list[dict[str, object]]]) -> list[tuple[object, ...]]:
    """Group daily computed plainly: first event of an id wins, days in Asia/Shanghai."""
    seen: set[str] = set()
    cells: dict[tuple[str, str], dict[str, object]] = defaultdict(
        lambda: {
            "messages": 0,
            "senders": set(),
            "staff": 0,
            "customers": 0,
            "joins": 0,
            "leaves": 0,
        }
    )
    for batch in batches:
        for event in batch:
            event_id = str(event["event_id"])
            if event_id in seen:
                continue
            seen.add(event_id)
            if not event.get("group_id"):
                continue
            ts = event["ts"]
            moment = (
                datetime.fromtimestamp(ts / 1000, UTC)
                if isinstance(ts, int)
                else datetime.fromisoformat(str(ts))
            )
            day = moment.astimezone(SHANGHAI).date().isoformat()
            cell = cells[(day, str(event["group_id"]))]
            if event["kind"] == "message":
                cell["messages"] += 1  # type: ignore[operator]
                cell["senders"].add((event["member_kind"], event["member_id"]))  # type: ignore[attr-defined]
                if event["member_kind"] == "staff":
                    cell["staff"] += 1  # type: ignore[operator]
                else:
                    cell["customers"] += 1  # type: ignore[operator]
            elif event["kind"] == "join":
                cell["joins"] += 1  # type: ignore[operator]
            elif event["kind"] == "leave":
                cell["leaves"] += 1  # type: ignore[operator]
    return [
        (
            day,
            group,
            cell["messages"],
            len(cell["senders"]),  # type: ignore[arg-type]
            cell["staff"],
            cell["customers"],
            cell["joins"],
            cell["leaves"],
        )
        for (day, group), cell in sorted(cells.items())
    ]


# Times cluster around local midnight (16:00 UTC) of a few days, so that day boundaries and
# events seconds apart on both sides of them are common.
_BASE = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
moments = st.builds(
    lambda day, seconds: _BASE + timedelta(days=day, seconds=seconds),
    st.integers(min_value=-3, max_value=3),
    st.integers(min_value=-90, max_value=90),
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, object]:
    moment = draw(moments)
    as_epoch = draw(st.booleans())
    zone = draw(st.sampled_from([UTC, SHANGHAI, ZoneInfo("America/New_York")]))
    return {
        "event_id": f"e{draw(st.integers(0, 60))}",  # a small pool: many repeated ids
        "ts": int(moment.timestamp() * 1000) if as_epoch else moment.astimezone(zone).isoformat(),
        "kind": draw(st.sampled_from(KINDS)),
        "group_id": draw(st.sampled_from(["", "SG1", "SG2", "DG10", "SG10"])),
        "member_kind": draw(st.sampled_from(MEMBER_KINDS)),
        "member_id": draw(st.sampled_from(["1", "2", "S3", "R1"])),
        "content_id": "CT1",
    }


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(events(), min_size=1, max_size=25), min_size=1, max_size=4))
def test_group_daily_matches_a_plain_implementation(batches: list[list[dict[str, object]]]) -> None:
    # given: several imports, later ones repeating ids and bringing late events
    tenant = Tenant(
        slug="acme", name="A", timezone="Asia/Shanghai", created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for batch in batches:
            do_ingest_events(tenant, batch, skip_invalid=False, root=root)

        # when
        rows = list(group_daily_rows(open_lake(tenant_lake(tenant, root))))

    # then
    assert rows == reference_group_daily(batches)


def test_export_group_daily_writes_the_exact_header_and_rows(cli: Cli, tmp_path: Path) -> None:
    # given
    cli("tenant", "create", "acme", "--name", "示例饮料")
    records = [
        ("e1", "2026-11-23T23:59:59+08:00", "message", "SG2", "store", "S1"),
        ("e2", "2026-11-23T16:00:00Z", "message", "SG2", "store", "S1"),  # 00:00 on the 24th
        ("e3", "2026-11-24T09:00:00+08:00", "message", "SG2", "staff", "R1"),
        ("e4", "2026-11-24T09:01:00+08:00", "message", "SG2", "consumer", "S1"),
        ("e5", "2026-11-24T09:02:00+08:00", "join", "SG2", "consumer", "C9"),
        ("e6", "2026-11-24T09:03:00+08:00", "leave", "SG1", "store", "S7"),
        ("e7", "2026-11-24T09:04:00+08:00", "order", "", "store", "S7"),
        ("e3", "2026-11-25T09:00:00+08:00", "message", "SG2", "staff", "R1"),
    ]
    events_file = tmp_path / "events.jsonl"
    events_file.write_text(
        "".join(
            json.dumps(
                dict(
                    zip(
                        ("event_id", "ts", "kind", "group_id", "member_kind", "member_id"),
                        row,
                        strict=True,
                    ),
                    order_id="O1",
                )
            )
            + "\n"
            for row in records
        ),
        encoding="utf-8",
    )
    cli("events", "import", events_file)
    out = tmp_path / "out" / "group-daily.csv"

    # when
    result = cli("analytics", "export", "group-daily", "--tenant", "acme", "--out", out)

    # then
    assert result.output == f"已导出 3 行到 {out}\n"
    assert out.read_text(encoding="utf-8").splitlines() == [
        "date,group_id,messages,active_members,staff_messages,customer_messages,joins,leaves",
        "2026-11-23,SG2,1,1,0,1,0,0",
        "2026-11-24,SG1,0,0,0,0,0,1",
        "2026-11-24,SG2,3,3,1,2,1,0",
    ]


def test_export_group_daily_of_an_empty_lake_is_the_header_only(cli: Cli, tmp_path: Path) -> None:
    cli("tenant", "create", "acme", "--name", "示例饮料")
    out = tmp_path / "daily.csv"

    cli("analytics", "export", "group-daily", "--out", out)

    assert out.read_text(encoding="utf-8").splitlines() == [
        "date,group_id,messages,active_members,staff_messages,customer_messages,joins,leaves"
    ]
