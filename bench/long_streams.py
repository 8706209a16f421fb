"""PATCH on a contact with 10 events and on one with 10,000 (issue #15): with snapshots,
the long stream should cost about what the short one does.

Each timed PATCH is what ``PATCH /v1/contacts/{id}`` runs, in process: the decision (the
contact loaded, live, the purpose allowed), the update (loaded again, sealed, committed),
the read models brought up, the answer opened and its access record committed. Both
contacts live in one deployment and are patched in turn, so a noisy neighbour hits both
alike. Three deployments: snapshots off (``CRM_SNAPSHOT_EVERY_EVENTS=0``, the replay of the
whole stream, the baseline) and at the default interval, both without the aggregate cache
(``CRM_AGGREGATE_CACHE_SIZE=0``), so that every load is cold, as the first one after a
restart is: what the target is about, since snapshots serve the loads the cache cannot;
and the defaults, where the contacts stay cached.
"""

from __future__ import annotations

import time
import uuid

from bench.common import Measurement, Mode, Results, bench_tenant, deployment
from bench.erasure import contact_with_events
from service.bootstrap import Service
from tests.harness import PostgresServer
from tests.witness import access_for

SHORT, LONG = 10, 10_000
COLD = {"CRM_AGGREGATE_CACHE_SIZE": "0"}
# subject -> the deployment's settings beyond its defaults
CONFIGURATIONS: tuple[tuple[str, dict[str, str]], ...] = (
    ("no snaps", {**COLD, "CRM_SNAPSHOT_EVERY_EVENTS": "0"}),
    ("product", COLD),
    ("cached", {}),
)


def case(events: int) -> str:
    return f"patch, {events:,} events"


def patch_ms(service: Service, tenant_id: uuid.UUID, contact_id: uuid.UUID, n: int) -> float:
    """One PATCH as the route runs it; its latency in milliseconds."""
    started = time.perf_counter()
    access = access_for(service, tenant_id, "account_management")
    service.decide(access, contact_id)
    contact = service.answer(
        service.contacts.update(tenant_id, contact_id, "bench", {"job_title": f"Staf {n}"}, None)
    )
    service.crm.open_contact(contact, access)
    service.record_access(access)
    return (time.perf_counter() - started) * 1000


def measure(service: Service, patches: int) -> dict[int, list[float]]:
    """Latencies of ``patches`` PATCHes on each contact, alternating, after a warm-up."""
    tenant = bench_tenant(service)
    contacts = {size: contact_with_events(service, tenant.id, size) for size in (SHORT, LONG)}
    samples: dict[int, list[float]] = {SHORT: [], LONG: []}
    for n in range(patches + 1):
        for size, contact_id in contacts.items():
            latency = patch_ms(service, tenant.id, contact_id, n)
            if n:  # the first round warms up
                samples[size].append(latency)
    return samples


def run(server: PostgresServer, mode: Mode, results: Results) -> None:
    patches = mode.repeat * 20
    for subject, extra in CONFIGURATIONS:
        with deployment(server, **extra) as service:
            samples = measure(service, patches)
        for size, latencies in samples.items():
            results.add(Measurement("long_streams", case(size), subject, "ms", latencies))
