"""Liveness, readiness and metrics: no authentication, no tenant data."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import ServiceDep
from api.problems import problem, responses

router = APIRouter(tags=["operations"])
log = logging.getLogger("crm.api")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=responses(503))
def readyz(service: ServiceDep) -> JSONResponse:
    """The event store, the read models and the keystore answer."""
    try:
        head = service.crm.recorder.max_notification_id() or 0
        positions = service.runner.positions()
        service.keystore_db.ping()
    except Exception as exc:  # any failure to reach a store means "not ready"
        log.warning("not ready", extra={"error_type": type(exc).__name__})
        return problem(503, "not-ready", "Not ready", "a store is unreachable")
    return JSONResponse({"status": "ready", "head": head, "projections": positions})


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(service: ServiceDep) -> str:
    """Prometheus text format: the log head and each projection's position and lag."""
    head = service.crm.recorder.max_notification_id() or 0
    lines = [
        "# HELP crm_event_store_head Position of the newest stored event.",
        "# TYPE crm_event_store_head gauge",
        f"crm_event_store_head {head}",
        "# HELP crm_projection_lag_events Events stored but not yet applied, per projection.",
        "# TYPE crm_projection_lag_events gauge",
    ]
    for name, position in service.runner.positions().items():
        lines.append(f'crm_projection_lag_events{{projection="{name}"}} {head - position}')
    return "\n".join(lines) + "\n"
