"""Liveness, readiness and metrics: no authentication, no tenant data."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import ServiceDep
from api.problems import problem, responses
from projections.runner import Lag
from service.bootstrap import Service

router = APIRouter(tags=["operations"])
log = logging.getLogger("crm.api")

RELAY_PREFIX = "relay@"


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


def _too_far_behind(service: Service, lag: dict[str, Lag]) -> list[str]:
    limits = service.settings.projections
    return sorted(
        name
        for name, behind in lag.items()
        if behind.events > limits.max_lag_events or behind.seconds > limits.max_lag_seconds
    )


@router.get("/readyz", responses=responses(503))
def readyz(service: ServiceDep) -> JSONResponse:
    """The event store, the read models and the keystore answer, the newest data key still
    unwraps under the KEK, and no projection lags further behind the log than
    ``CRM_PROJECTION_MAX_LAG_EVENTS`` / ``..._SECONDS``."""
    try:
        head = service.crm.recorder.max_notification_id() or 0
        positions = service.runner.positions()
        lag = service.runner.lag()
        service.keystore_db.ping()
    except Exception as exc:  # any failure to reach a store means "not ready"
        log.warning("not ready", extra={"error_type": type(exc).__name__})
        return problem(503, "not-ready", "Not ready", "a store is unreachable")
    try:
        service.keystore.check_unwrapping()
    except Exception as exc:  # the KEK (or its KMS) no longer opens the data keys
        log.error("not ready: data keys do not unwrap", extra={"error_type": type(exc).__name__})
        return problem(503, "not-ready", "Not ready", "a data key does not unwrap under the KEK")
    lagging = _too_far_behind(service, lag)
    if lagging:
        log.warning("not ready: projections lag", extra={"projections": lagging})
        return problem(
            503, "not-ready", "Not ready", "read models lag behind: " + ", ".join(lagging)
        )
    return JSONResponse({"status": "ready", "head": head, "projections": positions})


def _gauge(name: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    lines += [f"{name}{labels} {value:g}" for labels, value in samples]
    return lines


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(service: ServiceDep) -> str:
    """Prometheus text format: the log head, each projection's position and lag (events,
    seconds), the relay's lag, and answers given before the read models caught up."""
    head = service.crm.recorder.max_notification_id() or 0
    lag = service.runner.lag()
    positions = service.runner.positions()
    relays = {
        name.removeprefix(RELAY_PREFIX): position
        for name, position in service.read_models.tracked().items()
        if name.startswith(RELAY_PREFIX)
    }
    timeouts = service.read_your_writes_stats.timeouts
    lines = [
        *_gauge("crm_event_store_head", "Position of the newest stored event.", [("", head)]),
        *_gauge(
            "crm_projection_position",
            "Position of the last event applied, per projection.",
            [(f'{{projection="{n}"}}', p) for n, p in positions.items()],
        ),
        *_gauge(
            "crm_projection_lag_events",
            "Events stored but not yet applied, per projection.",
            [(f'{{projection="{n}"}}', lag[n].events) for n in lag],
        ),
        *_gauge(
            "crm_projection_lag_seconds",
            "Age of the oldest event not yet applied, per projection (0 when caught up).",
            [(f'{{projection="{n}"}}', round(lag[n].seconds, 3)) for n in lag],
        ),
        *_gauge(
            "crm_relay_lag_events",
            "Events stored but not yet published to Kafka, per topic.",
            [(f'{{topic="{t}"}}', max(head - p, 0)) for t, p in relays.items()],
        ),
        "# HELP crm_read_your_writes_timeouts_total Answers sent before the read models"
        " reached the command's position.",
        "# TYPE crm_read_your_writes_timeouts_total counter",
        f"crm_read_your_writes_timeouts_total {timeouts}",
    ]
    return "\n".join(lines) + "\n"
