"""A small brand built through the command line: one manager, two reps under one supervisor."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from ..conftest import Cli

BRAND_STAFF = """staff_id,name,role,manager_id,region
D1,王总,director,,
M1,李经理,manager,D1,广东
S1,张主管,supervisor,M1,广东
S2,刘主管,supervisor,,广东
R1,赵业务,rep,S1,广东
R2,钱业务,rep,S1,广东
A1,孙群管,group_admin,M1,广东
"""
"""S2 supervises nobody yet and has no manager."""


def stores_csv(tmp_path: Path, name: str, stores: dict[str, str], status: str = "营业") -> Path:
    """Write a stores file of ``stores`` (store id → rep id): convenience stores in 天河."""
    path = tmp_path / name
    path.write_text(
        "store_id,name,province,city,district,store_type,rep_id,status\n"
        + "".join(
            f"{sid},店{sid},广东,广州,天河,便利店,{rep},{status}\n" for sid, rep in stores.items()
        ),
        encoding="utf-8",
    )
    return path


def plan_brand(cli: Cli, tmp_path: Path, stores: dict[str, int]) -> dict[str, dict[str, list[str]]]:
    """Create the tenant ``acme``, import the staff and ``stores`` (rep → count), plan, apply.

    The stores of rep ``R<k>`` are ``T<k>001`` …. Return each rep's store groups with their
    stores, by id.
    """
    cli("tenant", "create", "acme", "--name", "示例饮料")
    staff = tmp_path / "staff.csv"
    staff.write_text(BRAND_STAFF, encoding="utf-8")
    cli("import", "staff", staff)
    ids = {
        f"T{rep.removeprefix('R')}{n:03d}": rep
        for rep, count in stores.items()
        for n in range(1, count + 1)
    }
    cli("import", "stores", stores_csv(tmp_path, "stores.csv", ids))
    cli("plan")
    cli("plan", "apply")
    return store_groups(cli, tmp_path / "groups.csv")


def store_groups(cli: Cli, path: Path) -> dict[str, dict[str, list[str]]]:
    """Return each rep's open store groups with their stores, from ``plan export``."""
    cli("plan", "export", "--out", path)
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if (row["matrix"], row["member_kind"]) == ("store", "store"):
                groups[row["territory_rep_id"]][row["group_id"]].append(row["member_id"])
    return {rep: {gid: sorted(ids) for gid, ids in of.items()} for rep, of in groups.items()}
