"""Liveness, readiness and metrics: no authentication, no tenant data."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from api.deps import ServiceDep
from api.problems import problem, responses
from api.routing import OneHopRoute
from projections.runner import Lag
from service.bootstrap import Service
from service.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"], route_class=OneHopRoute)
log = logging.getLogger("crm.api")


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


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(service: ServiceDep) -> Response:
    """Prometheus text format: the log head, each projection's position and lag (events,
    seconds), the relay's lag, answers given before the read models caught up, and
    histograms of request latency and group-commit batch sizes (:mod:`service.metrics`)."""
    return Response(service.metrics.exposition(), media_type=CONTENT_TYPE)
