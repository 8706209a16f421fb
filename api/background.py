"""Work the API process does on its own schedule: executing scheduled erasures when due."""

from __future__ import annotations

import logging
import threading

from service.bootstrap import Service

log = logging.getLogger("crm.background")


class ErasureSweep:
    """A daemon thread that runs due erasures every ``CRM_ERASURE_SWEEP_SECONDS``."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="erasure-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.service.settings.erasure_sweep_seconds):
            try:
                if self.service.erasures.run_due():
                    self.service.runner.catch_up()
            except Exception as exc:  # keep sweeping; the type only, messages may hold data
                log.error("erasure sweep failed", extra={"error_type": type(exc).__name__})
