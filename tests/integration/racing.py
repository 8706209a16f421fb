"""Two projection runners catching up at once, as two processes of the service would."""

from __future__ import annotations

import threading

from projections.runner import ReadModelRunner
from service.bootstrap import Service


def race_two_runners(service: Service) -> list[BaseException]:
    """Run the service's runner and a second one over the same store in parallel threads;
    return what either raised."""
    runners = [
        service.runner,
        ReadModelRunner(service.crm, service.read_models, service.runner.projections),
    ]
    errors: list[BaseException] = []

    def run(runner: ReadModelRunner) -> None:
        try:
            runner.catch_up()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
