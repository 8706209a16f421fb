"""Benchmark of the audit ledger: write-path overhead and verification speed.

Run: ``.venv/bin/python -m bench.ledger_bench [--events 50000] [--saves 2000]``. Starts its
own PostgreSQL (tests/harness.py), prints figures, and stops it. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
import uuid
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from crypto.signing import Signer
from service.audit import StoreSource, verify_ledger
from service.bootstrap import event_store_env
from storage.ledger import CheckpointPolicy, LedgerRecorder, LedgerWriter, PostgresLedgerRecorder
from tests.harness import PostgresServer, start_postgres

SIGNER_SEED = b"\x01" * 32


class Note(Aggregate):
    """An aggregate shaped like a contact event: a few hundred bytes of opaque tokens."""

    class Written(Aggregate.Event):
        body: dict[str, str]

    def __init__(self) -> None:
        self.count = 0

    def write(self, body: dict[str, str]) -> None:
        self.trigger_event(self.Written, body=body)


BODY = {f: "s1." + "x" * 32 + "." + "y" * 80 for f in ("full_name", "email", "phone", "company")}


class Plain(Application[uuid.UUID]):
    name = "plain"


class Ledgered(Application[uuid.UUID]):
    name = "ledgered"

    def construct_recorder(self) -> Any:
        recorder = super().construct_recorder()
        assert isinstance(recorder, LedgerRecorder)
        recorder.attach_ledger(LedgerWriter(Signer(SIGNER_SEED), CheckpointPolicy(1000, 60)))
        return recorder


def _env(server: PostgresServer, name: str, ledger: bool) -> dict[str, str]:
    env = event_store_env(server.create_database(name))
    if ledger:
        env["APPLICATION_RECORDER_TOPIC"] = get_topic(PostgresLedgerRecorder)
    return env


def saves_per_second(app: Application[uuid.UUID], saves: int) -> float:
    started = time.perf_counter()
    for _ in range(saves):
        note = Note()
        note.write(BODY)
        app.save(note)
    return saves / (time.perf_counter() - started)


def fill(app: Application[uuid.UUID], events: int) -> None:
    per_save = 100
    for _ in range(events // per_save):
        notes = []
        for _ in range(per_save // 10):
            note = Note()
            for _ in range(9):
                note.write(BODY)
            notes.append(note)
        app.save(*notes)


def _verify_child(env: dict[str, str], public_key: str, out: Any) -> None:
    app = Ledgered(env=env)
    started = time.perf_counter()
    verdict = verify_ledger(StoreSource(app.recorder), public_key)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.send((verdict.ok, verdict.checked, elapsed, rss_mb))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--saves", type=int, default=2_000)
    args = parser.parse_args()
    server = start_postgres(durable=True)
    try:
        plain = Plain(env=_env(server, "bench_plain", ledger=False))
        ledgered = Ledgered(env=_env(server, "bench_ledger", ledger=True))
        saves_per_second(plain, 200)  # warm-up
        saves_per_second(ledgered, 200)
        rates = {"plain": [], "ledger": []}
        for _ in range(3):
            rates["plain"].append(saves_per_second(plain, args.saves // 3))
            rates["ledger"].append(saves_per_second(ledgered, args.saves // 3))
        median = {k: sorted(v)[1] for k, v in rates.items()}
        print(
            f"single-event saves/s  plain {median['plain']:8.0f}   with ledger"
            f" {median['ledger']:8.0f}   ratio {median['ledger'] / median['plain']:.2f}"
        )

        fill(ledgered, args.events)
        size = ledgered.recorder.max_notification_id() or 0
        receiver, sender = multiprocessing.Pipe(duplex=False)
        env = _env_of(ledgered)
        child = multiprocessing.get_context("spawn").Process(
            target=_verify_child, args=(env, Signer(SIGNER_SEED).public_key, sender)
        )
        child.start()
        ok, checked, elapsed, rss = receiver.recv()
        child.join()
        print(
            f"verify  {checked} events (store holds {size})  ok={ok}  {checked / elapsed:,.0f}"
            f" events/s  peak RSS {rss:.0f} MB"
        )
    finally:
        server.stop()
    return 0


def _env_of(app: Application[uuid.UUID]) -> dict[str, str]:
    return {k: v for k, v in app.env.items() if not k.startswith("LEDGERED_")}


if __name__ == "__main__":
    sys.exit(main())
