"""Replay and verification over a log of N events: events/s and peak RSS.

The log is filled through ``CRM`` (sealed contacts of 100 events each, with their ledger
entries). Each measurement runs in a fresh process, spawned for it, so its peak RSS is its
own, and builds the service as the ``crm`` command does:

- replay: ``crm projections rebuild contacts`` (fresh tables, every event read, decoded
  and applied, blind indexes recomputed, swapped in);
- verification: ``crm audit verify`` (every event re-hashed, the chain, the Merkle root at
  each checkpoint, every signature);
- library baseline: the library's own read path over the same log (notifications
  selected in batches and decoded into domain events), with nothing applied or checked.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

import psycopg

from bench.appends import DETAILS
from bench.common import Measurement, Mode, Results, deployment_env
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from tests.harness import PostgresServer

EVENTS_PER_CONTACT = 100
CONTACTS_PER_COMMIT = 10
REPEAT = 3  # each run reads the whole log; the fill's writes and a first scan warm the cache


def fill(service: Service, events: int) -> int:
    """Store about ``events`` events; return the log's size."""
    crm = service.crm
    tenant, _ = service.tenants.create("Bench").value
    contacts = events // EVENTS_PER_CONTACT
    with ThreadPoolExecutor(4) as pool:  # key creations are durable: overlap their commits
        registered = list(
            pool.map(
                lambda _: service.contacts.register(tenant.id, "bench", DETAILS).value,
                range(contacts),
            )
        )
    for start in range(0, contacts, CONTACTS_PER_COMMIT):
        batch = registered[start : start + CONTACTS_PER_COMMIT]
        for contact in batch:
            for i in range(EVENTS_PER_CONTACT - 1):
                contact.update(
                    actor="bench",
                    changes={"age": 20 + i % 60, "job_title": f"Manager, team {i}"},
                    sealer=crm.sealer,
                )
        crm.commit(*batch)
    return crm.recorder.max_notification_id() or 0


def analyze(url: str) -> None:
    """Fresh planner statistics after the bulk fill, as autovacuum would gather them soon
    after a load in production: measured on stale ones, verify's page query was once
    planned as a hash join over the whole log."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def _peak_rss_mb() -> float:
    """This process's own peak (VmHWM). Not ``ru_maxrss``: Linux carries that across
    fork and exec, so a spawned child would report its parent's peak when larger."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rebuild(service: Service) -> int:
    from projections.rebuild import rebuild, select

    return rebuild(
        service.crm,
        service.read_models,
        select(service.runner.projections, "contacts"),
        batch_size=service.settings.projections.batch_size,
    )


def _verify(service: Service) -> int:
    from service.audit import StoreSource, verify_ledger

    verdict = verify_ledger(
        StoreSource(service.crm.ledger_recorder), service.ledger_signer.public_key
    )
    if not verdict.ok:
        raise RuntimeError(f"the ledger does not verify: {verdict.reason}")
    return verdict.checked


def _scan(service: Service) -> int:
    recorder, mapper = service.crm.recorder, service.crm.mapper
    start, count = 1, 0
    while notifications := recorder.select_notifications(start=start, limit=500):
        for notification in notifications:
            mapper.to_domain_event(notification)
        count += len(notifications)
        start = notifications[-1].id + 1
    return count


WORK: dict[str, Callable[[Service], int]] = {
    "rebuild": _rebuild,
    "verify": _verify,
    "scan": _scan,
}


def _child(work: str, env: dict[str, str], out: Connection) -> None:
    service = bootstrap(Settings.from_env(env))
    try:
        started = time.perf_counter()
        events = WORK[work](service)
        elapsed = time.perf_counter() - started
    finally:
        service.close()
    out.send((events, elapsed, _peak_rss_mb()))


def in_child(work: str, env: dict[str, str]) -> tuple[int, float, float]:
    """Run ``work`` in a spawned process: (events, seconds, peak RSS in MB)."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(work, env, sender))
    child.start()
    sender.close()
    try:
        events, seconds, peak = receiver.recv()
    except EOFError:
        raise RuntimeError(f"the {work} process died (exit {child.exitcode})") from None
    finally:
        child.join()
    return int(events), float(seconds), float(peak)


def measure(work: str, env: dict[str, str]) -> tuple[list[float], list[float]]:
    rates, rss = [], []
    for _ in range(REPEAT):
        events, seconds, peak = in_child(work, env)
        rates.append(events / seconds)
        rss.append(peak)
    return rates, rss


def run(server: PostgresServer, mode: Mode, results: Results) -> None:
    env = deployment_env(server)
    service = bootstrap(Settings.from_env(env))
    try:
        started = time.perf_counter()
        size = fill(service, mode.log_events)
        results.notes.append(
            f"replay/verify log: {size:,} events, filled in {time.perf_counter() - started:.0f}s"
        )
    finally:
        service.close()
    analyze(env["CRM_DATABASE_URL"])
    in_child("scan", env)  # warm-up: the whole log through the page cache once
    case = f"N={size:,}"
    for work, scenario, subject in (
        ("rebuild", "replay", "product"),
        ("verify", "verify", "product"),
        ("scan", "replay", "library"),
    ):
        rates, rss = measure(work, env)
        results.add(Measurement(scenario, case, subject, "events/s", rates))
        results.add(Measurement(scenario, case + " peak RSS", subject, "MB", rss))
