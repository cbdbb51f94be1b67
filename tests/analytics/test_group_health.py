from __future__ import annotations

import itertools
import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from unittest.mock import patch
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from qunyun.analytics.group_health import group_health
from qunyun.analytics.lake import open_lake
from qunyun.core.db import unit_of_work
from qunyun.events import health as health_rollup
from qunyun.events.actions import do_ingest_events, do_rebuild_rollups, tenant_lake
from qunyun.groups.actions import do_create_group
from qunyun.groups.models import Matrix
from qunyun.org.models import Tenant

from ..conftest import Cli

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = date(2026, 11, 23)
MIDNIGHT = datetime(2026, 11, 23, tzinfo=SHANGHAI)


def reference_health(
    events: list[dict[str, object]], as_of: date, known: list[str]
) -> list[tuple[object, ...]]:
    """Group health computed plainly from the definition in the README."""
    seen: set[str] = set()
    groups: dict[str, dict[str, object]] = {group: {} for group in known}
    firsts = []
    for event in events:
        if event["event_id"] in seen:
            continue
        seen.add(str(event["event_id"]))
        firsts.append(event)
    for event in firsts:
        day = datetime.fromtimestamp(int(event["ts"]) / 1000, UTC).astimezone(SHANGHAI).date()  # type: ignore[call-overload]
        if not event["group_id"] or day > as_of:
            continue
        figures = groups.setdefault(str(event["group_id"]), {})
        if event["kind"] != "message":
            continue
        age = (as_of - day).days
        is_customer = event["member_kind"] != "staff"
        if age < 28 and is_customer:
            figures.setdefault("messages", []).append(day)  # type: ignore[attr-defined]
            figures.setdefault("senders", set()).add((event["member_kind"], event["member_id"]))  # type: ignore[attr-defined]
        if age < 28 and not is_customer:
            figures["staff"] = int(figures.get("staff", 0)) + 1  # type: ignore[call-overload]
        if 28 <= age < 56 and is_customer:
            figures["previous"] = int(figures.get("previous", 0)) + 1  # type: ignore[call-overload]
        if age < 90 and is_customer:
            figures["life"] = int(figures.get("life", 0)) + 1  # type: ignore[call-overload]
            last = figures.get("last")
            figures["last"] = day if last is None or day > last else last  # type: ignore[operator]
    rows = []
    for group_id, figures in groups.items():
        days = figures.get("messages", [])
        recent = len(days)  # type: ignore[arg-type]
        active_days = len(set(days))  # type: ignore[arg-type]
        senders = len(figures.get("senders", set()))  # type: ignore[arg-type]
        previous = int(figures.get("previous", 0))  # type: ignore[call-overload]
        if recent == 0:
            status = "dormant" if figures.get("life") else "dead"
        elif active_days >= 8 and senders >= 3:
            status = "active"
        else:
            status = "quiet"
        if recent > previous and recent >= 1.2 * previous:
            direction = "up"
        elif recent < previous and recent <= 0.8 * previous:
            direction = "down"
        else:
            direction = "flat"
        last = figures.get("last")
        rows.append(
            (
                group_id,
                status,
                recent,
                active_days,
                senders,
                int(figures.get("staff", 0)),  # type: ignore[call-overload]
                previous,
                direction,
                last.isoformat() if last else "",  # type: ignore[attr-defined]
            )
        )
    order = {"dead": 0, "dormant": 1, "quiet": 2, "active": 3}
    return sorted(rows, key=lambda row: (order[str(row[1])], row[0]))


@st.composite
def events(draw: st.DrawFn) -> dict[str, object]:
    # ages around the 28-, 56- and 90-day edges and local midnight
    days_back = draw(
        st.one_of(st.integers(0, 30), st.sampled_from([27, 28, 55, 56, 57, 89, 90, 91, 120, -1]))
    )
    minutes = draw(st.sampled_from([-1, 0, 1, 720]))
    moment = MIDNIGHT - timedelta(days=days_back) + timedelta(minutes=minutes)
    return {
        "event_id": f"e{draw(st.integers(0, 150))}",
        "ts": int(moment.timestamp() * 1000),
        "kind": draw(st.sampled_from(["message", "message", "message", "join"])),
        "group_id": draw(st.sampled_from(["G1", "G2", "G3", ""])),
        "member_kind": draw(st.sampled_from(["store", "consumer", "staff"])),
        "member_id": draw(st.sampled_from(["1", "2", "3", "4"])),
    }


@settings(max_examples=40, deadline=None)
@given(st.lists(events(), min_size=1, max_size=120), st.lists(st.integers(1, 119), max_size=3))
def test_group_health_matches_a_plain_implementation(
    batch: list[dict[str, object]], cuts: list[int]
) -> None:
    # given: the events in several imports (later ones bring late events for older days,
    # and new last days that move the recent-customers window)
    tenant = Tenant(
        slug="acme", name="A", timezone="Asia/Shanghai", created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    known = ["G2", "G9"]
    bounds = [0, *sorted(cut for cut in cuts if cut < len(batch)), len(batch)]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for start, end in itertools.pairwise(bounds):
            do_ingest_events(tenant, batch[start:end], skip_invalid=False, root=root)

        health = group_health(open_lake(tenant_lake(tenant, root)), AS_OF, known)

    assert [group.row() for group in health] == reference_health(batch, AS_OF, known)


@st.composite
def days_of_events(draw: st.DrawFn) -> dict[str, object]:
    # days near the lake's last day and the 28-, 56- and 90-day edges behind it, so that
    # imports move the last day by a few days (stored figures moved) or many (recomputed)
    days_back = draw(
        st.one_of(st.integers(0, 100), st.sampled_from([0, 1, 2, 3, 27, 28, 29, 55, 56, 89, 90]))
    )
    moment = MIDNIGHT - timedelta(days=days_back) + timedelta(minutes=draw(st.sampled_from([0, 1])))
    return {
        "event_id": f"e{draw(st.integers(0, 200))}",
        "ts": int(moment.timestamp() * 1000),
        "kind": draw(st.sampled_from(["message", "message", "join"])),
        "group_id": draw(st.sampled_from(["G1", "G2", "G3", "G4", ""])),
        "member_kind": draw(st.sampled_from(["store", "consumer", "staff"])),
        "member_id": draw(st.sampled_from(["1", "2", "3", "4"])),
    }


@settings(max_examples=40, deadline=None)
@given(
    st.lists(days_of_events(), min_size=1, max_size=100),
    st.lists(st.integers(1, 99), max_size=5),
)
def test_stored_health_of_the_last_day_equals_the_computed_and_a_rebuild(
    batch: list[dict[str, object]], cuts: list[int]
) -> None:
    # given: the events in several imports, each refreshing the stored figures from the
    # previous ones (late events for old days, last days moving on)
    tenant = Tenant(
        slug="acme", name="A", timezone="Asia/Shanghai", created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    bounds = [0, *sorted(cut for cut in cuts if cut < len(batch)), len(batch)]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for start, end in itertools.pairwise(bounds):
            do_ingest_events(tenant, batch[start:end], skip_invalid=False, root=root)
        lake = tenant_lake(tenant, root)
        last_day = date.fromisoformat(max(lake.manifest().events))
        incremental = np.load(lake.folder / lake.manifest().group_health["file"])

        # when
        stored = [group.row() for group in group_health(open_lake(lake), last_day, ["G9"])]
        computed = group_health(open_lake(lake), last_day, ["G9"], stored=False)
        with patch.object(health_rollup, "INCREMENTAL_DAYS", 0):  # computed afresh
            do_rebuild_rollups(tenant, root=root)
        rebuilt = np.load(lake.folder / lake.manifest().group_health["file"])

    # then
    assert stored == reference_health(batch, last_day, ["G9"])
    assert [group.row() for group in computed] == stored
    assert incremental.tolist() == rebuilt.tolist()


def test_stored_health_drops_a_last_message_that_leaves_the_90_days(tmp_path: Path) -> None:
    # given: G1's customers spoke last 89 days before the lake's last day, G2's yesterday
    tenant = Tenant(
        slug="acme", name="A", timezone="Asia/Shanghai", created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    do_ingest_events(tenant, [*_messages("G1", [90], 1), *_messages("G2", [1], 1)], root=tmp_path)
    lake = tenant_lake(tenant, tmp_path)
    before = group_health(open_lake(lake), AS_OF - timedelta(days=1))

    # when: a day is added, and G1's message of 90 days ago is out of the life window
    do_ingest_events(tenant, _messages("G2", [0], 1), root=tmp_path)
    after = group_health(open_lake(lake), AS_OF)

    # then
    assert [group.row() for group in before] == [
        ("G1", "dormant", 0, 0, 0, 0, 0, "flat", "2026-08-25"),
        ("G2", "quiet", 1, 1, 1, 0, 0, "up", "2026-11-22"),
    ]
    assert [group.row() for group in after] == [
        ("G1", "dead", 0, 0, 0, 0, 0, "flat", ""),
        ("G2", "quiet", 2, 2, 1, 0, 0, "up", "2026-11-23"),
    ]
    assert after == group_health(open_lake(lake), AS_OF, stored=False)


def _messages(group_id: str, days_back: list[int], senders: int) -> list[dict[str, object]]:
    return [
        {
            "event_id": f"{group_id}-{day}-{sender}",
            "ts": int((MIDNIGHT - timedelta(days=day, hours=-10)).timestamp() * 1000),
            "kind": "message",
            "group_id": group_id,
            "member_kind": "store",
            "member_id": f"S{sender}",
        }
        for day in days_back
        for sender in range(senders)
    ]


def test_export_group_health_lists_the_worst_first(
    cli: Cli, engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given: G-ACTIVE 3 customers on 8 days; G-QUIET one customer on 2 days; G-DORMANT spoke
    # 40 days ago; G-STAFF hears only the rep; G-EMPTY has no events at all
    with unit_of_work(engine) as session:
        for group_id in ("G-ACTIVE", "G-QUIET", "G-DORMANT", "G-STAFF", "G-EMPTY"):
            do_create_group(session, tenant, group_id, group_id, Matrix.STORE)
    records = [
        *_messages("G-ACTIVE", list(range(8)), 3),
        *_messages("G-QUIET", [0, 40], 1),
        *_messages("G-DORMANT", [40], 2),
        {
            "event_id": "staff-1",
            "ts": int(MIDNIGHT.timestamp() * 1000) + 3_600_000,
            "kind": "message",
            "group_id": "G-STAFF",
            "member_kind": "staff",
            "member_id": "R1",
        },
    ]
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("".join(json.dumps(record) + "\n" for record in records), "utf-8")
    cli("events", "import", events_file)
    out = tmp_path / "health.csv"

    # when
    result = cli("analytics", "export", "group-health", "--out", out)

    # then
    assert result.output == f"已导出 5 行到 {out}（活跃 1、冷清 1、沉睡 1、僵尸 2）\n"
    assert out.read_text(encoding="utf-8").splitlines() == [
        "group_id,status,customer_messages,active_days,customer_senders,staff_messages,"
        "previous_customer_messages,trend,last_customer_message",
        "G-EMPTY,dead,0,0,0,0,0,flat,",
        "G-STAFF,dead,0,0,0,1,0,flat,",
        "G-DORMANT,dormant,0,0,0,0,2,down,2026-10-14",
        "G-QUIET,quiet,1,1,1,0,1,flat,2026-11-23",
        "G-ACTIVE,active,24,8,3,0,0,up,2026-11-23",
    ]
