"""The HTTP load generator, run in its own process so it does not share the server's GIL.

``python -m bench.load_client '<json>'`` with ``base``, ``token``, ``op`` (``create`` or
``patch``), ``clients``, ``seconds`` and ``runs``. Closed loop: each client sends its next
request when the previous one answered. For ``patch`` each client first creates its own
contacts (untimed), so clients never race on one contact. Prints one JSON document: per
run, requests completed, errors, seconds, and latency p50/p99 in ms.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httpx
import orjson

CONTACTS_PER_CLIENT = 4


def _body(n: int) -> dict[str, Any]:
    return {
        "full_name": f"Budi Santoso {n}",
        "email": f"budi{n}@example.id",
        "phone": "+62 812 3456 7890",
        "company": "Toko Sejahtera",
        "age": 20 + n % 60,
    }


async def _client(
    http: httpx.AsyncClient, op: str, contacts: list[str], deadline: float, out: list[float]
) -> int:
    errors, n = 0, 0
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        if op == "create":
            response = await http.post("/v1/contacts", json=_body(n))
            ok = response.status_code == 201
        else:
            contact = contacts[n % len(contacts)]
            response = await http.patch(f"/v1/contacts/{contact}", json={"age": 20 + n % 60})
            ok = response.status_code == 200
        n += 1
        if ok:
            out.append(time.perf_counter() - started)
        else:
            errors += 1
    return errors


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(fraction * (len(ordered) - 1)), len(ordered) - 1)]


async def main(config: dict[str, Any]) -> dict[str, Any]:
    clients: int = config["clients"]
    headers = {"authorization": f"Bearer {config['token']}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=config["base"], headers=headers, limits=limits, timeout=60
    ) as http:
        pools: list[list[str]] = [[] for _ in range(clients)]
        if config["op"] == "patch":
            for pool in pools:
                for n in range(CONTACTS_PER_CLIENT):
                    response = await http.post("/v1/contacts", json=_body(n))
                    response.raise_for_status()
                    pool.append(response.json()["id"])
        runs = []
        for _ in range(config["runs"]):
            latencies: list[float] = []
            started = time.perf_counter()
            deadline = started + config["seconds"]
            errors = await asyncio.gather(
                *(
                    _client(http, config["op"], pools[i], deadline, latencies)
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
    print(orjson.dumps(asyncio.run(main(orjson.loads(sys.argv[1])))).decode())
