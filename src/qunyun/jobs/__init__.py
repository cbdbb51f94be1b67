"""Scheduled jobs (Huey): every minute, what has fallen due in activation, and its events.

A job is an adapter like a CLI command: it opens a unit of work per tenant and action, calls
one idempotent action of ``qunyun.activation``, and reports what it did. The queue is a
SQLite file in ``QUNYUN_HOME`` (``jobs.db``) by default and Redis when ``QUNYUN_REDIS_URL``
is set; ``qunyun jobs worker`` runs a consumer, ``qunyun jobs run`` the same work once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import select

from qunyun.core.clock import utcnow
from qunyun.core.db import get_engine, unit_of_work
from qunyun.core.errors import Conflict
from qunyun.core.settings import Settings, get_settings
from qunyun.org.models import Tenant

JOBS_FILE = "jobs.db"


@dataclass
class SweepReport:
    """What one run of the due work did, per tenant slug."""

    at: str
    expired_packets: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    """(packet id, fen returned to the budget) of each packet expired now."""
    cancelled_teams: dict[str, list[int]] = field(default_factory=dict)
    cutoffs: dict[str, dict[str, Any]] = field(default_factory=dict)
    revealed_draws: dict[str, list[int]] = field(default_factory=dict)
    exported_events: dict[str, int] = field(default_factory=dict)
    """Activation events (red-packet sends and grabs) appended to the event lake now."""
    busy_lakes: list[str] = field(default_factory=list)
    """Tenants whose lake another process was writing: their events wait for the next run."""

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain values (a job's stored result)."""
        return asdict(self)


def run_due_work(when: datetime | None = None) -> SweepReport:
    """Run every activation action that falls due by ``when`` (now), tenant by tenant.

    Each tenant's action is its own transaction: a failure in one leaves the others done.
    """
    from qunyun.activation.draws import do_reveal_due_draws
    from qunyun.activation.events import do_export_events_to_lake
    from qunyun.activation.groupbuys import do_cancel_expired_teams
    from qunyun.activation.hot import hot_state
    from qunyun.activation.persist import drain_all
    from qunyun.activation.sweeps import do_make_due_cutoff, expire_red_packets

    when = when or utcnow()
    engine = get_engine()
    hot = hot_state()
    report = SweepReport(at=when.isoformat())
    with unit_of_work(engine) as session:
        tenant_ids = list(session.scalars(select(Tenant.id).order_by(Tenant.id)))

    def each(action: Callable[[Any, Tenant], Any]) -> dict[str, Any]:
        found = {}
        for tenant_id in tenant_ids:
            with unit_of_work(engine) as session:
                tenant = session.get(Tenant, tenant_id)
                if tenant is None:  # deleted meanwhile
                    continue
                done = action(session, tenant)
                if done:
                    found[tenant.slug] = done
        return found

    report.expired_packets = each(lambda s, t: expire_red_packets(s, t, when, hot))
    report.cancelled_teams = each(lambda s, t: do_cancel_expired_teams(s, t, when=when, hot=hot))
    cutoffs = each(lambda s, t: do_make_due_cutoff(s, t, when=when))
    report.cutoffs = {
        slug: {
            "cutoff_id": summary.cutoff_id,
            "cutoff_at": summary.cutoff_at.astimezone(UTC).isoformat(),
            "orders": summary.orders,
            "lines": summary.lines,
        }
        for slug, summary in cutoffs.items()
    }
    report.revealed_draws = each(lambda s, t: do_reveal_due_draws(s, t, when=when))

    def export(session: Any, tenant: Tenant) -> int:
        try:
            return do_export_events_to_lake(session, tenant).exported
        except Conflict:
            # an import holds the lake: nothing was marked, so the next run sends them
            report.busy_lakes.append(tenant.slug)
            return 0

    if hot is not None:
        # a grab Redis acknowledged reaches SQL through the log: applied now, this run exports it
        drain_all(engine, hot)
    # last, so that the grabs of the packets expired above are in this run's export
    report.exported_events = each(export)
    return report


@dataclass(frozen=True)
class Jobs:
    """The job queue and its task: calling ``due_work(at)`` enqueues one run for a worker."""

    huey: Huey
    due_work: Any


def create_jobs(settings: Settings | None = None) -> Jobs:
    """Return the job queue of the settings, with the every-minute ``due_work`` task."""
    settings = settings or get_settings()
    huey: Huey
    if settings.redis_url is not None:
        huey = RedisHuey(f"{settings.redis_prefix}jobs", url=settings.redis_url)
    else:
        settings.home.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey("qunyun", filename=str(settings.home / JOBS_FILE))
    huey.periodic_task(crontab(minute="*"), name="due_work_every_minute")(due_work)
    # Huey keeps no result of a periodic task: the enqueued runs are a task of their own
    return Jobs(huey=huey, due_work=huey.task(name="due_work")(due_work))


def due_work(at: str | None = None) -> dict[str, Any]:
    """Run what has fallen due (``at``: an ISO moment, for a replay); the every-minute job."""
    return run_due_work(datetime.fromisoformat(at) if at else None).as_dict()
