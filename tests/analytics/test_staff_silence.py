from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from qunyun.channel.models import ContactKind
from qunyun.core.db import unit_of_work
from qunyun.groups.actions import do_create_group, do_join, do_leave
from qunyun.groups.models import Matrix, MemberRole
from qunyun.org.models import Tenant

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
    # R1 (a rep) speaks but is no leader; D1 spoke only before the 90-day window
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
        "M1,李经理,经理,1,2,2,2026-11-22,否",
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
