"""HTTP: create-contact and patch-contact commands per second, with p50/p99 latency.

A real ``crm serve`` process on the benchmark PostgreSQL, with its defaults (group commit
on, projections applied inline so each answer reflects its own write); the load generator
(:mod:`bench.load_client`) runs in another process. Both share the machine's cores: the
figures are what one small box does with client and server on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import ADMIN_TOKEN, Measurement, Mode, Results, deployment_env
from tests.harness import PostgresServer, free_port, wait_for_port

CHECKOUT = Path(__file__).resolve().parent.parent
CLIENTS = (1, 8, 32)
CRM_SERVE = [sys.executable, "-m", "api.cli", "serve"]


def agent_token(base: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as http:
        tenant = http.post(
            "/v1/tenants",
            json={"name": "Bench"},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        ).raise_for_status()
        user = http.post(
            "/v1/users",
            json={"full_name": "Bench agent", "role": "agent"},
            headers={"authorization": f"Bearer {tenant.json()['admin_token']}"},
        ).raise_for_status()
    return str(user.json()["token"])


def load(base: str, token: str, op: str, clients: int, mode: Mode) -> list[dict[str, Any]]:
    config = {
        "base": base,
        "token": token,
        "op": op,
        "clients": clients,
        "seconds": mode.http_seconds,
        "runs": mode.repeat + 1,
    }
    return drive(config)


def drive(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Run :mod:`bench.load_client` with ``config``; its timed runs (the warm-up left out)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.load_client"],
        input=orjson.dumps(config),  # on stdin: a read's paths would make a long command line
        cwd=CHECKOUT,
        capture_output=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load client failed: {done.stderr.decode()[-2000:]}")
    runs: list[dict[str, Any]] = orjson.loads(done.stdout)["runs"]
    return runs[1:]  # the first is the warm-up


def clients_case(name: str, clients: int) -> str:
    return f"{name}, {clients} client{'s' if clients > 1 else ''}"


def add_load(
    results: Results, scenario: str, case: str, subject: str, unit: str, runs: list[dict[str, Any]]
) -> Measurement:
    """The rate of the runs (with their errors), then their p50 and p99 latencies."""
    errors = sum(r["errors"] for r in runs)
    rates = [r["count"] / r["seconds"] for r in runs]
    rate = results.add(Measurement(scenario, case, subject, unit, rates, {"errors": errors}))
    for p in ("p50", "p99"):
        samples = [r[f"{p}_ms"] for r in runs]
        results.add(Measurement(scenario, f"{case} {p}", subject, "ms", samples))
    return rate


@contextmanager
def serving(command: list[str], env: dict[str, str]) -> Iterator[str]:
    """A server process on a free port (``command`` followed by ``--port N``), its base URL
    while it runs; terminated when the block ends."""
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=CHECKOUT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def run(server: PostgresServer, mode: Mode, results: Results) -> None:
    with serving(CRM_SERVE, deployment_env(server)) as base:
        token = agent_token(base)
        for op in ("create", "patch"):
            for clients in CLIENTS:
                runs = load(base, token, op, clients, mode)
                add_load(results, "http", clients_case(op, clients), "product", "cmd/s", runs)
