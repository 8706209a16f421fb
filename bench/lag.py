"""Projection lag: how far the read models trail the log while commands keep coming.

The projection worker (``crm projections run``, its own process, woken by LISTEN/NOTIFY)
applies every projection; the API-side inline projections are off, as in a deployment
with several API processes. One writer sends contact updates through ``CRM`` paced at
half the rate it reaches unpaced; a sampler reads ``ReadModelRunner.lag()`` (what
``/metrics`` exports as ``crm_projection_lag_seconds``: age of the oldest unapplied
event) every 20 ms. Reported: p99 and max of those samples per run.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.appends import ProductWrites
from bench.common import Measurement, Mode, Results, deployment_env, percentile
from service.bootstrap import bootstrap
from service.settings import Settings
from tests.harness import PostgresServer, wait_until

CHECKOUT = Path(__file__).resolve().parent.parent
SAMPLE_EVERY = 0.02


def paced(writes: ProductWrites, rate: float, seconds: float) -> int:
    """Send updates at ``rate`` per second for ``seconds``; return how many were sent."""
    command = writes.command(1)
    began = time.perf_counter()
    sent = 0
    while (now := time.perf_counter() - began) < seconds:
        due = sent / rate
        if due > now:
            time.sleep(due - now)
        command(0, sent)
        sent += 1
    return sent


def max_rate(writes: ProductWrites, seconds: float = 2.0) -> float:
    command = writes.command(1)
    began, sent = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        command(0, sent)
        sent += 1
    return sent / (time.perf_counter() - began)


def run(server: PostgresServer, mode: Mode, results: Results) -> None:
    env = deployment_env(server, CRM_PROJECTIONS_INLINE="false", CRM_POLL_INTERVAL="0.5")
    service = bootstrap(Settings.from_env(env))
    worker = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "projections", "run"],
        cwd=CHECKOUT,
        env={**_base_env(), **env},
    )
    try:
        writes = ProductWrites(service, 1)
        wait_until(
            lambda: max(lag.events for lag in service.runner.lag().values()) == 0,
            60,
            "worker started",
        )
        rate = max_rate(writes) / 2
        results.notes.append(f"projection lag: paced at {rate:.0f} updates/s (half the max)")
        p99s, maxima = [], []
        for index in range(min(mode.repeat, 3) + 1):
            samples: list[float] = []
            stop = threading.Event()

            def sample(into: list[float] = samples, until: threading.Event = stop) -> None:
                while not until.wait(SAMPLE_EVERY):
                    into.append(max(lag.seconds for lag in service.runner.lag().values()))

            sampler = threading.Thread(target=sample)
            sampler.start()
            paced(writes, rate, mode.lag_seconds if index else 2.0)
            stop.set()
            sampler.join()
            if index:  # the first run is the warm-up
                p99s.append(percentile(samples, 0.99))
                maxima.append(max(samples))
        results.add(
            Measurement(
                "lag", f"p99 at {rate:.0f} cmd/s", "product", "s", p99s, {"max_s": max(maxima)}
            )
        )
    finally:
        worker.terminate()
        worker.wait(30)
        service.close()


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)
