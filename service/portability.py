"""The portability package (UU PDP Pasal 13): the subject's data in commonly used,
machine-readable formats, signed so that the controller it is taken to can check it.

Built on the access export (:func:`service.export.subject_export`) and opened through the
same request's :class:`~service.disclosure.AccessLog`, so every value in it has passed the
decision point and is owed the request's one access record. The package holds the export as
JSON, its tables as CSV and the contact card as vCard 4.0 (:mod:`service.vcard`), signed
with the erasure certificates' Ed25519 key. As with certificates, the package names the key
that signed it (its fingerprint) only as a hint: :func:`verify_package` trusts nothing but
the key the verifier pinned.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from crypto.signing import PinnedKey, Signer, public_key_fingerprint
from domain.activity import SEALED_FIELDS
from domain.contact import PERSONAL_FIELDS
from projections.store import ReadModelStore
from service.export import subject_export
from service.vcard import contact_vcard

if TYPE_CHECKING:
    from service.crm import CRM
    from service.disclosure import AccessLog

FORMAT = "crm.portability.v1"
ALGORITHM = "Ed25519"
# Each table of the export and its columns: the CSV contract. A key a view gains later is
# appended after these rather than dropped.
TABLES: dict[str, tuple[str, ...]] = {
    "contact.csv": ("id", "version", "created_at", "updated_at", *PERSONAL_FIELDS),
    "history.csv": ("version", "type", "at", "actor", "set", "cleared"),
    "consents.csv": ("purpose", "granted", "policy_version", "decided_at", "recorded_by"),
    "consent_history.csv": ("purpose", "granted", "policy_version", "source", "at", "recorded_by"),
    "policy_acceptances.csv": ("policy_version", "source", "at", "recorded_by"),
    "activities.csv": (
        "id",
        "contact_id",
        "kind",
        "occurred_at",
        "recorded_at",
        "recorded_by",
        *SEALED_FIELDS,
    ),
    "linked_accounts.csv": (
        "id",
        "contact_id",
        "provider",
        "handle",
        "status",
        "version",
        "linked_at",
        "linked_by",
        "unlinked_at",
        "unlinked_by",
    ),
    "shares.csv": (
        "id",
        "contact_id",
        "recipient",
        "purpose",
        "fields",
        "status",
        "agreement_ref",
        "expires_at",
        "version",
        "requested_at",
        "updated_at",
        "contact_erased",
        "history",
        "shared",
    ),
    "requests.csv": (
        "id",
        "contact_id",
        "kind",
        "requested_by",
        "subject_is_minor",
        "status",
        "received_at",
        "due_at",
        "overdue",
        "closed_at",
        "reason",
        "erasure_id",
        "version",
    ),
}


class MalformedPackage(ValueError):
    """The document is not a signed portability package: there is nothing to check."""


def provided_data(export: Mapping[str, Any]) -> dict[str, Any]:
    """The export less its ``processing`` trail. The trail is the controller's record of
    who opened the subject's data and why (accountability, answered by the access request):
    it is not data about the subject that another controller could take over and use, and
    it names the tenant's staff; portability (Pasal 13) is for the subject's own data."""
    return {key: value for key, value in export.items() if key != "processing"}


def portability_package(
    crm: CRM,
    read_models: ReadModelStore,
    tenant_id: UUID,
    contact_id: UUID,
    access: AccessLog,
    signer: Signer,
) -> dict[str, Any]:
    """The subject's package, opened through ``access`` and signed with ``signer`` (the
    certificate key); 410 once the subject is erased, 404 in another tenant."""
    data = provided_data(subject_export(crm, read_models, tenant_id, contact_id, access))
    body = {
        "format": FORMAT,
        "subject_id": str(contact_id),
        "tenant_id": str(tenant_id),
        "generated_at": data["generated_at"],
        "json": data,
        "csv": csv_tables(data),
        "vcard": contact_vcard(data["contact"]),
    }
    signature = {
        "algorithm": ALGORITHM,
        "key_fingerprint": public_key_fingerprint(signer.public_key),
    }
    unsigned = {**body, "signature": signature}
    return {**body, "signature": {**signature, "value": signer.sign(signed_bytes(unsigned))}}


def signed_bytes(package: Mapping[str, Any]) -> bytes:
    """The exact bytes signed: the whole package but the signature's ``value``, as
    canonical JSON (sorted keys), after the format's name. So the algorithm and the key the
    package names are signed too; and the same key signs erasure certificates under their
    own prefix, so neither signature can pass for the other."""
    signature = package.get("signature")
    if not isinstance(signature, Mapping):
        raise MalformedPackage("the package carries no signature")
    body = {**package, "signature": {k: v for k, v in signature.items() if k != "value"}}
    try:
        return FORMAT.encode() + b"\n" + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        raise MalformedPackage("the package holds values JSON cannot carry") from None


def verify_package(package: object, pinned_key_text: str) -> bool:
    """Whether ``package`` is signed by the pinned certificate key (base64). The key the
    package names is never used: anyone can sign a package of their own making."""
    pinned = PinnedKey.parse(pinned_key_text, "certificate public key")
    if not isinstance(package, Mapping):
        raise MalformedPackage(f"the document is not a {FORMAT} package")
    signature = package_signature(package)
    return signature.get("algorithm") == ALGORITHM and pinned.verifies(
        signed_bytes(package), signature["value"]
    )


def package_signature(package: Mapping[str, Any]) -> Mapping[str, Any]:
    """The package's signature member, refusing anything that is not a package at all."""
    if package.get("format") != FORMAT:
        raise MalformedPackage(f"the document is not a {FORMAT} package")
    signature = package.get("signature")
    if not isinstance(signature, Mapping) or not isinstance(signature.get("value"), str):
        raise MalformedPackage("the package carries no signature")
    return signature


def csv_tables(data: Mapping[str, Any]) -> dict[str, str]:
    """Each table of the export as CSV text (RFC 4180: CRLF, quoted where needed)."""
    consents = data["consents"]
    rows: dict[str, Sequence[Mapping[str, Any]]] = {
        "contact.csv": [data["contact"]],
        "history.csv": data["history"],
        "consents.csv": consents["current"],
        "consent_history.csv": consents["history"],
        "policy_acceptances.csv": consents["policy_acceptances"],
        "activities.csv": data["activities"],
        "linked_accounts.csv": data["linked_accounts"],
        "shares.csv": data["shares"],
        "requests.csv": data["requests"],
    }
    return {name: table_csv(rows[name], columns) for name, columns in TABLES.items()}


def table_csv(rows: Sequence[Mapping[str, Any]], columns: Iterable[str]) -> str:
    """Rows as CSV under ``columns``, plus any key a row has beyond them. Values are written
    as they are: no spreadsheet-formula guard, which would alter data (a ``+62`` phone)."""
    header = list(dict.fromkeys([*columns, *(key for row in rows for key in row)]))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([cell(row.get(column)) for column in header] for row in rows)
    return out.getvalue()


def cell(value: object) -> str:
    """One CSV cell: empty for none, ``true``/``false``, nested values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value)
