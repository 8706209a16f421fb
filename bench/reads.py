"""HTTP reads of personal data, each recorded in the processing trail before it answers
(issue 13, "no purpose, no plaintext"), against a bare app that only reads and opens a row.

A real ``crm serve`` on the benchmark PostgreSQL, its defaults untouched (the trail cannot
be turned off): one contact by id, an email search, a page of 500, a subject's export; each
at 1, 8 and 32 clients (quick mode: 1 and 8), in req/s with p50/p99 latency and the ratio
to the bare app (:mod:`bench.bare_app`, served the same way, the same load client, the same
database server) at the same number of clients. Around each kind of read, what the trail
adds to the database, per recorded read: the events and ledger rows (as stored, and on disk
with their indexes) and the trail's read model.

Contacts are registered in process before the server starts (500 through HTTP would take
longer than the reads). The exported subjects live in a tenant of their own: a page of 500
puts one record in the trail of every subject on it, and an export carries the subject's
whole trail, so exporting subjects that were paged through would measure how long the
run had been paging.
"""

from __future__ import annotations

import base64
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from bench import bare_app
from bench.api_load import CRM_SERVE, add_load, clients_case, drive, serving
from bench.common import Measurement, Mode, Results, deployment_env
from bench.load_client import contact_body
from domain.user import Role
from service.bootstrap import Service, bootstrap
from service.key_custody import EVENTS_TABLE
from service.settings import Settings
from tests.harness import PostgresServer

SEEDED = 500  # contacts of the reading tenant: exactly one full page
EXPORTED = 100  # contacts of the exporting tenant
PAGE = 500
BARE = "bare read"
VERSUS = "vs bare"
LEDGER_TABLES = ("ledger_entries", "ledger_checkpoints", "ledger_head")
TRAIL_TABLES = ("access_view", "access_subjects_view")
RECORDS = f"SELECT count(*) FROM {EVENTS_TABLE['postgres']} WHERE topic LIKE '%AccessRecord%'"


@dataclass(frozen=True)
class Tenant:
    """A seeded tenant: a reader's token and its contacts' ids and emails."""

    token: str
    ids: list[str]
    emails: list[str]


@dataclass(frozen=True)
class Read:
    """One kind of read: its name, the seeded tenant it reads, the paths it cycles over."""

    name: str
    tenant: str  # "reading" or "exporting"
    paths: Callable[[Tenant], list[str]]


READS = (
    Read("get", "reading", lambda t: [f"/v1/contacts/{i}" for i in t.ids]),
    Read("email search", "reading", lambda t: [f"/v1/contacts?email={e}" for e in t.emails]),
    Read(f"page of {PAGE}", "reading", lambda t: [f"/v1/contacts?limit={PAGE}"]),
    Read("export", "exporting", lambda t: [f"/v1/contacts/{i}/export" for i in t.ids]),
)


def _tenant(service: Service, name: str, role: Role, contacts: int) -> Tenant:
    """A tenant with one user of ``role`` and ``contacts`` contacts, committed in process."""
    tenant, admin = service.answer(service.tenants.create(name))
    actor = str(admin.user_id)
    details = {"full_name": f"Bench {role.value}"}
    user = service.answer(service.tenants.register_user(tenant.id, actor, role, details, None))
    ids = [
        str(service.contacts.register(tenant.id, actor, contact_body(n)).value.id)
        for n in range(contacts)
    ]
    return Tenant(user.token, ids, [str(contact_body(n)["email"]) for n in range(contacts)])


def seed(env: dict[str, str]) -> dict[str, Tenant]:
    """The deployment's two tenants, its read models caught up, before it is served."""
    with bootstrap(Settings.from_env(env)) as service:
        tenants = {
            "reading": _tenant(service, "Bench readers", Role.AGENT, SEEDED),
            "exporting": _tenant(service, "Bench exports", Role.PRIVACY_OFFICER, EXPORTED),
        }
        service.catch_up()
    return tenants


@dataclass(frozen=True)
class Footprint:
    """What the event store database holds: access records, and bytes of the trail."""

    records: int
    rows: int  # events and ledger rows as stored (tuples, without indexes or free space)
    on_disk: int  # the same tables with their indexes, on disk
    trail_view: int  # the trail's read model on disk (same database by default)

    def per_record(self, before: Footprint) -> tuple[int, dict[str, float]]:
        records = self.records - before.records
        each = max(records, 1)
        return records, {
            "rows": (self.rows - before.rows) / each,
            "on_disk": (self.on_disk - before.on_disk) / each,
            "trail_view": (self.trail_view - before.trail_view) / each,
        }


def footprint(url: str) -> Footprint:
    """Counted, not estimated from pages: rows by ``pg_column_size``, disk by relation size."""
    events = (EVENTS_TABLE["postgres"], *LEDGER_TABLES)
    with psycopg.connect(url, autocommit=True) as conn:

        def one(sql: str) -> int:
            row = conn.execute(sql).fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        return Footprint(
            records=one(RECORDS),
            rows=sum(one(f"SELECT sum(pg_column_size(t.*)) FROM {t} t") for t in events),
            on_disk=sum(one(f"SELECT pg_total_relation_size('{t}')") for t in events),
            trail_view=sum(one(f"SELECT pg_total_relation_size('{t}')") for t in TRAIL_TABLES),
        )


def _load(base: str, token: str | None, paths: list[str], clients: int, mode: Mode) -> list[Any]:
    config = {
        "base": base,
        "token": token,
        "op": "read",
        "paths": paths,
        "clients": clients,
        "seconds": mode.read_seconds,
        "warm_up_seconds": mode.read_seconds / 2,
        "runs": mode.read_repeat + 1,
    }
    return drive(config)


def run_bare(server: PostgresServer, mode: Mode, results: Results) -> dict[int, Measurement]:
    """The baseline at each number of clients: its own database on the same server."""
    url = server.create_database(f"bench_bare_{uuid.uuid4().hex[:8]}")
    key = os.urandom(32)
    paths = [f"/rows/{i}" for i in bare_app.seed(url, key, SEEDED)]
    command = [sys.executable, "-m", "bench.bare_app", "--database", url]
    env = {bare_app.KEY_VARIABLE: base64.urlsafe_b64encode(key).decode()}
    rates = {}
    with serving(command, env) as base:
        for clients in mode.read_clients:
            runs = _load(base, None, paths, clients, mode)
            case = clients_case(BARE, clients)
            rates[clients] = add_load(results, "reads", case, "bare", "req/s", runs)
    return rates


def run_product(
    server: PostgresServer, mode: Mode, results: Results, bare: dict[int, Measurement]
) -> None:
    env = deployment_env(server)
    started = time.perf_counter()
    tenants = seed(env)
    seeded = sum(len(t.ids) for t in tenants.values())
    results.notes.append(f"reads: {seeded} contacts seeded in {time.perf_counter() - started:.0f}s")
    with serving(CRM_SERVE, env) as base:
        for read in READS:
            before = footprint(env["CRM_DATABASE_URL"])
            measure(base, read, tenants[read.tenant], mode, results, bare)
            records, per = footprint(env["CRM_DATABASE_URL"]).per_record(before)
            extra = {"records": records, "on disk": per["on_disk"], "trail view": per["trail_view"]}
            trail = f"{read.name}: trail"
            results.add(Measurement("reads", trail, "product", "B/read", [per["rows"]], extra))


def measure(
    base: str,
    read: Read,
    tenant: Tenant,
    mode: Mode,
    results: Results,
    bare: dict[int, Measurement],
) -> None:
    """One kind of read at each number of clients, and its ratio to the bare app."""
    for clients in mode.read_clients:
        runs = _load(base, tenant.token, read.paths(tenant), clients, mode)
        case = clients_case(read.name, clients)
        rate = add_load(results, "reads", case, "product", "req/s", runs)
        ratio = rate.median / bare[clients].median
        results.add(Measurement("reads", case, VERSUS, "x", [ratio]))


def run(server: PostgresServer, mode: Mode, results: Results) -> None:
    bare = run_bare(server, mode, results)
    run_product(server, mode, results, bare)
