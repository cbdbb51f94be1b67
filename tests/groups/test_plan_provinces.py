"""A store group's province: the one most of its stores lie in, the first met among ties."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from qunyun.groups.planner import StoreColumns, StoreFacts
from qunyun.groups.plans import _MostCommonProvince, _province

# districts of three provinces (广东 ×2, 北京 ×2, 上海), and a store without a region
REGIONS = ("440106", "440303", "110101", "110105", "310101", None)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(REGIONS), min_size=1, max_size=40),
    st.data(),
)
def test_the_most_common_province_on_arrays_is_counters(
    regions: list[str | None], data: st.DataObject
) -> None:
    stores = [
        StoreFacts(f"S{number:03d}", "R1", "convenience", "C", 3, "stable", region)
        for number, region in enumerate(regions)
    ]
    columns = StoreColumns(stores)
    members = sorted(
        data.draw(st.lists(st.sampled_from(range(len(stores))), min_size=1, unique=True))
    )

    found = _MostCommonProvince(columns)(np.array(members, dtype=np.int64))

    # the plain rule: count the provinces of the members in id order, Counter's first tied
    plain = Counter(_province(stores[member].region_code) for member in members)
    assert found == plain.most_common(1)[0][0]
