"""VIP candidates and dead groups feed the plan; every new export and the HTML report."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from sqlalchemy import Engine, select

from qunyun.core.db import unit_of_work
from qunyun.groups.models import PlanRevision, RevisionStatus
from qunyun.org.models import Tenant

from ..channel.sample import DISTRIBUTORS_CSV, STAFF_CSV, STORES_CSV, write
from ..conftest import Cli


def _channel(cli: Cli, tmp_path: Path) -> None:
    cli("import", "staff", write(tmp_path, "staff.csv", STAFF_CSV))
    cli("import", "distributors", write(tmp_path, "distributors.csv", DISTRIBUTORS_CSV))
    cli("import", "stores", write(tmp_path, "stores.csv", STORES_CSV))


def _memberships(cli: Cli, path: Path) -> list[dict[str, str]]:
    cli("plan", "export", "--out", path)
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _import(cli: Cli, tmp_path: Path, records: list[dict[str, object]]) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    cli("events", "import", events)


def _messages(store_id: str, group_id: str, count: int) -> list[dict[str, object]]:
    return [
        {
            "event_id": f"{store_id}-{number}",
            "ts": f"2026-11-23T{9 + number:02d}:00:00+08:00",
            "kind": "message",
            "group_id": group_id,
            "member_kind": "store",
            "member_id": store_id,
        }
        for number in range(count)
    ]


def _vip_stores(rows: list[dict[str, str]]) -> list[str]:
    return sorted(
        row["member_id"] for row in rows if row["matrix"] == "vip" and row["member_kind"] == "store"
    )


def test_activity_changes_who_is_vip(cli: Cli, tenant: Tenant, tmp_path: Path) -> None:
    # given: S0002 buys more (350,000 against 150,000) and is close, so without events it is
    # the VIP of 广东 (quota: 1 of 2 stores)
    _channel(cli, tmp_path)
    cli("plan")
    cli("plan", "apply")
    before = _memberships(cli, tmp_path / "before.csv")
    assert _vip_stores(before) == ["S0002"]
    store_group = next(
        row["group_id"]
        for row in before
        if row["member_id"] == "S0001" and row["matrix"] == "store"
    )

    # when: S0001 speaks six times in its store group (active level), S0002 never
    _import(cli, tmp_path, _messages("S0001", store_group, 6))
    output = cli("plan").output
    cli("plan", "apply")

    # then: the VIP group takes S0001 instead
    assert "VIP 群按事件库的 VIP 候选门店（活跃度 + 采购额）规划。" in output
    assert _vip_stores(_memberships(cli, tmp_path / "after.csv")) == ["S0001"]


def test_plan_lists_dead_groups_to_merge_or_archive(
    cli: Cli, engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given: a planned matrix where only S0001's store group hears a customer
    _channel(cli, tmp_path)
    cli("plan")
    cli("plan", "apply")
    rows = _memberships(cli, tmp_path / "m.csv")
    groups = sorted({row["group_id"] for row in rows})
    lively = next(
        row["group_id"] for row in rows if row["member_id"] == "S0001" and row["matrix"] == "store"
    )
    _import(cli, tmp_path, _messages("S0001", lively, 1))

    # when
    output = cli("plan").output

    # then: every other open group is listed as dead, in the output and in the revision
    dead = [group for group in groups if group != lively]
    assert (
        f"僵尸群 {len(dead)} 个：近 90 天无客户发言，建议合并或归档（计划不会自动处理）" in output
    )
    assert all(group in output for group in dead)
    with unit_of_work(engine) as session:
        revision = session.scalars(
            select(PlanRevision).where(PlanRevision.status == RevisionStatus.PENDING)
        ).one()
        summary = json.loads(revision.summary)
    listed = sorted(g for row in summary for g in row.get("dead_group_ids", []))
    assert listed == dead
    assert sum(row.get("dead_groups", 0) for row in summary) == len(dead)


GROWTH_EVENTS: list[dict[str, object]] = [
    # S0001 joins its store group, speaks and orders; a consumer joins a consumer group
    {
        "event_id": "j1",
        "ts": "2026-11-02T09:00:00+08:00",
        "kind": "join",
        "group_id": "SG1",
        "member_kind": "store",
        "member_id": "S0001",
    },
    *(
        {
            "event_id": f"m{n}",
            "ts": f"2026-11-{3 + n:02d}T09:00:00+08:00",
            "kind": "message",
            "group_id": "SG1",
            "member_kind": "store",
            "member_id": "S0001",
        }
        for n in range(6)
    ),
    {
        "event_id": "o1",
        "ts": "2026-11-10T09:00:00+08:00",
        "kind": "order",
        "group_id": "SG1",
        "member_kind": "store",
        "member_id": "S0001",
        "order_id": "O1",
        "amount_fen": 12_345,
    },
    {
        "event_id": "j2",
        "ts": "2026-11-20T09:00:00+08:00",
        "kind": "join",
        "group_id": "CG1",
        "member_kind": "consumer",
        "member_id": "N1",
        "scene": "invite",
    },
    # N1 was invited by S0001, N2 by N1: a chain of depth 2
    {
        "event_id": "r1",
        "ts": "2026-11-20T09:00:01+08:00",
        "kind": "referral",
        "group_id": "CG1",
        "member_kind": "consumer",
        "member_id": "N1",
        "inviter_kind": "store",
        "inviter_id": "S0001",
    },
    {
        "event_id": "r2",
        "ts": "2026-11-21T09:00:00+08:00",
        "kind": "referral",
        "group_id": "CG1",
        "member_kind": "consumer",
        "member_id": "N2",
        "inviter_kind": "consumer",
        "inviter_id": "N1",
    },
    # content C1: in both dealer groups, one of two store groups 18 h later, no consumer group
    {
        "event_id": "c1",
        "ts": "2026-11-05T10:00:00+08:00",
        "kind": "content_share",
        "group_id": "DG1",
        "member_kind": "staff",
        "member_id": "A1",
        "content_id": "C1",
    },
    {
        "event_id": "c2",
        "ts": "2026-11-05T12:00:00+08:00",
        "kind": "content_share",
        "group_id": "DG2",
        "member_kind": "staff",
        "member_id": "A1",
        "content_id": "C1",
    },
    {
        "event_id": "c3",
        "ts": "2026-11-06T04:00:00+08:00",
        "kind": "content_view",
        "group_id": "SG1",
        "member_kind": "store",
        "member_id": "S0001",
        "content_id": "C1",
    },
    {
        "event_id": "x1",
        "ts": "2026-11-23T09:00:00+08:00",
        "kind": "message",
        "group_id": "SG2",
        "member_kind": "store",
        "member_id": "S0002",
    },
    {
        "event_id": "x2",
        "ts": "2026-11-23T09:00:00+08:00",
        "kind": "message",
        "group_id": "CG1",
        "member_kind": "consumer",
        "member_id": "N1",
    },
]


def _csv(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_exports_of_the_growth_analyses(cli: Cli, tenant: Tenant, tmp_path: Path) -> None:
    # given
    _channel(cli, tmp_path)
    _import(cli, tmp_path, GROWTH_EVENTS)

    # when
    for name in ("vip-candidates", "funnel", "cohorts", "reach", "referrals"):
        cli("analytics", "export", name, "--out", tmp_path / f"{name}.csv")

    # then
    assert _csv(tmp_path / "vip-candidates.csv") == [
        "province_code,rank,store_id,value_fen,annual_purchase_fen,order_fen,score,level",
        "440000,1,S0001,15012345,15000000,12345,5.24,active",
    ]
    assert _csv(tmp_path / "funnel.csv") == [
        "matrix,acquired,activated,retained,revenue,referral",
        "dealer,0,0,0,0,0",
        "store,1,1,0,1,1",
        "consumer,1,1,0,0,1",
        "vip,0,0,0,0,0",
    ]
    assert _csv(tmp_path / "cohorts.csv") == [
        "cohort_week,members,week,active,share",
        "2026-11-02,1,0,1,1.0000",
        "2026-11-02,1,1,0,0.0000",
        "2026-11-02,1,2,0,0.0000",
        "2026-11-02,1,3,0,0.0000",
        "2026-11-16,1,0,0,0.0000",
        "2026-11-16,1,1,1,1.0000",
    ]
    assert _csv(tmp_path / "reach.csv") == [
        "content_id,tier,groups,reached,share,first_seen,median_delay_hours,decay",
        "C1,dealer,2,2,1.0000,2026-11-05T02:00:00+00:00,,",
        "C1,store,2,1,0.5000,2026-11-05T20:00:00+00:00,18.00,0.5000",
        "C1,consumer,1,0,0.0000,,,1.0000",
    ]
    assert _csv(tmp_path / "referrals.csv") == [
        "rank,member_kind,member_id,direct,total,depth",
        "1,store,S0001,1,2,2",
        "2,consumer,N1,1,1,1",
    ]


def test_exports_of_one_content_and_of_the_top_referrers(
    cli: Cli, tenant: Tenant, tmp_path: Path
) -> None:
    # given: a second content C2, shared in one dealer group
    _channel(cli, tmp_path)
    second = {
        "event_id": "k1",
        "ts": "2026-11-07T10:00:00+08:00",
        "kind": "content_share",
        "group_id": "DG1",
        "member_kind": "staff",
        "member_id": "A1",
        "content_id": "C2",
    }
    _import(cli, tmp_path, [*GROWTH_EVENTS, second])
    reach_all, reach_c1 = tmp_path / "reach.csv", tmp_path / "reach-c1.csv"
    reach_none, top = tmp_path / "reach-none.csv", tmp_path / "top.csv"

    # when
    cli("analytics", "export", "reach", "--out", reach_all)
    one = cli("analytics", "export", "reach", "--content", "C1", "--out", reach_c1)
    cli("analytics", "export", "reach", "--content", "NOPE", "--out", reach_none)
    best = cli("analytics", "export", "referrals", "--top", "1", "--out", top)
    zero = cli("analytics", "export", "referrals", "--top", "0", "--out", top, expect=2)

    # then
    assert [line.split(",")[0] for line in _csv(reach_all)[1:]] == ["C1"] * 3 + ["C2"] * 3
    assert one.output == f"已导出 3 行到 {reach_c1}\n"
    assert _csv(reach_c1) == [
        "content_id,tier,groups,reached,share,first_seen,median_delay_hours,decay",
        "C1,dealer,2,2,1.0000,2026-11-05T02:00:00+00:00,,",
        "C1,store,2,1,0.5000,2026-11-05T20:00:00+00:00,18.00,0.5000",
        "C1,consumer,1,0,0.0000,,,1.0000",
    ]
    assert _csv(reach_none) == [
        "content_id,tier,groups,reached,share,first_seen,median_delay_hours,decay"
    ]
    assert best.output == f"已导出 1 行到 {top}\n"
    assert _csv(top) == ["rank,member_kind,member_id,direct,total,depth", "1,store,S0001,1,2,2"]
    assert "--top" in zero.output


def test_html_report_has_every_section_and_no_external_url(
    cli: Cli, tenant: Tenant, tmp_path: Path
) -> None:
    # given
    from qunyun.analytics.html import ECHARTS, SECTIONS

    _channel(cli, tmp_path)
    _import(cli, tmp_path, GROWTH_EVENTS)
    out = tmp_path / "report.html"

    # when
    cli("report", "--html", out)

    # then: every section, ECharts inlined, nothing fetched from elsewhere
    page = out.read_text(encoding="utf-8")
    for key, heading in SECTIONS.items():
        assert f'<section id="{key}"><h2>{heading}</h2>' in page
    assert "echarts.init" in page
    assert ECHARTS.read_text(encoding="utf-8")[:2000] in page
    assert re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page) == []
    vendored = set(re.findall(r"https?://[^\s'\"]+", ECHARTS.read_text(encoding="utf-8")))
    assert set(re.findall(r"https?://[^\s'\"]+", page)) == vendored  # namespaces, licence links
