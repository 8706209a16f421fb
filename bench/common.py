"""What every scenario shares: the mode's sizes, a durable PostgreSQL, fresh deployments on
it, and how figures are recorded (median, min and max of several timed runs after a warm-up).
"""

from __future__ import annotations

import base64
import os
import statistics
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from domain.tenant import Tenant
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from tests.harness import PostgresServer

ADMIN_TOKEN = "crm_admin_bench_" + "b" * 32


@dataclass(frozen=True)
class Mode:
    """Sizes of one run. ``quick`` is for development (about 4 minutes); ``full`` is the
    one the README quotes."""

    name: str
    repeat: int  # timed runs per measurement, after one warm-up
    commands: int  # commands per timed run of the appends scenario (per writer)
    http_seconds: float  # length of one timed HTTP run
    log_events: int  # N for replay and verification
    erasure_repeat: int
    lag_seconds: float
    relay_events: int
    read_seconds: float  # length of one timed run of the reads scenario
    read_repeat: int  # its timed runs per measurement, after a warm-up half as long
    read_clients: tuple[int, ...]  # its numbers of clients (a page of 500 at 32 takes 3 s)


QUICK = Mode("quick", 3, 100, 2.0, 20_000, 3, 4.0, 5_000, 1.0, 2, (1, 8))
FULL = Mode("full", 5, 300, 8.0, 1_000_000, 5, 20.0, 50_000, 4.0, 5, (1, 8, 32))


@dataclass
class Measurement:
    """One figure, measured ``len(samples)`` times; ``extra`` holds what goes with it
    (latency percentiles, peak RSS)."""

    scenario: str
    case: str
    subject: str  # "product" or "library"
    unit: str
    samples: list[float]
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "median": self.median,
            "min": min(self.samples),
            "max": max(self.samples),
        }


@dataclass(frozen=True)
class Target:
    """A goal from issue #7, reported as met or not (never asserted)."""

    name: str
    goal: str
    measured: str
    met: bool | None  # None: the scenario did not run (or failed)


class Results:
    """Measurements and targets of one run, in the order they were taken."""

    def __init__(self) -> None:
        self.measurements: list[Measurement] = []
        self.targets: list[Target] = []
        self.notes: list[str] = []

    def add(self, measurement: Measurement) -> Measurement:
        self.measurements.append(measurement)
        print(_line(measurement), flush=True)
        return measurement

    def find(self, scenario: str, case: str, subject: str) -> Measurement | None:
        for m in self.measurements:
            if (m.scenario, m.case, m.subject) == (scenario, case, subject):
                return m
        return None

    def target(self, name: str, goal: str, measured: str, met: bool) -> None:
        self.targets.append(Target(name, goal, measured, None if "nan" in measured else met))


def _line(m: Measurement) -> str:
    extra = "  ".join(f"{k} {v:,.1f}" for k, v in m.extra.items())
    return (
        f"  {m.scenario:<12} {m.case:<28} {m.subject:<8} {m.median:>11,.1f} {m.unit:<9}"
        f" [{min(m.samples):,.1f} - {max(m.samples):,.1f}]  {extra}"
    )


def repeat(times: int, run: Callable[[], float], warm_up: bool = True) -> list[float]:
    """Run once to warm up (unless told not to), then ``times`` timed runs."""
    if warm_up:
        run()
    return [run() for _ in range(times)]


def interleaved(
    times: int, product: Callable[[], float], library: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Warm both up, then alternate timed runs, so a noisy neighbour hits both alike."""
    product()
    library()
    pairs = [(product(), library()) for _ in range(times)]
    return [p for p, _ in pairs], [b for _, b in pairs]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(round(fraction * (len(ordered) - 1)), len(ordered) - 1)
    return ordered[index]


def random_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def deployment_env(server: PostgresServer, **extra: str) -> dict[str, str]:
    """The environment of a fresh deployment: its own event store and keystore databases
    on the benchmark server, its own keys."""
    name = uuid.uuid4().hex[:10]
    return {
        "CRM_DATA_DIR": tempfile.mkdtemp(prefix="crm-bench-"),
        "CRM_DATABASE_URL": server.create_database(f"bench_{name}"),
        "CRM_KEYSTORE_URL": server.create_database(f"bench_{name}_keys"),
        "CRM_KEK": random_key(),
        "CRM_INDEX_KEY": random_key(),
        "CRM_SIGNING_KEY": random_key(),
        "CRM_LEDGER_SIGNING_KEY": random_key(),
        "CRM_API_SECRET": random_key(),
        "CRM_ADMIN_TOKEN": ADMIN_TOKEN,
        "CRM_LOG_LEVEL": "WARNING",
        **extra,
    }


def bench_tenant(service: Service, name: str = "Bench") -> Tenant:
    """A scenario's tenant, created as a served deployment would create it: through
    ``answer``, which brings the read models up to it, so that every command after it
    applies them in its own transaction (as under ``crm serve``, whose follower has caught
    up before the first request). Taken with ``.value`` alone on a fresh log, the read
    models stay untracked and the commands measured write none of them."""
    tenant, _ = service.answer(service.tenants.create(name))
    return tenant


def require_projected(service: Service) -> None:
    """Fail the scenario unless its commands kept the read models at the log's head: a
    figure for writes that skipped them would flatter the product."""
    head = service.runner.head()
    if not service.runner.reached(head):
        raise RuntimeError(f"read models behind the log's head ({head}): writes unprojected")


@contextmanager
def deployment(server: PostgresServer, **extra: str) -> Iterator[Service]:
    service = bootstrap(Settings.from_env(deployment_env(server, **extra)))
    try:
        yield service
    finally:
        service.close()
