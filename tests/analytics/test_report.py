from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from qunyun.channel.models import ContactKind
from qunyun.core.db import unit_of_work
from qunyun.groups.actions import do_create_group, do_join
from qunyun.groups.models import Matrix, MemberRole
from qunyun.org.models import Tenant

from ..channel.sample import STAFF_CSV, write
from ..conftest import Cli


def _event(
    event_id: str, ts: str, kind: str, group_id: str, member: str, who: str = "store"
) -> str:
    return (
        json.dumps(
            {
                "event_id": event_id,
                "ts": ts,
                "kind": kind,
                "group_id": group_id,
                "member_kind": who,
                "member_id": member,
            }
        )
        + "\n"
    )


def _setup(cli: Cli, engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    cli("import", "staff", write(tmp_path, "staff.csv", STAFF_CSV))
    with unit_of_work(engine) as session:
        for group_id in ("G1", "G2"):
            do_create_group(session, tenant, group_id, group_id, Matrix.STORE)
        do_join(session, tenant, "G1", ContactKind.STAFF, "D1", MemberRole.DIRECTOR)
        do_join(session, tenant, "G1", ContactKind.STAFF, "M1", MemberRole.MANAGER)
    events = tmp_path / "events.jsonl"
    events.write_text(
        _event("e1", "2026-11-23T09:00:00+08:00", "message", "G1", "S1")
        + _event("e2", "2026-11-22T09:00:00+08:00", "message", "G1", "S2")
        + _event("e3", "2026-11-16T23:59:59+08:00", "message", "G1", "S3")  # 8 days back
        + _event("e4", "2026-11-20T09:00:00+08:00", "join", "G1", "C1", "consumer")
        + _event("e5", "2026-11-21T09:00:00+08:00", "message", "G1", "M1", "staff"),
        encoding="utf-8",
    )
    cli("events", "import", events)


def test_report_json_has_the_headline_figures(
    cli: Cli, engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    _setup(cli, engine, tenant, tmp_path)

    result = cli("report", "--json")

    steps = ("activated", "retained", "revenue", "referral")
    assert json.loads(result.stdout) == {
        "as_of": "2026-11-23",
        "events": 5,
        "first_day": "2026-11-16",
        "last_day": "2026-11-23",
        "members": 5,
        "groups": 1,
        "last_7_days": {"messages": 3, "senders": 3, "joins": 1, "leaves": 0},
        "member_levels": {"core": 0, "active": 0, "casual": 4, "lurker": 1},
        "group_health": {"dead": 1, "dormant": 0, "quiet": 1, "active": 0},
        "group_trends": {"up": 1, "flat": 1, "down": 0},
        "top_groups": [
            {"group_id": "G1", "status": "quiet", "customer_messages": 3, "customer_senders": 3}
        ],
        "leaders": 2,
        "silent_leaders": [{"staff_id": "D1", "name": "王建国", "role": "director", "groups": 1}],
        "vip_candidates": {"stores": 0, "per_province": {}, "top": []},
        "funnel": [
            {"matrix": matrix, "acquired": int(matrix == "store"), **dict.fromkeys(steps, 0)}
            for matrix in ("dealer", "store", "consumer", "vip")
        ],
        "cohorts": [
            {"cohort_week": "2026-11-16", "members": 1, "active": [0, 0], "shares": [0.0, 0.0]}
        ],
        "reach": {
            "contents": [],
            "mean_share": {"dealer": None, "store": None, "consumer": None},
            "mean_decay": {"store": None, "consumer": None},
            "rule_of_thumb_decay": 0.3,
        },
        "referrals": {"invitees": 0, "inviters": 0, "trees": 0, "max_depth": 0, "top": []},
    }


def test_report_prints_rich_tables_in_chinese(
    cli: Cli, engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    _setup(cli, engine, tenant, tmp_path)

    output = cli("report", "--tenant", "acme", "--as-of", "2026-11-23").output

    assert "示例饮料（acme）社群概况 · 截至 2026-11-23" in output
    assert "2026-11-16 至 2026-11-23" in output
    assert "冷清 quiet" in output
    assert "沉默的领导：1 / 2 人在群里 90 天未发言" in output
    assert "王建国" in output


def test_report_of_an_empty_lake(cli: Cli, tenant: Tenant) -> None:
    result = cli("report", "--json", "--as-of", "2026-11-23")

    figures = json.loads(result.stdout)
    assert (figures["events"], figures["first_day"], figures["top_groups"]) == (0, None, [])
    assert figures["member_levels"] == {"core": 0, "active": 0, "casual": 0, "lurker": 0}
