"""The ``crm`` command: serve the API and operate the service."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import orjson

from api.logs import configure
from domain.errors import DomainError
from service.bootstrap import Service, bootstrap
from service.settings import Settings, SettingsError


def _service() -> Service:
    settings = Settings.from_env()
    configure(settings.log_level)
    return bootstrap(settings)


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
        service.close()
    return 0


def tenant_create(args: argparse.Namespace) -> int:
    service = _service()
    try:
        tenant, admin = service.crm.create_tenant(args.name)
        service.runner.catch_up()
    finally:
        service.close()
    print(
        orjson.dumps(
            {"id": str(tenant.id), "name": tenant.name, "admin_token": admin.token}
        ).decode()
    )
    return 0


def projections_catch_up(args: argparse.Namespace) -> int:
    service = _service()
    try:
        reached = service.runner.catch_up()
    finally:
        service.close()
    print(f"projections caught up to position {reached}")
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
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (SettingsError, DomainError, ValueError) as exc:
        print(f"crm: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
