"""The ``crm`` command: serve the API and operate the service."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from api.logs import configure
from api.progress import ProgressBar
from crypto.audit_proofs import check_consistency_proof, check_inclusion_proof
from crypto.certificates import verify_certificate
from crypto.kek import RETIRED_PREFIX, retire_key_file, retired_key_files, shred_file
from crypto.rotation import (
    KekInUse,
    KekRotator,
    known_keks,
    pending_erasures,
    record_kek_destroyed,
)
from domain.errors import DomainError
from domain.keys import KekRotation
from service.audit import BundleSource, LedgerSource, StoreSource, export_bundle, verify_ledger
from service.bootstrap import Service, bootstrap
from service.replay import contact_state, tenant_states
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


def _print_json(document: object) -> None:
    print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


def audit_verify(args: argparse.Namespace) -> int:
    """Verify the live store (or an exported bundle); exit 1 when anything was tampered with."""
    if args.bundle:
        if not args.public_key:
            raise SettingsError("--bundle needs --public-key (the ledger key you trust)")
        source: LedgerSource = BundleSource(args.bundle)
        verdict = verify_ledger(source, args.public_key)
    else:
        service = _service()
        try:
            recorder = service.crm.ledger_recorder
            bar = ProgressBar(service.crm.recorder.max_notification_id() or 0, "verifying")
            key = args.public_key or service.ledger_signer.public_key
            verdict = verify_ledger(StoreSource(recorder), key, progress=bar.update)
            bar.finish(verdict.checked)
        finally:
            service.close()
    _print_json(verdict.as_dict())
    return 0 if verdict.ok else 1


def audit_export(args: argparse.Namespace) -> int:
    service = _service()
    try:
        with open(args.file, "wb") as out:
            count = export_bundle(service.crm.ledger_recorder, out)
        key = service.ledger_signer.public_key
    finally:
        service.close()
    print(f"exported {count} ledger entries to {args.file}; ledger public key: {key}")
    return 0


def _load_json(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            document: dict[str, Any] = orjson.loads(handle.read())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc.__class__.__name__}") from None
    return document


def audit_verify_proof(args: argparse.Namespace) -> int:
    """Check a proof offline against signed checkpoints and a pinned key."""
    proof = _load_json(args.proof)
    first = _load_json(args.checkpoint)
    try:
        if "audit_path" in proof:
            ok = check_inclusion_proof(proof, first, args.public_key)
        else:
            if not args.second_checkpoint:
                raise SettingsError("a consistency proof needs --second-checkpoint")
            second = _load_json(args.second_checkpoint)
            ok = check_consistency_proof(proof, first, second, args.public_key)
    except (KeyError, ValueError, TypeError):
        raise SettingsError("the proof or checkpoint file is malformed") from None
    print("proof verified" if ok else "proof does NOT verify")
    return 0 if ok else 1


def audit_replay(args: argparse.Namespace) -> int:
    """Stream masked states as JSON lines: one contact, or every contact of a tenant."""
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(UTC)
    if as_of.tzinfo is None:
        raise SettingsError("--as-of needs a UTC offset, e.g. 2026-11-01T00:00:00Z")
    service = _service()
    try:
        tenant = UUID(args.tenant)
        if args.contact:
            states: Iterable[dict[str, Any]] = [
                contact_state(service.crm, tenant, UUID(args.contact), as_of)
            ]
        else:
            states = tenant_states(service.crm, service.read_models, tenant, as_of)
        for state in states:
            sys.stdout.write(orjson.dumps(state).decode() + "\n")
    finally:
        service.close()
    return 0


def keys_rotate_kek(args: argparse.Namespace) -> int:
    """Re-wrap every live data key under a new KEK; with --destroy-old, then shred the old.

    With a KEK file and nothing left over from an earlier run, a new KEK is generated and the
    old file retired first. Re-running after a crash resumes where the last batch committed.
    """
    settings = Settings.from_env()
    configure(settings.log_level)
    service = bootstrap(settings)
    try:
        rotator = KekRotator(service.keystore, batch_size=args.batch_size)
        if not settings.kek and rotator.stale_count() == 0:
            retired = retire_key_file(settings.kek_file)
            service.close()
            service = bootstrap(settings)
            rotator = KekRotator(service.keystore, batch_size=args.batch_size)
            print(f"new KEK {service.keystore.kek.kek_id}; old one retired to {retired.name}")
        bar = ProgressBar(rotator.stale_count(), "re-wrapping")
        report = rotator.run(progress=bar.update)
        bar.finish(report.rewrapped)
        service.crm.commit(
            KekRotation.completed(
                from_kek_ids=sorted(report.from_kek_ids),
                to_kek_id=report.to_kek_id,
                rewrapped=report.rewrapped,
            )
        )
        if args.destroy_old:
            destroy_retired_keks(service, settings)
    finally:
        service.close()
    return 0


def destroy_retired_keks(service: Service, settings: Settings) -> None:
    """Shred retired KEK files and record their destruction (only once nothing needs them)."""
    current = service.keystore.kek.kek_id
    for kek in known_keks(service.keystore):
        kek_id = str(kek["kek_id"])
        if kek_id == current or kek["destroyed_at"]:
            continue
        record_kek_destroyed(service.keystore, kek_id)
        for path in retired_key_files(settings.kek_file):
            if path.stem.removeprefix(RETIRED_PREFIX) == kek_id:
                shred_file(path)
        print(f"destroyed KEK {kek_id}")


def keys_destroy_kek(args: argparse.Namespace) -> int:
    """Record that a KEK was destroyed (after removing it from your secret store), or, for
    retired KEK files, shred them."""
    settings = Settings.from_env()
    configure(settings.log_level)
    service = bootstrap(settings)
    try:
        if args.kek_id == "retired":
            destroy_retired_keks(service, settings)
        else:
            record_kek_destroyed(service.keystore, args.kek_id)
            print(f"recorded KEK {args.kek_id} as destroyed")
    except KekInUse as exc:
        raise SettingsError(str(exc)) from None
    finally:
        service.close()
    return 0


def keys_status(args: argparse.Namespace) -> int:
    """KEKs, and erasures still recoverable from pre-erasure backups (exit 1 if overdue)."""
    service = _service()
    try:
        pending = pending_erasures(service.keystore)
        keks = known_keks(service.keystore)
        stale = KekRotator(service.keystore).stale_count()
    finally:
        service.close()
    now = datetime.now(UTC).isoformat()
    overdue = [p for p in pending if p.complete_by < now]
    _print_json(
        {
            "current_kek": next((k["kek_id"] for k in keks if k["current"]), None),
            "keys_awaiting_rewrap": stale,
            "keks": keks,
            "erasures_incomplete_in_backups": [vars(p) for p in pending],
            "overdue": len(overdue),
        }
    )
    return 1 if overdue else 0


def erasures_run_due(args: argparse.Namespace) -> int:
    service = _service()
    try:
        done = service.erasures.run_due()
        service.runner.catch_up()
    finally:
        service.close()
    print(f"{len(done)} scheduled erasures executed")
    return 0


def erasures_verify_certificate(args: argparse.Namespace) -> int:
    document = _load_json(args.file)
    if args.public_key and document.get("public_key") != args.public_key:
        print("certificate is NOT signed by the expected key")
        return 1
    try:
        ok = verify_certificate(document)
    except (KeyError, ValueError, TypeError):
        raise SettingsError("the certificate file is malformed") from None
    print("certificate verified" if ok else "certificate does NOT verify")
    return 0 if ok else 1


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

    audit = commands.add_parser("audit", help="the audit ledger").add_subparsers(
        dest="action", required=True
    )
    p = audit.add_parser("verify", help="recompute every hash, the chain and checkpoints")
    p.add_argument("--bundle", help="verify an exported bundle offline instead of the store")
    p.add_argument("--public-key", help="the ledger public key to trust (base64)")
    p.set_defaults(run=audit_verify)
    p = audit.add_parser("export", help="write the ledger, events and checkpoints to a file")
    p.add_argument("file")
    p.set_defaults(run=audit_export)
    p = audit.add_parser("verify-proof", help="check an inclusion or consistency proof offline")
    p.add_argument("--proof", required=True, help="proof JSON from /v1/audit/proofs/...")
    p.add_argument("--checkpoint", required=True, help="signed checkpoint JSON (first)")
    p.add_argument("--second-checkpoint", help="second checkpoint, for consistency proofs")
    p.add_argument("--public-key", required=True, help="the ledger public key to trust")
    p.set_defaults(run=audit_verify_proof)
    p = audit.add_parser("replay", help="masked contact states as of a time, as JSON lines")
    p.add_argument("--tenant", required=True)
    p.add_argument("--contact", help="one contact; default: every contact of the tenant")
    p.add_argument("--as-of", help="RFC 3339 time with offset; default: now")
    p.set_defaults(run=audit_replay)

    keys = commands.add_parser("keys", help="key-encryption keys").add_subparsers(
        dest="action", required=True
    )
    p = keys.add_parser("rotate-kek", help="re-wrap every live data key under a new KEK")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--destroy-old", action="store_true", help="then shred retired KEK files")
    p.set_defaults(run=keys_rotate_kek)
    p = keys.add_parser("destroy-kek", help="record a KEK destroyed ('retired': shred files)")
    p.add_argument("kek_id")
    p.set_defaults(run=keys_destroy_kek)
    p = keys.add_parser("status", help="KEKs and erasures not yet complete in backups")
    p.set_defaults(run=keys_status)

    erasures = commands.add_parser("erasures", help="erasures").add_subparsers(
        dest="action", required=True
    )
    p = erasures.add_parser("run-due", help="execute scheduled erasures whose time has come")
    p.set_defaults(run=erasures_run_due)
    p = erasures.add_parser("verify-certificate", help="check a signed erasure certificate")
    p.add_argument("file")
    p.add_argument("--public-key", help="the certificate key you trust (base64)")
    p.set_defaults(run=erasures_verify_certificate)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (SettingsError, DomainError, ValueError) as exc:
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
