"""The ``crm`` command: serve the API and operate the service."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace

import orjson

from api import cli_audit, cli_keys, cli_portability
from api.background import checkpointer
from api.cli_support import cli_service
from api.progress import ProgressBar
from crypto.errors import KeyConfigurationError
from domain.errors import DomainError
from projections.follow import TRANSIENT, Follower, NotifyWaiter, PollingWaiter, Waiter, follow
from service.bootstrap import Service
from service.settings import SettingsError

_service = cli_service


# The API's follower only catches up what other processes wrote (its own commands apply
# their projections in their transaction): it lets a burst of commits settle this long
# instead of catching up after each one.
SERVE_FOLLOWER_SETTLE_S = 0.05


def _waiter(service: Service, stop: threading.Event, settle: float = 0.0) -> Waiter:
    """LISTEN/NOTIFY on PostgreSQL (wakes at once on a new event), polling on SQLite."""
    channel = getattr(service.crm.recorder, "channel_name", None)
    if channel and service.settings.database_url.startswith(("postgresql://", "postgres://")):
        here = getattr(service.crm.recorder, "projected_here", None)
        return NotifyWaiter(service.settings.database_url, channel, stop, settle, here)
    return PollingWaiter(stop)


def _stop_on_signals() -> threading.Event:
    """SIGTERM (docker stop) and SIGINT end the loop after the step in progress."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    service = _service()
    if args.tls_cert and not args.tls_key:
        raise SettingsError("--tls-cert needs --tls-key")
    scheme = "https" if args.tls_cert else "http"
    base = f"{scheme}://{args.host}:{args.port}"
    if args.print_admin_token:
        print(f"Platform admin token: {service.admin_token}", file=sys.stderr)
    print(f"API docs: {base}/docs   OpenAPI: {base}/openapi.json", file=sys.stderr)
    follower = None
    if service.settings.projections.inline:
        # Commands apply projections as they answer; this catches what other processes wrote.
        follower = Follower(
            service.catch_up,
            lambda stop: _waiter(service, stop, SERVE_FOLLOWER_SETTLE_S),
            service.settings.projections.poll_interval,
        ).start()
    try:
        uvicorn.run(
            create_app(service),
            host=args.host,
            port=args.port,
            access_log=False,  # ours is structured and leaves out query strings
            log_config=None,
            ssl_certfile=args.tls_cert,
            ssl_keyfile=args.tls_key,
        )
    finally:
        if follower is not None:
            follower.close()
        service.close()
    return 0


def tenant_create(args: argparse.Namespace) -> int:
    with _service() as service:
        tenant, admin = service.answer(service.tenants.create(args.name))
    print(
        orjson.dumps(
            {"id": str(tenant.id), "name": tenant.name, "admin_token": admin.token}
        ).decode()
    )
    return 0


def projections_catch_up(args: argparse.Namespace) -> int:
    with _service() as service:
        service.storage_run.operation = "crm projections catch-up"
        reached = service.catch_up()
    print(f"projections caught up to position {reached}")
    return 0


def projections_rebuild(args: argparse.Namespace) -> int:
    from projections.rebuild import select

    with _service() as service:
        chosen = select(service.runner.projections, args.name)
        names = ", ".join(p.name for p in chosen)
        started = time.monotonic()
        with ProgressBar(f"rebuilding {names}") as bar:
            reached = service.rebuild(chosen, progress=bar)
    elapsed = time.monotonic() - started
    print(f"rebuilt {names} up to position {reached} in {elapsed:.1f}s; swapped in")
    return 0


def projections_run(args: argparse.Namespace) -> int:
    if args.source == "kafka":
        return _run_from_kafka()
    service = _service()
    service.storage_run.operation = "crm projections run"
    stop = _stop_on_signals()
    checkpoints = checkpointer(service).start()
    try:
        follow(
            service.catch_up,
            stop=stop,
            waiter=_waiter(service, stop),
            interval=service.settings.projections.poll_interval,
            heartbeat=service.settings.projections.heartbeat_file,
        )
    finally:
        checkpoints.stop()
        service.close()
    return 0


def _run_from_kafka() -> int:
    """Read models fed from the Kafka topic. The worker still opens values (the blind
    indexes), so, like every storage run, it records that once in the ledger: it needs the
    event store as well as the keystore (DESIGN invariant 12)."""
    from kafka.errors import KafkaError

    from projections.kafka_feed import KafkaFeed

    service = _service()
    service.storage_run.operation = "crm projections run --source kafka"
    settings = service.settings
    feed = KafkaFeed(
        service.read_models,
        service.runner.projections,
        settings.kafka,
        max_records=settings.projections.batch_size,
    )

    def poll() -> int:
        arrived = feed.poll(timeout_ms)
        service.storage_run.record_if_opened()
        return arrived

    stop = _stop_on_signals()
    timeout_ms = max(int(settings.projections.poll_interval * 1000), 100)
    try:
        follow(
            poll,
            stop=stop,
            waiter=PollingWaiter(stop),
            interval=settings.projections.poll_interval,
            heartbeat=settings.projections.heartbeat_file,
            transient=(*TRANSIENT, KafkaError, LookupError),
            idle=lambda _: False,  # the poll itself waits for messages
        )
    finally:
        feed.close()
        service.close()
    return 0


def projections_status(args: argparse.Namespace) -> int:
    with _service() as service:
        head = service.runner.head()
        lag = service.runner.lag()
        positions = service.runner.positions()
        tracked = service.read_models.tracked()
        limits = service.settings.projections
    report = {
        "head": head,
        "projections": {
            name: {
                "position": positions[name],
                "lag_events": lag[name].events,
                "lag_seconds": round(lag[name].seconds, 3),
            }
            for name in positions
        },
        "tracked": tracked,
    }
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    behind = any(
        lg.events > limits.max_lag_events or lg.seconds > limits.max_lag_seconds
        for lg in lag.values()
    )
    return 1 if args.check and behind else 0


def relay(args: argparse.Namespace) -> int:
    from projections.relay import BrokerUnavailable, Relay

    service = _service()
    kafka = service.settings.kafka
    if args.topic:
        kafka = replace(kafka, topic=args.topic)
    kafka.client_options()  # fail fast when CRM_KAFKA_BOOTSTRAP is unset
    publisher = Relay(
        service.crm, service.read_models, kafka, batch_size=service.settings.projections.batch_size
    )
    stop = _stop_on_signals()
    checkpoints = checkpointer(service).start()
    try:
        follow(
            publisher.pump,
            stop=stop,
            waiter=_waiter(service, stop),
            interval=service.settings.projections.poll_interval,
            heartbeat=service.settings.projections.heartbeat_file,
            transient=(*TRANSIENT, BrokerUnavailable),
            idle=lambda sent: sent == 0,
        )
    finally:
        checkpoints.stop()
        publisher.close()
        service.close()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="crm", description="Privacy-first CRM back end.")
    commands = root.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--tls-cert", help="PEM certificate: serve HTTPS")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument(
        "--print-admin-token", action="store_true", help="print the platform admin token"
    )
    p.set_defaults(run=serve)

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="action", required=True
    )
    p = tenant.add_parser("create", help="create a tenant; prints its admin token once")
    p.add_argument("name")
    p.set_defaults(run=tenant_create)

    projections = commands.add_parser("projections", help="read models").add_subparsers(
        dest="action", required=True
    )
    p = projections.add_parser("catch-up", help="apply every stored event not yet projected")
    p.set_defaults(run=projections_catch_up)
    p = projections.add_parser(
        "rebuild",
        help="rebuild read models from position zero into fresh tables, then swap them in",
    )
    p.add_argument("name", nargs="?", help="one projection (default: all)")
    p.set_defaults(run=projections_rebuild)
    p = projections.add_parser("run", help="the projection worker: follow the log until stopped")
    p.add_argument(
        "--source",
        choices=("db", "kafka"),
        default="db",
        help="read events from the database log (default) or from the Kafka topic",
    )
    p.set_defaults(run=projections_run)
    p = projections.add_parser("status", help="positions and lag of every projection, as JSON")
    p.add_argument(
        "--check", action="store_true", help="exit 1 when a projection lags beyond the limits"
    )
    p.set_defaults(run=projections_status)

    p = commands.add_parser(
        "relay", help="publish every stored event, still sealed, to Kafka (runs until stopped)"
    )
    p.add_argument("--topic", help="the topic (default: CRM_KAFKA_TOPIC or crm.events)")
    p.set_defaults(run=relay)

    cli_audit.register(commands)
    cli_keys.register(commands)
    cli_portability.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        code: int = args.run(args)
    except (SettingsError, DomainError, KeyConfigurationError, ValueError) as exc:
        print(f"crm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the message could quote stored data: name the type only
        print(f"crm: error: {type(exc).__name__} (is the store reachable?)", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
