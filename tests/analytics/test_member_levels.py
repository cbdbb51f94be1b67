from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from qunyun.analytics.lake import open_lake
from qunyun.analytics.member_levels import level_counts, member_level_rows
from qunyun.events.actions import do_ingest_events, tenant_lake
from qunyun.org.models import Tenant

from ..conftest import Cli

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEIGHTS = {
    "message": 1.0,
    "red_packet_send": 3.0,
    "red_packet_grab": 1.0,
    "order": 5.0,
    "referral": 4.0,
    "content_share": 2.0,
    "content_view": 0.2,
    "join": 0.0,
    "leave": 0.0,
}
EXTRA = {
    "red_packet_id": "RP1",
    "order_id": "O1",
    "content_id": "C1",
    "inviter_kind": "store",
    "inviter_id": "X",
}


def reference_levels(events: list[dict[str, object]], as_of: date) -> list[tuple[object, ...]]:
    """Levels computed plainly from the definition in the README."""
    seen: set[str] = set()
    members: dict[tuple[str, str], dict[str, object]] = {}
    for event in events:
        if event["event_id"] in seen:
            continue
        seen.add(str(event["event_id"]))
        day = datetime.fromtimestamp(int(event["ts"]) / 1000, UTC).astimezone(SHANGHAI).date()  # type: ignore[call-overload]
        if day > as_of:
            continue
        member = members.setdefault(
            (str(event["member_kind"]), str(event["member_id"])),
            {"score": 0.0, "messages": 0, "last": None},
        )
        age = (as_of - day).days
        weight = WEIGHTS[str(event["kind"])]
        if age < 90:
            member["score"] += weight * 0.5 ** (age / 14)  # type: ignore[operator]
            member["messages"] += event["kind"] == "message"  # type: ignore[operator]
        if weight > 0 and (member["last"] is None or day > member["last"]):  # type: ignore[operator]
            member["last"] = day
    rows = []
    for (kind, member_id), member in members.items():
        score = float(member["score"])  # type: ignore[arg-type]
        level = (
            "core"
            if score >= 20
            else "active"
            if score >= 5
            else "casual"
            if score >= 0.25
            else "lurker"
        )
        last = member["last"]
        rows.append(
            (
                kind,
                member_id,
                level,
                f"{score:.2f}",
                member["messages"],
                last.isoformat() if last else "",
                score,
            )
        )  # type: ignore[attr-defined]
    rows.sort(key=lambda row: (-row[6], row[0], row[1]))  # type: ignore[operator]
    return [row[:6] for row in rows]


_AS_OF = date(2026, 11, 23)
_MIDNIGHT = datetime(2026, 11, 23, tzinfo=SHANGHAI)


@st.composite
def events(draw: st.DrawFn) -> dict[str, object]:
    # whole days back, plus a minute either side of local midnight: day boundaries and the
    # 90-day window edge are both hit
    days_back = draw(st.sampled_from([0, 1, 2, 13, 14, 15, 30, 88, 89, 90, 91, -1]))
    minutes = draw(st.sampled_from([-1, 0, 1, 600]))
    moment = _MIDNIGHT - timedelta(days=days_back) + timedelta(minutes=minutes)
    return {
        "event_id": f"e{draw(st.integers(0, 80))}",
        "ts": int(moment.timestamp() * 1000),
        "kind": draw(st.sampled_from(sorted(WEIGHTS))),
        "group_id": "SG1",
        "member_kind": draw(st.sampled_from(["store", "staff", "consumer"])),
        "member_id": draw(st.sampled_from(["1", "2", "3"])),
        **EXTRA,
    }


def _close_to_a_threshold(rows: list[tuple[object, ...]]) -> bool:
    return any(abs(float(str(row[3])) - limit) < 0.006 for row in rows for limit in (0.25, 5, 20))


@settings(max_examples=30, deadline=None)
@given(st.lists(events(), min_size=1, max_size=60))
def test_member_levels_match_a_plain_implementation(batch: list[dict[str, object]]) -> None:
    tenant = Tenant(
        slug="acme", name="A", timezone="Asia/Shanghai", created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        half = len(batch) // 2
        do_ingest_events(tenant, batch[:half], skip_invalid=False, root=root)
        do_ingest_events(tenant, batch[half:], skip_invalid=False, root=root)

        rows = list(member_level_rows(open_lake(tenant_lake(tenant, root)), _AS_OF))

    expected = reference_levels(batch, _AS_OF)
    if _close_to_a_threshold(expected):
        # float sums in another order may land on the other side of a level's threshold
        assert [row[:2] for row in rows] == [row[:2] for row in expected]
    else:
        assert rows == expected


def test_levels_and_counts_on_a_hand_example(tmp_path: Path) -> None:
    # given: a store that orders every day for five days, a consumer with one old message
    tenant = Tenant(
        slug="acme", name="A", timezone="Asia/Shanghai", created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    records: list[dict[str, object]] = [
        {
            **EXTRA,
            "event_id": f"o{day}",
            "ts": int((_MIDNIGHT - timedelta(days=day, hours=-9)).timestamp() * 1000),
            "kind": "order",
            "member_kind": "store",
            "member_id": "S1",
        }
        for day in range(5)
    ]
    records.append(
        {
            "event_id": "m1",
            "ts": int((_MIDNIGHT - timedelta(days=14, hours=-9)).timestamp() * 1000),
            "kind": "message",
            "member_kind": "consumer",
            "member_id": "C1",
        }
    )
    records.append(
        {
            "event_id": "j1",
            "ts": int(_MIDNIGHT.timestamp() * 1000),
            "kind": "join",
            "member_kind": "consumer",
            "member_id": "C2",
        }
    )
    do_ingest_events(tenant, records, skip_invalid=False, root=tmp_path)
    lake = open_lake(tenant_lake(tenant, tmp_path))

    # when
    rows = list(member_level_rows(lake, _AS_OF))
    counts = level_counts(lake, _AS_OF)

    # then: 5 × (1 + 0.5^(1/14) + … + 0.5^(4/14)) = 22.70 → core; 0.5 → casual
    assert rows == [
        ("store", "S1", "core", "22.70", 0, "2026-11-23"),
        ("consumer", "C1", "casual", "0.50", 1, "2026-11-09"),
        ("consumer", "C2", "lurker", "0.00", 0, ""),
    ]
    assert counts == {"core": 1, "active": 0, "casual": 1, "lurker": 1}


def test_export_member_levels_command(cli: Cli, tmp_path: Path) -> None:
    cli("tenant", "create", "acme", "--name", "示例饮料")
    events = tmp_path / "events.csv"
    events.write_text(
        "event_id,ts,kind,group_id,member_kind,member_id\n"
        "e1,2026-11-23T10:00:00+08:00,message,SG1,staff,R1\n"
        "e2,2026-11-22T10:00:00+08:00,join,SG1,store,S1\n",
        encoding="utf-8",
    )
    cli("events", "import", events)
    out = tmp_path / "levels.csv"

    result = cli("analytics", "export", "member-levels", "--out", out, "--as-of", "2026-11-23")
    bad = cli("analytics", "export", "member-levels", "--out", out, "--as-of", "23/11", expect=1)

    assert result.output == f"已导出 2 行到 {out}\n"
    assert out.read_text(encoding="utf-8").splitlines() == [
        "member_kind,member_id,level,score,messages,last_active",
        "staff,R1,casual,1.00,1,2026-11-23",
        "store,S1,lurker,0.00,0,",
    ]
    assert bad.stderr == "错误：--as-of '23/11' 不是日期：应为 YYYY-MM-DD\n"
