"""Appends: the product's write path against a plain ``eventsourcing`` Application.

A command loads a contact, records 1 or 10 changes and saves them, from 1 or 4 writer
threads at once (and 1 change from 16). The product does it through ``CRM`` (AES-256-GCM
sealing under the subject's key, the ledger entry and signed head in the same transaction,
its read models with them, group commit);
the library baseline does the same with an aggregate of the same shape holding plaintext,
default transcoder, no ledger. Both write to the same durable PostgreSQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from bench.common import (
    Measurement,
    Mode,
    Results,
    bench_tenant,
    deployment,
    interleaved,
    require_projected,
)
from service.bootstrap import Service
from service.stores import event_store_env
from tests.harness import PostgresServer

POOL = 100  # contacts per writer: each gets a few dozen events at most over a run
DETAILS = {
    "full_name": "Budi Santoso",
    "email": "budi.santoso@example.id",
    "phone": "+62 812 3456 7890",
    "company": "Toko Sejahtera",
    "job_title": "Purchasing manager",
    "age": 38,
}
# (events per command, writers); 16 writers: what group commit makes of concurrency
CASES = ((1, 1), (10, 1), (1, 4), (10, 4), (1, 16))


class PlainContact(Aggregate):
    """The contact's shape without sealing: the same fields, in clear."""

    class Registered(Aggregate.Created):
        tenant_id: str
        actor: str
        fields: dict[str, Any]

    class Updated(Aggregate.Event):
        tenant_id: str
        actor: str
        fields: dict[str, Any]
        cleared: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, PlainContact)
            aggregate.fields.update(self.fields)

    def __init__(self, tenant_id: str, actor: str, fields: dict[str, Any]) -> None:
        self.tenant_id = tenant_id
        self.fields = dict(fields)

    def update(self, actor: str, changes: dict[str, Any]) -> None:
        self.trigger_event(
            self.Updated, tenant_id=self.tenant_id, actor=actor, fields=changes, cleared=[]
        )


class Library(Application[uuid.UUID]):
    name = "library"


Command = Callable[[int, int], None]  # (writer, sequence number)


class ProductWrites:
    def __init__(self, service: Service, writers: int) -> None:
        self.crm = service.crm
        self.contacts = service.contacts
        self.tenant = bench_tenant(service)
        self.pools = [
            [self.contacts.register(self.tenant.id, "bench", DETAILS).value.id for _ in range(POOL)]
            for _ in range(writers)
        ]

    def command(self, events: int) -> Command:
        def run(writer: int, n: int) -> None:
            contact_id = self.pools[writer][n % POOL]
            if events == 1:
                self.contacts.update(
                    self.tenant.id, contact_id, "bench", {"age": 20 + n % 60}, None
                )
                return
            contact = self.crm.contact(self.tenant.id, contact_id)
            for i in range(events):
                contact.update(actor="bench", changes={"age": 20 + i}, sealer=self.crm.sealer)
            self.crm.commit(contact)

        return run


class LibraryWrites:
    def __init__(self, app: Library, writers: int) -> None:
        self.app = app
        self.tenant = str(uuid.uuid4())
        self.pools: list[list[uuid.UUID]] = []
        for _ in range(writers):
            contacts = [PlainContact(self.tenant, "bench", DETAILS) for _ in range(POOL)]
            app.save(*contacts)
            self.pools.append([c.id for c in contacts])

    def command(self, events: int) -> Command:
        def run(writer: int, n: int) -> None:
            contact: PlainContact = self.app.repository.get(self.pools[writer][n % POOL])
            for i in range(events):
                contact.update("bench", {"age": 20 + (n + i) % 60})
            self.app.save(contact)

        return run


def commands_per_second(command: Command, writers: int, per_writer: int) -> float:
    """Run ``per_writer`` commands on each of ``writers`` threads; commands per second."""
    start = threading.Barrier(writers + 1)
    errors: list[BaseException] = []
    counter = iter(range(10**9))

    def writer(index: int) -> None:
        start.wait()
        try:
            for _ in range(per_writer):
                command(index, next(counter))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return writers * per_writer / elapsed


def case_name(events: int, writers: int) -> str:
    return f"{events} ev/cmd, {writers} writer{'s' if writers > 1 else ''}"


def run(server: PostgresServer, mode: Mode, results: Results) -> None:
    library = Library(env=event_store_env(server.create_database(f"lib_{uuid.uuid4().hex[:8]}")))
    try:
        with deployment(server) as service:
            for events, writers in CASES:
                per_writer = mode.commands if events == 1 else max(mode.commands // 5, 10)
                product = ProductWrites(service, writers).command(events)
                baseline = LibraryWrites(library, writers).command(events)
                samples = interleaved(
                    mode.repeat,
                    partial(commands_per_second, product, writers, per_writer),
                    partial(commands_per_second, baseline, writers, per_writer),
                )
                name = case_name(events, writers)
                results.add(Measurement("appends", name, "product", "cmd/s", samples[0]))
                results.add(Measurement("appends", name, "library", "cmd/s", samples[1]))
            require_projected(service)
    finally:
        library.close()
