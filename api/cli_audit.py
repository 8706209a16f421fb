"""``crm audit``: verify the ledger, export it, check proofs, replay history."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from api.cli_support import cli_service, load_json, print_json
from api.progress import ProgressBar
from crypto.audit_proofs import MalformedProof, check_consistency_proof, check_inclusion_proof
from crypto.merkle import MalformedHash
from crypto.signing import PinnedKey
from service.audit import (
    BundleSource,
    StoreSource,
    checkpoint_now,
    export_bundle,
    verify_ledger,
)
from service.replay import contact_state, tenant_states
from service.settings import SettingsError


def audit_verify(args: argparse.Namespace) -> int:
    """Verify the live store (or an exported bundle); exit 1 when anything was tampered with.

    A bundle needs the key the auditor trusts. The live store is verified under
    ``--public-key`` when given, else under the service's own configured key, and the
    output says which: the latter proves the store matches the key it is signed with, not
    that this is the key an auditor pinned."""
    if args.bundle:
        if args.public_key is None:
            raise SettingsError("--bundle needs --public-key (the ledger key you trust)")
        pinned = PinnedKey.parse(args.public_key, "ledger public key (--public-key)")
        verdict = verify_ledger(BundleSource(args.bundle), pinned.text)
        print_json({**verdict.as_dict(), "trusted_key": _trusted_key(pinned.text, "pinned")})
        return 0 if verdict.ok else 1
    if args.public_key is not None:
        PinnedKey.parse(args.public_key, "ledger public key (--public-key)")
    with cli_service() as service:
        key, source = args.public_key, "pinned"
        if key is None:
            key, source = service.ledger_signer.public_key, "service"
            print(_SERVICE_KEY_NOTE, file=sys.stderr)
        total = service.crm.recorder.max_notification_id() or 0
        with ProgressBar("verifying") as bar:
            verdict = verify_ledger(
                StoreSource(service.crm.ledger_recorder), key, progress=lambda d: bar(d, total)
            )
            bar(total, total)
    print_json({**verdict.as_dict(), "trusted_key": _trusted_key(key, source)})
    return 0 if verdict.ok else 1


_SERVICE_KEY_NOTE = (
    "crm: verifying under this service's own ledger key (CRM_LEDGER_SIGNING_KEY), not one"
    " you pinned: pass --public-key to check against the key you trust"
)


def _trusted_key(key: str, source: str) -> dict[str, str]:
    """Which key the verdict holds under, and whether the caller pinned it."""
    return {"public_key": key, "source": source}


def audit_export(args: argparse.Namespace) -> int:
    with cli_service() as service:
        with open(args.file, "wb") as out:
            count = export_bundle(service.crm.ledger_recorder, out)
        key = service.ledger_signer.public_key
    print(f"exported {count} ledger entries to {args.file}; ledger public key: {key}")
    return 0


def audit_verify_proof(args: argparse.Namespace) -> int:
    """Check a proof offline against signed checkpoints and a pinned key (never the key a
    checkpoint carries)."""
    key = PinnedKey.parse(args.public_key, "ledger public key (--public-key)").text
    proof = load_json(args.proof)
    first = load_json(args.checkpoint)
    try:
        if "audit_path" in proof:
            ok = check_inclusion_proof(proof, first, key)
        else:
            if not args.second_checkpoint:
                raise SettingsError("a consistency proof needs --second-checkpoint")
            second = load_json(args.second_checkpoint)
            ok = check_consistency_proof(proof, first, second, key)
    except (MalformedProof, MalformedHash) as exc:
        raise SettingsError(str(exc)) from None
    except (KeyError, ValueError, TypeError):
        raise SettingsError("the proof or checkpoint file is malformed") from None
    print("proof verified" if ok else "proof does NOT verify")
    return 0 if ok else 1


def audit_replay(args: argparse.Namespace) -> int:
    """Stream masked states as JSON lines: one contact, or every contact of a tenant."""
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(UTC)
    if as_of.tzinfo is None:
        raise SettingsError("--as-of needs a UTC offset, e.g. 2026-11-01T00:00:00Z")
    with cli_service() as service:
        tenant = UUID(args.tenant)
        if args.contact:
            states: Iterable[dict[str, Any]] = [
                contact_state(service.crm, tenant, UUID(args.contact), as_of)
            ]
        else:
            states = tenant_states(service.crm, service.read_models, tenant, as_of)
        for state in states:
            sys.stdout.write(orjson.dumps(state).decode() + "\n")
    return 0


def audit_checkpoint(args: argparse.Namespace) -> int:
    """Sign a checkpoint at the current head now, and print it (JSON)."""
    with cli_service() as service:
        checkpoint = checkpoint_now(service.crm.ledger_recorder)
    if checkpoint is None:
        raise SettingsError("the ledger is empty: nothing to checkpoint yet")
    print_json(checkpoint)
    return 0


def register(commands: Any) -> None:
    audit = commands.add_parser("audit", help="the audit ledger").add_subparsers(
        dest="action", required=True
    )
    p = audit.add_parser("verify", help="recompute every hash, the chain and checkpoints")
    p.add_argument("--bundle", help="verify an exported bundle offline instead of the store")
    p.add_argument(
        "--public-key",
        help="the ledger public key to trust (base64); needed with --bundle, else the"
        " service's own key is used and the output says so",
    )
    p.set_defaults(run=audit_verify)
    p = audit.add_parser("checkpoint", help="sign a checkpoint at the current head now")
    p.set_defaults(run=audit_checkpoint)
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
