"""Work the long-running processes do on their own schedule: executing scheduled erasures
when due (the API), and checkpointing the ledger's signed head (the API, the projection
worker and the relay)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from service.bootstrap import Service

log = logging.getLogger("crm.background")


class Periodic:
    """A daemon thread that runs ``step`` at once, then every ``interval`` seconds on a
    fixed schedule (a slow step does not push later ones back), until stopped. A failing
    step is logged by type and tried again at the next tick."""

    def __init__(self, name: str, interval: float, step: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval
        self.step = step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            try:
                self.step()
            except Exception as exc:  # keep going; the type only, messages may hold data
                log.error(f"{self.name} failed", extra={"error_type": type(exc).__name__})
            due = max(due + self.interval, time.monotonic())


def checkpointer(service: Service) -> Periodic:
    """Stores the signed head as a checkpoint whenever it is beyond the latest one, every
    ``CRM_CHECKPOINT_MAX_DELAY_SECONDS``: an entry is covered by a checkpoint within that
    delay even if no write follows it (DESIGN.md invariant 15). Every process that can be
    the only one alive runs one; concurrent ones are harmless (one row per size)."""
    return Periodic(
        "ledger-checkpointer",
        service.settings.checkpoint_max_delay_seconds,
        service.crm.ledger_recorder.checkpoint_head,
    )


def erasure_sweep(service: Service) -> Periodic:
    """Runs due erasures, and records any erasure an interruption left unrecorded, at start
    and every ``CRM_ERASURE_SWEEP_SECONDS``."""

    def sweep() -> None:
        if service.erasures.run_due():
            service.catch_up()

    return Periodic("erasure-sweep", service.settings.erasure_sweep_seconds, sweep)
