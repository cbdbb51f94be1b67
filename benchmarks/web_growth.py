"""Benchmark: the growth pages and endpoints on the demo brand (a cold read, then kept).

Builds the demo (``qunyun demo --no-serve``: 15,000 stores, 90 days ≈ 1.8 M events) in a
temporary home unless ``--home`` names one that holds it, then, in one process with the
in-process HTTP client, for HQ, the manager and the rep: each ``/api/v1/analytics/…``
endpoint and each console page ``/analytics/…`` — the first request (the lake is read) and
the median of ``--runs`` more (the result is kept per lake version and scope); the kept
results are dropped before each first request. Prints a
Markdown table of milliseconds.

    .venv/bin/python benchmarks/web_growth.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANALYSES = ("vip-candidates", "funnel", "cohorts", "reach", "referrals")
PAGES = ("vip", "funnel", "cohorts", "reach", "referrals")
USERS = ("hq", "manager", "rep")


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--home", type=Path, help="a QUNYUN_HOME that holds the demo already")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="qunyun-growth-")) / "home"
    os.environ["QUNYUN_HOME"] = str(home)
    if args.home is None:
        started = time.perf_counter()
        qunyun = Path(sys.executable).parent / "qunyun"
        subprocess.run([str(qunyun), "demo", "--no-serve"], check=True, capture_output=True)
        print(f"demo built in {time.perf_counter() - started:.0f} s")

    import re

    from fastapi.testclient import TestClient

    from qunyun.analytics.growth import forget_growth
    from qunyun.demo.build import DEMO_PASSWORD
    from qunyun.web.app import create_app

    client = TestClient(create_app(key="bench-" + "k" * 40))
    forget_growth()
    print("| caller | request | first (ms) | kept, median (ms) |")
    print("| --- | --- | ---: | ---: |")
    for user in USERS:
        token = client.post(
            "/api/v1/auth/token",
            json={"tenant": "demo", "username": user, "password": DEMO_PASSWORD},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        console = TestClient(client.app)
        form = console.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        console.post(
            "/login",
            data={"csrf_token": csrf.group(1), "tenant": "demo", "username": user,
                  "password": DEMO_PASSWORD, "next": "/"},
        )  # fmt: skip
        requests = [(f"/api/v1/analytics/{a}", client, headers) for a in ANALYSES]
        requests += [(f"/analytics/{p}", console, {}) for p in PAGES]
        for path, caller, sent in requests:
            forget_growth()  # every first request reads the lake
            times = []
            for _ in range(args.runs + 1):
                started = time.perf_counter()
                response = caller.get(path, headers=sent)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            kept = statistics.median(times[1:])
            print(f"| {user} | `{path}` | {times[0]:.0f} | {kept:.1f} |")


if __name__ == "__main__":
    main()
