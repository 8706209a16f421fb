"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api import openapi, problems
from api.background import checkpointer, erasure_sweep
from api.deps import reject_unknown_query
from api.disclosure import DisclosureMiddleware
from api.idempotency import IdempotencyMiddleware
from api.middleware import ServiceMiddleware
from api.routes import routers
from service.bootstrap import Service

# The privacy officers' and auditors' console: static files over the JSON API, no build step.
CONSOLE_DIR = Path(__file__).parent / "console"


def create_app(service: Service) -> FastAPI:
    """Build the API around an already bootstrapped service (the caller owns its lifetime)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sweep = erasure_sweep(service).start()
        checkpoints = checkpointer(service).start()
        try:
            yield
        finally:
            checkpoints.stop()
            sweep.stop()

    app = FastAPI(
        title="Privacy-first CRM",
        version="1.0.0",
        description="Event-sourced CRM with per-subject encryption and an audit ledger.",
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
    )
    app.state.service = service
    problems.install(app)
    included = routers()
    for router in included:
        app.include_router(router)
    openapi.install(app, included)
    mount_console(app)
    # Added last is outermost: ServiceMiddleware (ids, body bound, headers, logs) wraps
    # DisclosureMiddleware (an answer with personal values waits for its access record),
    # which wraps IdempotencyMiddleware (a replay is a disclosure too), which wraps the routes.
    app.add_middleware(IdempotencyMiddleware, service=service)
    app.add_middleware(DisclosureMiddleware, service=service)
    app.add_middleware(
        ServiceMiddleware,
        max_body_bytes=service.settings.max_body_bytes,
        latency=service.metrics.http_request_duration,
    )
    return app


def mount_console(app: FastAPI) -> None:
    """Serve the console at ``/console/`` (outside the OpenAPI document: it is not API).

    Its strict Content-Security-Policy is added by :class:`ServiceMiddleware`."""

    @app.get("/console", include_in_schema=False)
    def console_root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=308)

    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
