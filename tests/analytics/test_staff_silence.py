from __future__ import annotations

import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from qunyun.analytics.lake import open_lake
from qunyun.analytics.staff_silence import SeatedLeader, staff_silence
from qunyun.channel.models import ContactKind
from qunyun.core.db import unit_of_work
from qunyun.events.actions import do_ingest_events, tenant_lake
from qunyun.groups.actions import do_create_group, do_join, do_leave
from qunyun.groups.models import Matrix, MemberRole
from qunyun.org.models import StaffRole, Tenant

from ..channel.sample import STAFF_CSV, write
from ..conftest import Cli


def _message(
    event_id: str, ts: str, member_id: str, group_id: str = "G1", kind: str = "staff"
) -> str:
    record = {
        "event_id": event_id,
        "ts": ts,
        "kind": "message",
        "group_id": group_id,
        "member_kind": kind,
        "member_id": member_id,
    }
    return json.dumps(record) + "\n"


def test_directors_and_managers_in_groups_who_never_speak_are_listed_first(
    cli: Cli, engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given: D1 (director) sits in two groups, M1 (manager) in one, S1 (supervisor) too;
    # R1 (a rep) speaks but is no leader; D1 spoke only before the 90-day window; M1's message
    # in G9, a group he has no seat in, does not break his silence
    cli("import", "staff", write(tmp_path, "staff.csv", STAFF_CSV))
    with unit_of_work(engine) as session:
        for group_id in ("G1", "G2", "G3"):
            do_create_group(session, tenant, group_id, f"群 {group_id}", Matrix.STORE)
        do_join(session, tenant, "G1", ContactKind.STAFF, "D1", MemberRole.DIRECTOR)
        do_join(session, tenant, "G2", ContactKind.STAFF, "D1", MemberRole.DIRECTOR)
        do_join(session, tenant, "G1", ContactKind.STAFF, "M1", MemberRole.MANAGER)
        do_join(session, tenant, "G1", ContactKind.STAFF, "S1", MemberRole.SUPERVISOR)
        do_join(session, tenant, "G3", ContactKind.STAFF, "M1", MemberRole.MANAGER)
        do_leave(session, tenant, "G3", ContactKind.STAFF, "M1")
    events = tmp_path / "events.jsonl"
    events.write_text(
        _message("e1", "2026-11-20T10:00:00+08:00", "M1")
        + _message("e2", "2026-11-22T23:59:00+08:00", "M1", group_id="G9")
        + _message("e3", "2026-08-25T23:59:59+08:00", "D1")  # 90 days before 2026-11-23
        + _message("e4", "2026-11-23T10:00:00+08:00", "D1", kind="store")  # a store called D1
        + _message("e5", "2026-11-23T11:00:00+08:00", "R1")
        + _message("e6", "2026-11-24T00:00:00+08:00", "D1"),  # after the as-of day
        encoding="utf-8",
    )
    cli("events", "import", events)
    out = tmp_path / "silence.csv"

    # when
    result = cli("analytics", "export", "staff-silence", "--out", out, "--as-of", "2026-11-23")

    # then
    assert result.output == f"已导出 2 行到 {out}（沉默 1 人）\n"
    assert out.read_text(encoding="utf-8-sig").splitlines() == [
        "staff_id,name,role,groups,groups_spoken,messages,last_message,silent",
        "D1,王建国,总监,2,0,0,,是",
        "M1,李经理,经理,1,1,1,2026-11-20,否",
    ]


def test_the_last_day_of_the_window_counts(
    cli: Cli, engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    cli("import", "staff", write(tmp_path, "staff.csv", STAFF_CSV))
    with unit_of_work(engine) as session:
        do_create_group(session, tenant, "G1", "群", Matrix.DEALER)
        do_join(session, tenant, "G1", ContactKind.STAFF, "D1", MemberRole.DIRECTOR)
    events = tmp_path / "events.jsonl"
    events.write_text(_message("e1", "2026-08-26T00:00:00+08:00", "D1"), encoding="utf-8")
    cli("events", "import", events)
    out = tmp_path / "silence.csv"

    cli("analytics", "export", "staff-silence", "--out", out, "--as-of", "2026-11-23")

    assert (
        out.read_text(encoding="utf-8-sig").splitlines()[1] == "D1,王建国,总监,1,1,1,2026-08-26,否"
    )


SHANGHAI = ZoneInfo("Asia/Shanghai")
_AS_OF = date(2026, 11, 23)
_MIDNIGHT = datetime(2026, 11, 24, tzinfo=SHANGHAI)  # the end of the as-of day
_PEOPLE = ("D1", "D2", "M1", "M2", "R1")
_GROUPS = ("G1", "G2", "G3")


def reference_silence(
    events: list[dict[str, object]], leaders: list[SeatedLeader], as_of: date
) -> list[tuple[object, ...]]:
    """Staff silence computed plainly from the definition in the README."""
    first = as_of - timedelta(days=89)
    seen: set[object] = set()
    spoken: dict[str, list[tuple[str, date]]] = {}
    for event in events:
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        day = datetime.fromtimestamp(int(event["ts"]) / 1000, UTC).astimezone(SHANGHAI).date()  # type: ignore[call-overload]
        if event["kind"] == "message" and event["member_kind"] == "staff" and first <= day <= as_of:
            spoken.setdefault(str(event["member_id"]), []).append((str(event.get("group_id")), day))
    rows = []
    for leader in leaders:
        own = [
            (group, day) for group, day in spoken.get(leader.staff_id, []) if group in leader.groups
        ]
        last = max((day for _, day in own), default=None)
        rows.append(
            (
                leader.staff_id,
                leader.name,
                "总监" if leader.role == StaffRole.DIRECTOR else "经理",
                len(leader.groups),
                len({group for group, _ in own}),
                len(own),
                last.isoformat() if last else "",
                "是" if not own else "否",
            )
        )
    rows.sort(key=lambda row: (row[7] == "否", row[2] != "总监", row[0]))
    return rows


@st.composite
def messages(draw: st.DrawFn) -> dict[str, object]:
    # a minute either side of local midnights near the as-of day and the 90-day window's edge
    days_back = draw(st.sampled_from([-1, 0, 1, 2, 88, 89, 90, 91]))
    minutes = draw(st.sampled_from([-1, 0, 1, 600]))
    moment = _MIDNIGHT - timedelta(days=days_back) + timedelta(minutes=minutes)
    record: dict[str, object] = {
        "event_id": f"e{draw(st.integers(0, 40))}",
        "ts": int(moment.timestamp() * 1000),
        "kind": draw(st.sampled_from(["message", "message", "message", "join", "order"])),
        "member_kind": draw(st.sampled_from(["staff", "staff", "store"])),
        "member_id": draw(st.sampled_from(_PEOPLE)),
        "order_id": "O1",
        "amount_fen": 100,
    }
    group = draw(st.sampled_from([*_GROUPS, "G9", None]))  # G9: nobody's seat; None: no group
    if group is not None:
        record["group_id"] = group
    return record


@st.composite
def leaders(draw: st.DrawFn) -> list[SeatedLeader]:
    seated = []
    for staff_id in _PEOPLE[:4]:
        groups = draw(st.frozensets(st.sampled_from(_GROUPS), max_size=3))
        if groups:
            role = StaffRole.DIRECTOR if staff_id.startswith("D") else StaffRole.MANAGER
            seated.append(SeatedLeader(staff_id, f"名{staff_id}", role, groups))
    return seated


@settings(max_examples=40, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=50), leaders())
def test_staff_silence_matches_a_plain_implementation(
    batch: list[dict[str, object]], seated: list[SeatedLeader]
) -> None:
    tenant = Tenant(
        slug="acme", name="A", timezone="Asia/Shanghai", created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        half = len(batch) // 2  # the second import brings late events for old days
        do_ingest_events(tenant, batch[:half], skip_invalid=False, root=root)
        do_ingest_events(tenant, batch[half:], skip_invalid=False, root=root)

        rows = [
            voice.row()
            for voice in staff_silence(open_lake(tenant_lake(tenant, root)), seated, _AS_OF)
        ]

    assert rows == reference_silence(batch, seated, _AS_OF)
