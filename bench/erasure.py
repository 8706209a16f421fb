"""Erasure latency for subjects with 10, 1,000 and 10,000 events: it should stay flat.

Each timed erasure is one ``Erasures.erase`` (key destroyed in the keystore, then the
erasure and key-destruction events recorded with their ledger entries), on a subject of
its own. Baseline: one durable single-event save through the library's Application, the
floor of any recorded command.
"""

from __future__ import annotations

import time
import uuid

from bench.appends import DETAILS, Library, PlainContact
from bench.common import Measurement, Mode, Results, bench_tenant, deployment, require_projected
from service.bootstrap import Service
from service.stores import event_store_env
from tests.harness import PostgresServer

SIZES = (10, 1_000, 10_000)
CHUNK = 500  # events per commit while building a subject's history


def contact_with_events(service: Service, tenant_id: uuid.UUID, events: int) -> uuid.UUID:
    """A contact with ``events`` events: registered, then updated in commits of CHUNK."""
    contact, _ = service.contacts.register(tenant_id, "bench", {"full_name": "Bench Subject"})
    remaining = events - 1
    while remaining > 0:
        loaded = service.crm.contact(tenant_id, contact.id)
        for i in range(min(remaining, CHUNK)):
            loaded.update(actor="bench", changes={"age": 20 + i % 50}, sealer=service.crm.sealer)
        remaining -= min(remaining, CHUNK)
        service.crm.commit(loaded)
    return contact.id


def erasure_ms(service: Service, tenant_id: uuid.UUID, subject: uuid.UUID) -> float:
    started = time.perf_counter()
    service.erasures.erase(tenant_id, subject, "bench", "benchmark", None)
    return (time.perf_counter() - started) * 1000


def single_save_ms(app: Library) -> float:
    contact = PlainContact("t", "bench", DETAILS)
    started = time.perf_counter()
    app.save(contact)
    return (time.perf_counter() - started) * 1000


def run(server: PostgresServer, mode: Mode, results: Results) -> None:
    with deployment(server) as service:
        tenant = bench_tenant(service)
        warm = contact_with_events(service, tenant.id, 10)
        erasure_ms(service, tenant.id, warm)
        for size in SIZES:
            subjects = [
                contact_with_events(service, tenant.id, size) for _ in range(mode.erasure_repeat)
            ]
            samples = [erasure_ms(service, tenant.id, s) for s in subjects]
            results.add(Measurement("erasure", f"{size:,} events", "product", "ms", samples))
        require_projected(service)
    library = Library(env=event_store_env(server.create_database(f"lib_{uuid.uuid4().hex[:8]}")))
    try:
        single_save_ms(library)
        samples = [single_save_ms(library) for _ in range(mode.erasure_repeat * 3)]
        results.add(Measurement("erasure", "single save (floor)", "library", "ms", samples))
    finally:
        library.close()
