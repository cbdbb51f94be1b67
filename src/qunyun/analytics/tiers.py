"""The matrix of a group: from the database when it knows the group, else from its id prefix.

``qunyun plan`` names groups ``DG…`` (dealer), ``SG…`` (store), ``CG…`` (consumer) and
``VG…`` (VIP); a group with neither a database row nor one of these prefixes has no matrix and
is left out of the analyses by matrix.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.expr.types import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from qunyun.analytics.lake import LakeTables
from qunyun.groups.models import Group, Matrix
from qunyun.org.models import Tenant

PREFIX_MATRICES = {"DG": "dealer", "SG": "store", "CG": "consumer", "VG": "vip"}
MATRICES = ("dealer", "store", "consumer", "vip")


def matrix_of(group_id: str, known: Mapping[str, str]) -> str | None:
    """Return the matrix of a group id: the database's, else the prefix's, else None."""
    return known.get(group_id) or PREFIX_MATRICES.get(group_id[:2])


def group_matrices(
    lake: LakeTables, known: Mapping[str, str], within: Collection[str] | None = None
) -> Table:
    """Return ``group_key, group_id, matrix`` for the lake's groups that have a matrix.

    ``within`` (group ids an access guard allows) keeps only those groups; None keeps all.
    """
    database = ibis.memtable(
        {"known_id": list(known), "known_matrix": list(known.values())},
        schema=ibis.schema({"known_id": dt.string, "known_matrix": dt.string}),
    )
    groups = lake.groups.left_join(database, lake.groups.group_id == database.known_id)
    prefix = groups.group_id.substr(0, 2)
    by_prefix = ibis.cases(*((prefix == p, m) for p, m in PREFIX_MATRICES.items()), else_=None)
    named = groups.select(
        group_key=groups.group_key,
        group_id=groups.group_id,
        matrix=groups.known_matrix.coalesce(by_prefix),
    )
    named = named.filter(named.matrix.notnull())
    return named if within is None else named.filter(named.group_id.isin(_ids(within)))


def _ids(within: Collection[str]) -> ir.StringColumn:
    """Return the group ids as a one-column table (a semi-join, not a long IN list)."""
    return ibis.memtable(
        {"group_id": sorted(within)}, schema=ibis.schema({"group_id": dt.string})
    ).group_id


def scoped_groups(lake: LakeTables, within: Collection[str] | None) -> Table:
    """Return ``group_key, group_id`` of the lake's groups among ``within`` (None: all)."""
    groups = lake.groups
    return groups if within is None else groups.filter(groups.group_id.isin(_ids(within)))


def known_matrices(session: Session, tenant: Tenant) -> dict[str, str]:
    """Return the matrix of every group of the tenant in the database, archived ones too."""
    query = select(Group.group_id, Group.matrix).where(Group.tenant_id == tenant.id)
    return {group_id: Matrix(matrix).value for group_id, matrix in session.execute(query)}
