"""The HTTP load generator, run in its own process so it does not share the server's GIL.

``python -m bench.load_client`` with a JSON document on stdin (or as its argument):
``base``, ``token`` (none for an app without authentication), ``op`` (``create``,
``patch`` or ``read``), ``clients``, ``seconds`` and ``runs`` (optionally
``warm_up_seconds``, the length of the first run). Closed loop: each client sends its next
request when the previous one answered. For ``patch`` each client first creates its own
contacts (untimed), so clients never race on one contact. For ``read`` each client GETs
``paths`` in turn, starting at its own offset, so clients spread over the seeded subjects.
Prints one JSON document: per run, requests completed, errors, seconds, and latency
p50/p99 in ms.
"""

from __future__ import annotations

import asyncio
import sys
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx
import orjson

CONTACTS_PER_CLIENT = 4


def contact_body(n: int) -> dict[str, Any]:
    """A contact of the benchmarks, the nth: the same shape in every scenario."""
    return {
        "full_name": f"Budi Santoso {n}",
        "email": f"budi{n}@example.id",
        "phone": "+62 812 3456 7890",
        "company": "Toko Sejahtera",
        "age": 20 + n % 60,
    }


async def _request(http: httpx.AsyncClient, op: str, targets: list[str], n: int) -> bool:
    """One request of ``op``; whether it answered as it should."""
    if op == "create":
        response = await http.post("/v1/contacts", json=contact_body(n))
        return response.status_code == 201
    target = targets[n % len(targets)]
    if op == "read":
        response = await http.get(target)
    else:
        response = await http.patch(f"/v1/contacts/{target}", json={"age": 20 + n % 60})
    return response.status_code == 200


async def _client(
    http: httpx.AsyncClient, op: str, targets: list[str], deadline: float, out: list[float]
) -> int:
    errors, n = 0, 0
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        ok = await _request(http, op, targets, n)
        n += 1
        if ok:
            out.append(time.perf_counter() - started)
        else:
            errors += 1
    return errors


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(fraction * (len(ordered) - 1)), len(ordered) - 1)]


async def _targets(http: httpx.AsyncClient, config: dict[str, Any]) -> list[list[str]]:
    """What each client works on: its own contacts (``patch``, created here, untimed), the
    given paths from its own offset (``read``), nothing (``create``)."""
    clients: int = config["clients"]
    if config["op"] == "read":
        paths: list[str] = config["paths"]
        step = max(len(paths) // clients, 1)
        return [paths[i * step :] + paths[: i * step] for i in range(clients)]
    pools: list[list[str]] = [[] for _ in range(clients)]
    if config["op"] == "patch":
        for pool in pools:
            for n in range(CONTACTS_PER_CLIENT):
                response = await http.post("/v1/contacts", json=contact_body(n))
                response.raise_for_status()
                pool.append(response.json()["id"])
    return pools


async def main(config: dict[str, Any]) -> dict[str, Any]:
    clients: int = config["clients"]
    headers = {"authorization": f"Bearer {config['token']}"} if config.get("token") else {}
    # One connection per client, each its own httpx client: one pool shared by 32 clients
    # costs the load generator so much CPU that it, not the server, sets the rate.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with AsyncExitStack() as stack:
        https = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=config["base"], headers=headers, limits=limits, timeout=60
                )
            )
            for _ in range(clients)
        ]
        pools = await _targets(https[0], config)
        runs = []
        for run in range(config["runs"]):
            latencies: list[float] = []
            started = time.perf_counter()
            seconds = config["seconds"] if run else config.get("warm_up_seconds", config["seconds"])
            deadline = started + seconds
            errors = await asyncio.gather(
                *(
                    _client(https[i], config["op"], pools[i], deadline, latencies)
                    for i in range(clients)
                )
            )
            elapsed = time.perf_counter() - started
            runs.append(
                {
                    "count": len(latencies),
                    "errors": sum(errors),
                    "seconds": elapsed,
                    "p50_ms": _percentile(latencies, 0.50) * 1000 if latencies else 0.0,
                    "p99_ms": _percentile(latencies, 0.99) * 1000 if latencies else 0.0,
                }
            )
    return {"runs": runs}


if __name__ == "__main__":
    given = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.buffer.read()
    print(orjson.dumps(asyncio.run(main(orjson.loads(given)))).decode())
