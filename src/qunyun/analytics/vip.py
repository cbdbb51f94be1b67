"""VIP candidates: per province, the most valuable stores that are also alive in their groups.

A store (an active store of the master data) is **eligible** when its member level over the
90 days ending on the as-of day is ``active`` or ``core`` (decayed score ≥ 5, see member
levels). Its **value** is its ``annual_purchase_fen`` from the master data plus the
``amount_fen`` of its ``order`` events in those 90 days. Per province, eligible stores are
ranked by value (highest first), then score (highest first), then store id; the first
``quota`` are the candidates, quota = max(1, round(active stores of the province × share)),
share being the planner's ``vip_share`` (5%).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import ibis
import ibis.expr.datatypes as dt
from ibis.expr.types import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from qunyun.analytics.lake import LakeTables
from qunyun.analytics.member_levels import LEVELS, WINDOW_DAYS, member_levels
from qunyun.channel.models import Store, StoreStatus
from qunyun.org.models import Tenant
from qunyun.org.regions import catalogue

ELIGIBLE_SCORE = dict(LEVELS)["active"]
VIP_CANDIDATES_HEADER = (
    "province_code",
    "rank",
    "store_id",
    "value_fen",
    "annual_purchase_fen",
    "order_fen",
    "score",
    "level",
)


@dataclass(frozen=True)
class StoreValue:
    """What VIP candidates need of an active store of the master data."""

    store_id: str
    province_code: str
    annual_purchase_fen: int


def _stores_table(stores: Sequence[StoreValue], share: float) -> Table:
    per_province = Counter(store.province_code for store in stores)
    quota = {code: max(1, round(count * share)) for code, count in per_province.items()}
    return ibis.memtable(
        {
            "store_id": [s.store_id for s in stores],
            "province_code": [s.province_code for s in stores],
            "annual_purchase_fen": [s.annual_purchase_fen for s in stores],
            "quota": [quota[s.province_code] for s in stores],
        },
        schema=ibis.schema(
            {
                "store_id": dt.string,
                "province_code": dt.string,
                "annual_purchase_fen": dt.int64,
                "quota": dt.int64,
            }
        ),
    )


def vip_candidates(
    lake: LakeTables, stores: Sequence[StoreValue], as_of: date, share: float
) -> Table:
    """Return the VIP candidates, ``VIP_CANDIDATES_HEADER`` columns, by province then rank."""
    first = as_of - timedelta(days=WINDOW_DAYS - 1)
    levels = member_levels(lake, as_of)
    levels = levels.filter(levels.member_kind == "store")
    events = lake.events
    ordered = events.filter(
        (events.kind == "order")
        & (events.member_kind == "store")
        & (events.day >= first)
        & (events.day <= as_of)
    )
    orders = ordered.group_by(store_id=ordered.member_id).aggregate(
        order_fen=ordered.amount_fen.sum().fill_null(0).cast("int64")
    )
    table = _stores_table(stores, share)
    joined = table.join(levels, table.store_id == levels.member_id).left_join(
        orders, table.store_id == orders.store_id
    )
    eligible = joined.filter(joined.score >= ELIGIBLE_SCORE).select(
        province_code=joined.province_code,
        store_id=joined.store_id,
        annual_purchase_fen=joined.annual_purchase_fen,
        order_fen=joined.order_fen.fill_null(0),
        score=joined.score,
        level=joined.level,
        quota=joined.quota,
    )
    value = eligible.annual_purchase_fen + eligible.order_fen
    ranked = eligible.mutate(
        value_fen=value,
        rank=ibis.row_number().over(
            group_by=eligible.province_code,
            order_by=[ibis.desc(value), ibis.desc(eligible.score), eligible.store_id],
        )
        + 1,
    )
    chosen = ranked.filter(ranked.rank <= ranked.quota)
    return chosen.select(*VIP_CANDIDATES_HEADER).order_by(["province_code", "rank"])


def vip_candidate_rows(
    lake: LakeTables, stores: Sequence[StoreValue], as_of: date, share: float
) -> Iterator[tuple[object, ...]]:
    """Yield ``VIP_CANDIDATES_HEADER`` rows, the score to 2 decimals."""
    for row in vip_candidates(lake, stores, as_of, share).to_pyarrow().to_pylist():
        yield tuple(
            f"{row[name]:.2f}" if name == "score" else row[name] for name in VIP_CANDIDATES_HEADER
        )


def store_values(session: Session, tenant: Tenant) -> list[StoreValue]:
    """Return the tenant's active stores with their province and annual purchase."""
    query = (
        select(Store.store_id, Store.region_code, Store.annual_purchase_fen)
        .where(Store.tenant_id == tenant.id, Store.status == StoreStatus.ACTIVE)
        .order_by(Store.store_id)
    )
    regions = catalogue().by_code
    return [
        StoreValue(store_id, regions[region].province_code, purchase or 0)
        for store_id, region, purchase in session.execute(query)
    ]
