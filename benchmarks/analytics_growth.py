"""Benchmark: VIP candidates, funnel, cohorts, reach and referral trees over the event lake.

Generates N events (members, groups and days configurable; dealer, store and consumer groups
by id prefix; joins, messages, red-packet grabs, orders, referrals whose inviters are earlier
invitees, content shared down the tiers), imports them into a lake with `do_import_events`,
then times each analysis from the lake to a result in memory.

    .venv/bin/python benchmarks/analytics_growth.py --events 10000000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

KINDS = np.array(
    ["message", "join", "red_packet_grab", "order", "referral", "content_view", "content_share"]
)
KIND_SHARES = np.array([0.70, 0.06, 0.06, 0.04, 0.02, 0.10, 0.02])
START = datetime(2026, 8, 1, tzinfo=UTC)


def generate(path: Path, events: int, members: int, groups: int, days: int, seed: int) -> None:
    """Write ``events`` raw events to ``path`` (Parquet, string ids)."""
    rng = np.random.default_rng(seed)
    prefixes = np.where(
        np.arange(groups) < groups // 20,
        "DG",
        np.where(np.arange(groups) < groups // 2, "SG", "CG"),
    )
    group_ids = pc.binary_join_element_wise(
        pa.array(prefixes), pa.array(np.arange(groups)).cast(pa.string()), ""
    )
    member_ids = pc.binary_join_element_wise(
        "M", pa.array(np.arange(members)).cast(pa.string()), ""
    )
    written = 0
    writer: pq.ParquetWriter | None = None
    chunk = 2_000_000
    while written < events:
        size = min(chunk, events - written)
        group = (np.minimum(rng.zipf(1.3, size) - 1, groups - 1) * 7919) % groups
        member = (np.minimum(rng.zipf(1.2, size) - 1, members - 1) * 104729) % members
        seconds = rng.integers(0, days * 86400, size)
        ts = (int(START.timestamp()) + seconds) * 1000
        kind = KINDS[rng.choice(len(KINDS), size, p=KIND_SHARES)]
        # an inviter is a member with a smaller number: chains, never loops
        inviter = (member * rng.random(size)).astype(np.int64)
        table = pa.table(
            {
                "event_id": pc.binary_join_element_wise(
                    "E", pa.array(np.arange(written, written + size)).cast(pa.string()), ""
                ),
                "ts": pa.array(ts).cast(pa.timestamp("ms", tz="UTC")),
                "kind": pa.array(kind),
                "group_id": pc.take(group_ids, pa.array(group)),
                "member_kind": pa.array(np.where(member % 3 == 0, "store", "consumer")),
                "member_id": pc.take(member_ids, pa.array(member)),
                "red_packet_id": _only_for(kind, ["red_packet_grab"], "RP1"),
                "order_id": _only_for(kind, ["order"], "O1"),
                "amount_fen": pa.array(
                    np.where(kind == "order", rng.integers(100, 100_000, size), 0)
                ),
                "inviter_kind": _only_for(kind, ["referral"], "consumer"),
                "inviter_id": pc.if_else(
                    pa.array(kind == "referral"),
                    pc.take(member_ids, pa.array(inviter)),
                    pa.scalar(None, pa.string()),
                ),
                "content_id": pc.if_else(
                    pa.array(np.isin(kind, ["content_view", "content_share"])),
                    pc.binary_join_element_wise(
                        "C", pa.array(seconds // (7 * 86400)).cast(pa.string()), ""
                    ),
                    pa.scalar(None, pa.string()),
                ),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
        written += size
    assert writer is not None
    writer.close()


def _only_for(kind: np.ndarray, wanted: list[str], value: str) -> pa.Array:
    return pa.array(np.where(np.isin(kind, wanted), value, None), pa.string())


def timed(label: str, run: Callable[[], Any], runs: int) -> float:
    """Return the best of ``runs`` wall times of ``run``."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    print(f"{label}: {best:.2f} s", file=sys.stderr)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--groups", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from qunyun.analytics.funnel import cohort_rows, funnel_rows
    from qunyun.analytics.lake import open_lake
    from qunyun.analytics.member_levels import latest_day
    from qunyun.analytics.reach import reach
    from qunyun.analytics.referrals import first_referrals, referral_trees
    from qunyun.analytics.vip import StoreValue, vip_candidates
    from qunyun.events.actions import do_import_events, tenant_lake
    from qunyun.org.models import Tenant

    work = Path(tempfile.mkdtemp(prefix="qunyun-growth-"))
    raw = work / "events.parquet"
    generate(raw, args.events, args.members, args.groups, args.days, args.seed)
    tenant = Tenant(slug="bench", name="bench", timezone="Asia/Shanghai", created_at=START)
    root = work / "lake"
    start = time.perf_counter()
    report = do_import_events(tenant, raw, root=root)
    imported = time.perf_counter() - start
    print(f"imported {report.accepted:,} events in {imported:.1f} s", file=sys.stderr)
    lake = open_lake(tenant_lake(tenant, root))
    as_of = latest_day(lake)
    assert as_of is not None
    stores = [
        StoreValue(f"M{number}", f"{11 + number % 30}0000", int(number % 997) * 10_000)
        for number in range(0, args.members, 3)
    ]
    known: dict[str, str] = {}
    figures = {
        "vip": timed(
            "VIP candidates",
            lambda: vip_candidates(lake, stores, as_of, 0.05).to_pyarrow(),
            args.runs,
        ),
        "funnel": timed("AARRR funnel", lambda: funnel_rows(lake, as_of, known), args.runs),
        "cohorts": timed("cohorts", lambda: list(cohort_rows(lake, as_of)), args.runs),
        "reach": timed("reach down the tiers", lambda: reach(lake, as_of, known), args.runs),
        "referrals": timed(
            "referral trees",
            lambda: referral_trees(first_referrals(lake, as_of)),
            args.runs,
        ),
    }
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"| {datetime.now(UTC):%Y-%m-%d} | {args.events:,} | {args.members:,} | {args.groups:,} "
        f"| {args.days} | {imported:.1f} s | "
        + " | ".join(f"{seconds:.2f} s" for seconds in figures.values())
        + f" | {peak:,.0f} MiB |"
    )


if __name__ == "__main__":
    main()
