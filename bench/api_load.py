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
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import ADMIN_TOKEN, Measurement, Mode, Results, deployment_env
from tests.harness import PostgresServer, free_port, wait_for_port

CHECKOUT = Path(__file__).resolve().parent.parent
CLIENTS = (1, 8, 32)


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
    done = subprocess.run(
        [sys.executable, "-m", "bench.load_client", orjson.dumps(config).decode()],
        cwd=CHECKOUT,
        check=True,
        capture_output=True,
    )
    runs: list[dict[str, Any]] = orjson.loads(done.stdout)["runs"]
    return runs[1:]  # the first is the warm-up


def run(server: PostgresServer, mode: Mode, results: Results) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        cwd=CHECKOUT,
        env={**os.environ, **deployment_env(server)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 60)
        token = agent_token(base)
        for op in ("create", "patch"):
            for clients in CLIENTS:
                runs = load(base, token, op, clients, mode)
                case = f"{op}, {clients} client{'s' if clients > 1 else ''}"
                errors = sum(r["errors"] for r in runs)
                rates = [r["count"] / r["seconds"] for r in runs]
                results.add(
                    Measurement("http", case, "product", "cmd/s", rates, {"errors": errors})
                )
                results.add(
                    Measurement("http", case + " p50", "product", "ms", [r["p50_ms"] for r in runs])
                )
                results.add(
                    Measurement("http", case + " p99", "product", "ms", [r["p99_ms"] for r in runs])
                )
    finally:
        process.terminate()
        process.wait(30)
