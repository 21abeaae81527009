"""A bounded load test of the playground's server on loopback: uvicorn in a thread, 20
concurrent clients x 100 requests each (catalogue and small runs), 0 errors; latencies are
printed (p50/p99), not asserted, since they measure the machine as much as the code.
Meanwhile heavy requests run past the compute-time limit and are refused, and the clients
keep being served."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from optiscope.web.limits import MAX_SPECS, MAX_STEPS

CLIENTS = 20
REQUESTS = 100  # per client
SMALL_RUN = {
    "function": "aniso",
    "specs": ["momentum:lr=0.1,momentum=0.9", "rmsprop:lr=0.1,alpha=0.9,eps=1e-10"],
    "steps": 20,
    "start": [1, 1],
}
HEAVY_RUN = {
    "function": "rosenbrock",
    "specs": ["sgd:lr=1e-4", "momentum:lr=1e-4", "rmsprop:lr=1e-4", "adam:lr=1e-4",
              "adagrad:lr=1e-4", "adadelta"],
    "steps": MAX_STEPS,
    "state": True,
}  # fmt: skip
COMPUTE_SECONDS = 1.0  # the heavy run takes several seconds here: it must be refused


# The server runs in its own process, as it does for a user: the 20 client threads of this
# process must not share its interpreter lock (they slowed small runs past the 1 s limit).
SERVER = """
import json, sys, time
import uvicorn
from optiscope.web.app import create_app
from optiscope.web.compute import compiled, run_record
from optiscope.web.limits import Deadline, Limits
from optiscope.web.models import RunRequest

small = json.loads(sys.argv[2])
limits = Limits(compute_seconds=float(sys.argv[3]))
# steady state: the small run's compiled loop loaded before serving (a first compile runs
# in a background thread and would slow every request beside it)
run_record(RunRequest(**small), limits, Deadline(600.0))
key = compiled.key(RunRequest(**small))
end = time.monotonic() + 300
while key not in compiled.ready and time.monotonic() < end:
    time.sleep(0.1)
uvicorn.run(create_app(limits), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-c", SERVER, str(port), json.dumps(SMALL_RUN), str(COMPUTE_SECONDS)]
    process = subprocess.Popen(command)
    base = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 360
    while True:
        assert process.poll() is None, "the server exited"
        assert time.monotonic() < end, "the server did not start"
        try:
            if httpx.get(f"{base}/api/limits", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=30)


def client_session(base: str, index: int) -> list[tuple[str, int, float]]:
    """One client's requests, in turn: the catalogue, the limits, a small run, ..."""
    done = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for k in range(REQUESTS):
            kind = ("functions", "limits", "run", "functions")[(k + index) % 4]
            start = time.perf_counter()
            if kind == "run":
                response = http.post("/api/run", json=SMALL_RUN)
            else:
                response = http.get(f"/api/{kind}")
            ok = response.status_code == 200 and bool(response.json())
            done.append((kind, 200 if ok else response.status_code, time.perf_counter() - start))
    return done


def heavy_requests(base: str, count: int) -> list[tuple[int, dict, float]]:
    answers = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for _ in range(count):
            start = time.perf_counter()
            response = http.post("/api/run", json=HEAVY_RUN)
            answers.append((response.status_code, response.json(), time.perf_counter() - start))
    return answers


def percentiles(seconds: list[float]) -> str:
    ms = 1e3 * np.array(seconds)
    return f"p50 {np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms (n={len(ms)})"


def test_concurrent_clients_are_all_served_while_heavy_requests_are_refused(server):
    assert len(HEAVY_RUN["specs"]) == MAX_SPECS  # the heaviest request the limits let in
    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS + 1) as pool:
        heavy = pool.submit(heavy_requests, server, 3)
        sessions = [pool.submit(client_session, server, i) for i in range(CLIENTS)]
        results = [r for s in sessions for r in s.result()]
        refused = heavy.result()
    wall = time.perf_counter() - start
    errors = [r for r in results if r[1] != 200]
    print(f"\n{CLIENTS} clients x {REQUESTS} requests in {wall:.1f} s: {len(errors)} errors")
    for kind in ("functions", "limits", "run"):
        print(f"  {kind:9s}: " + percentiles([r[2] for r in results if r[0] == kind]))
    print("  all      : " + percentiles([r[2] for r in results]))
    for status, _, seconds in refused:
        print(f"  heavy run (6 specs x {MAX_STEPS} steps): {status} after {seconds:.2f} s")
    assert len(results) == CLIENTS * REQUESTS
    assert errors == []
    for status, body, _ in refused:
        assert status == 422 and body["limit"] == "compute_seconds", body
