"""Red-packet sends and grabs reach the event lake through the every-minute job, once each."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from qunyun.activation.events import LakeExport, do_export_events_to_lake, pending_events
from qunyun.activation.models import RedPacket
from qunyun.activation.redpackets import do_grab_red_packet, red_packet_detail
from qunyun.analytics.lake import open_lake
from qunyun.core.db import unit_of_work
from qunyun.events import lake as lake_module
from qunyun.events.actions import tenant_lake
from qunyun.jobs import run_due_work
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, group_with_members
from tests.conftest import Cli

LAKE_FIELDS = ("kind", "group_id", "member_kind", "member_id", "red_packet_id", "amount_fen")


def _lake_rows(tenant: Tenant) -> list[tuple[object, ...]]:
    """Return the tenant's red-packet events in the lake as (fields…, ts), by kind and member."""
    events = open_lake(tenant_lake(tenant)).events
    rows = events.select("event_id", "ts", *LAKE_FIELDS).to_pyarrow().to_pylist()
    return sorted(
        (tuple(row[name] for name in ("event_id", *LAKE_FIELDS, "ts")) for row in rows),
        key=lambda row: (str(row[1]), str(row[4])),
    )


def _sent_and_grabbed(cli: Cli, engine: Engine, tenant: Tenant) -> tuple[int, dict[str, int]]:
    """Send a packet of ¥3.00 in 3 shares by CLI and let two stores grab; return id and amounts."""
    members = group_with_members(engine, tenant, 3)
    cli("redpacket", "rule", "set", "--budget-fen", "10000", "--window", "00:00-00:00",
        "--min-total-fen", "1")  # fmt: skip
    cli("redpacket", "send", "--group", "G1", "--total-fen", "300", "--count", "3",
        "--sender", "R0001")  # fmt: skip
    with unit_of_work(engine) as session:
        packet_id = session.scalars(select(RedPacket.id)).one()
    grabbed = {}
    for member in members[:2]:
        with unit_of_work(engine) as session:
            grab = do_grab_red_packet(session, tenant, packet_id, STORE, member)
            grabbed[member] = grab.amount_fen
    return packet_id, grabbed


def test_jobs_run_puts_each_send_and_grab_in_the_lake_once(
    cli: Cli, engine: Engine, tenant: Tenant
) -> None:
    # given a packet sent by CLI and grabbed by two of the three stores
    packet_id, grabbed = _sent_and_grabbed(cli, engine, tenant)
    with unit_of_work(engine) as session:
        detail = red_packet_detail(session, tenant, packet_id)
        sent_at = session.get(RedPacket, packet_id).created_at  # type: ignore[union-attr]

    # when the due work runs, twice
    first = cli("jobs", "run")
    in_lake = _lake_rows(tenant)
    second = cli("jobs", "run")

    # then the lake holds one send and the two grabs, with their exact amounts, and the
    # second run added nothing
    assert first.output == "acme：3 条活动事件已写入事件湖\n"
    assert second.output == "没有到期的工作。\n"
    assert [row[1:-1] for row in in_lake] == [
        ("red_packet_grab", "G1", "store", "S001", str(packet_id), grabbed["S001"]),
        ("red_packet_grab", "G1", "store", "S002", str(packet_id), grabbed["S002"]),
        ("red_packet_send", "G1", "staff", "R0001", str(packet_id), 300),
    ]
    assert in_lake[2][-1] == sent_at.replace(microsecond=sent_at.microsecond // 1000 * 1000)
    assert sorted(grab.amount_fen for grab in detail.grabs) == sorted(grabbed.values())
    assert len({row[0] for row in in_lake}) == 3
    assert _lake_rows(tenant) == in_lake
    assert tenant_lake(tenant).manifest().event_count == 3
    with unit_of_work(engine) as session:
        assert pending_events(session, tenant) == []


def test_a_grab_after_an_export_goes_in_the_next_run(
    cli: Cli, engine: Engine, tenant: Tenant
) -> None:
    # given a packet whose send and first two grabs are in the lake
    packet_id, grabbed = _sent_and_grabbed(cli, engine, tenant)
    first = run_due_work()

    # when the last store grabs and the work runs again
    with unit_of_work(engine) as session:
        last = do_grab_red_packet(session, tenant, packet_id, STORE, "S003")
    second = run_due_work()

    # then only the new grab was appended, and the three grabs sum to the packet
    assert (first.exported_events, second.exported_events) == ({"acme": 3}, {"acme": 1})
    grabs = [row for row in _lake_rows(tenant) if row[1] == "red_packet_grab"]
    assert [(row[4], row[6]) for row in grabs] == [
        ("S001", grabbed["S001"]),
        ("S002", grabbed["S002"]),
        ("S003", last.amount_fen),
    ]
    assert sum(row[6] for row in grabs) == 300  # type: ignore[misc]


def test_an_export_that_crashed_before_its_mark_committed_is_not_duplicated(
    cli: Cli, engine: Engine, tenant: Tenant
) -> None:
    # given an export that appended the events, then failed before its transaction committed
    _sent_and_grabbed(cli, engine, tenant)
    crashed: list[LakeExport] = []

    def export_then_die() -> None:
        with unit_of_work(engine) as session:
            crashed.append(do_export_events_to_lake(session, tenant))
            raise RuntimeError("the process died before the commit")

    with pytest.raises(RuntimeError):
        export_then_die()

    # when the due work runs
    report = run_due_work()

    # then the events were pending still, were marked now, and the lake has each once
    assert [(export.exported, export.appended) for export in crashed] == [(3, 3)]
    assert report.exported_events == {"acme": 3}
    assert len(_lake_rows(tenant)) == 3
    assert tenant_lake(tenant).manifest().event_count == 3
    with unit_of_work(engine) as session:
        assert pending_events(session, tenant) == []
        again = do_export_events_to_lake(session, tenant)
    assert (again.exported, again.appended) == (0, 0)


def test_events_wait_while_another_process_writes_the_lake(
    cli: Cli, engine: Engine, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the tenant's lake held by an import
    _sent_and_grabbed(cli, engine, tenant)
    monkeypatch.setattr(lake_module, "LOCK_WAIT_SECONDS", 0.2)

    # when the due work runs meanwhile, then after the import
    with tenant_lake(tenant).writing():
        busy = cli("jobs", "run")
    after = run_due_work()

    # then nothing was marked while the lake was busy, and the next run exported them all
    assert busy.output == "acme：事件湖正在导入，活动事件下次再写入\n"
    assert after.exported_events == {"acme": 3}
    assert after.busy_lakes == []
    assert len(_lake_rows(tenant)) == 3


def test_exports_in_batches_mark_every_event(cli: Cli, engine: Engine, tenant: Tenant) -> None:
    # given a send and two grabs
    _sent_and_grabbed(cli, engine, tenant)

    # when they are exported two at a time
    with unit_of_work(engine) as session:
        export = do_export_events_to_lake(session, tenant, batch=2)

    # then both batches are in the lake and marked
    assert (export.exported, export.appended) == (3, 3)
    assert len(_lake_rows(tenant)) == 3
    with unit_of_work(engine) as session:
        assert pending_events(session, tenant) == []
