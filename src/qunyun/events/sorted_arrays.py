"""NumPy steps over sorted int64 arrays (pair keys, day numbers) that the rollups share."""

from __future__ import annotations

import numpy as np


def is_sorted(values: np.ndarray) -> bool:
    """Return whether ``values`` never go down (one pass; no sort)."""
    return len(values) < 2 or not bool(np.any(values[1:] < values[:-1]))


def first_of_runs(values: np.ndarray) -> np.ndarray:
    """Return a mask of the values that differ from the one before (each run's first).

    Over sorted values: the distinct ones are ``values[first_of_runs(values)]``.
    """
    first = np.empty(len(values), dtype=bool)
    first[:1] = True
    np.not_equal(values[1:], values[:-1], out=first[1:])
    return first


def search_sorted(values: np.ndarray, among: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return where each of ``among`` is or would go in the sorted ``values``, and whether it is."""
    at = np.searchsorted(values, among)
    found = at < len(values)
    found[found] = values[at[found]] == among[found]
    return at, found
