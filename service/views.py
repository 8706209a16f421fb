"""What the API shows of the privacy read models: rows made into views, with the sealed
values opened by the subject's key, or ``None`` where the subject has been erased.

Views are plain dicts; the API's response models give them their types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

import orjson

from crypto.errors import KeyDestroyed
from domain.activity import SEALED_FIELDS
from domain.contact import PERSONAL_FIELDS
from domain.purposes import CATALOGUE
from domain.request import OPEN_STATUSES
from projections.consents import consent_events, current_consents, decided_by
from projections.contacts import sealed_fields
from projections.request_details import request_details
from projections.store import ReadModelStore, sealed_cells

if TYPE_CHECKING:
    from service.crm import CRM
    from service.disclosure import AccessLog


class Page(NamedTuple):
    """Views of one page, and the sort keys of every row read (one more than the page, when
    there is a next page): what the API turns into ``items`` and ``next_cursor``."""

    items: list[dict[str, Any]]
    keys: list[str]


def contact_view(
    crm: CRM,
    tenant_id: UUID,
    row: dict[str, Any],
    access: AccessLog,
    subject_id: UUID | None = None,
) -> dict[str, Any] | None:
    """A contacts_view row opened (``subject_id``: its id, when the caller parsed it
    already); ``None`` if the subject was erased after it was read."""
    sealed = sealed_fields(row)
    try:
        subject = UUID(row["id"]) if subject_id is None else subject_id
        opened = crm.sealer.open_fields(tenant_id, subject, sealed, access)
    except KeyDestroyed:
        return None
    return _contact(row, sealed, opened)


def _contact(
    row: dict[str, Any], sealed: dict[str, tuple[int, str]], opened: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": row["id"],
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        **{field: opened.get(field) for field in PERSONAL_FIELDS},
        "age_unknown": "age" not in sealed,
    }


def contact_page(
    crm: CRM, tenant_id: UUID, rows: list[dict[str, Any]], limit: int, access: AccessLog
) -> Page:
    """The first ``limit`` rows opened (erased ones left out), and every row's id. A subject
    the purpose is refused for appears with its id and the reason, no values. The page's
    keys are read at once (one keystore query for those not cached)."""
    page = rows[:limit]
    subjects = [UUID(row["id"]) for row in page]
    refused = access.screen(subjects)
    sealed = {
        s: sealed_fields(row) for row, s in zip(page, subjects, strict=True) if s not in refused
    }
    opened = iter(crm.sealer.open_subjects(tenant_id, list(sealed.items()), access))
    views = []
    for row, subject_id in zip(page, subjects, strict=True):
        if subject_id in refused:
            views.append(refused_view(row["id"], access.purpose.code, refused[subject_id]))
        elif (values := next(opened)) is not None:  # None: erased after the rows were read
            views.append(_contact(row, sealed[subject_id], values))
    return Page(views, [row["id"] for row in rows])


def refused_view(subject_id: str, purpose: str, reason: str) -> dict[str, Any]:
    return {"id": subject_id, "refused": {"purpose": purpose, "reason": reason}}


def _opened(
    crm: CRM,
    tenant_id: UUID,
    contact_id: UUID,
    rows: list[dict[str, Any]],
    access: AccessLog,
    aggregate_key: str,
    version_key: str | None = None,
) -> list[dict[str, Any]]:
    """The sealed column of each row (all about one contact) opened, with one key lookup.

    ``version_key`` names the column with the version of the event that sealed the values;
    without it they were sealed by the aggregate's first event.
    """
    events = [
        (
            UUID(row[aggregate_key]),
            row[version_key] if version_key else 1,
            sealed_cells(row["sealed"]),
        )
        for row in rows
    ]
    return [values or {} for values in crm.open_many(tenant_id, contact_id, events, access)]


def activity_views(
    crm: CRM, tenant_id: UUID, contact_id: UUID, rows: list[dict[str, Any]], access: AccessLog
) -> list[dict[str, Any]]:
    return [
        {
            "id": row["id"],
            "contact_id": row["contact_id"],
            "kind": row["kind"],
            "occurred_at": row["occurred_at"],
            "recorded_at": row["recorded_at"],
            "recorded_by": row["recorded_by"],
            **{field: values.get(field) for field in SEALED_FIELDS},
        }
        for row, values in zip(
            rows, _opened(crm, tenant_id, contact_id, rows, access, "id"), strict=True
        )
    ]


def linked_account_views(
    crm: CRM, tenant_id: UUID, contact_id: UUID, rows: list[dict[str, Any]], access: AccessLog
) -> list[dict[str, Any]]:
    return [
        {
            "id": row["id"],
            "contact_id": row["contact_id"],
            "provider": row["provider"],
            "handle": values.get("handle"),
            "status": row["status"],
            "version": row["version"],
            "linked_at": row["linked_at"],
            "linked_by": row["linked_by"],
            "unlinked_at": row["unlinked_at"],
            "unlinked_by": row["unlinked_by"],
        }
        for row, values in zip(
            rows, _opened(crm, tenant_id, contact_id, rows, access, "id"), strict=True
        )
    ]


def share_view(row: dict[str, Any]) -> dict[str, Any]:
    """A share and its steps, without the shared values (only the subject's export has them)."""
    return {
        "id": row["id"],
        "contact_id": row["contact_id"],
        "recipient": row["recipient"],
        "purpose": row["purpose"],
        "fields": orjson.loads(row["fields"]),
        "status": row["status"],
        "agreement_ref": row["agreement_ref"],
        "expires_at": row["expires_at"],
        "version": row["version"],
        "requested_at": row["requested_at"],
        "updated_at": row["updated_at"],
        "contact_erased": bool(row["contact_erased"]),
        "history": [
            {
                "step": step["step"],
                "version": step["version"],
                "at": step["at"],
                "actor": step["actor"],
                "detail": orjson.loads(step["detail"]),
            }
            for step in row["steps"]
        ],
    }


def shared_values(
    crm: CRM, tenant_id: UUID, contact_id: UUID, shares: list[dict[str, Any]], access: AccessLog
) -> list[dict[str, Any] | None]:
    """What each executed share of one contact handed over, opened for the subject's export."""
    executed = [
        next((step for step in share["steps"] if step["step"] == "executed"), None)
        for share in shares
    ]
    steps = [step for step in executed if step is not None]
    values = iter(_opened(crm, tenant_id, contact_id, steps, access, "share_id", "version"))
    return [None if step is None else next(values) for step in executed]


def request_views(
    store: ReadModelStore, rows: list[dict[str, Any]], now: str
) -> list[dict[str, Any]]:
    """Requests as queued, each with its details (purposes, verification, effects, notice)."""
    details = request_details(store, [row["id"] for row in rows])
    return [request_view(row, now, details.get(row["id"])) for row in rows]


def request_view(
    row: dict[str, Any], now: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A request as queued; ``now`` (fixed-form UTC text) decides whether it is overdue."""
    return {
        **(details or {}),
        "id": row["id"],
        "contact_id": row["contact_id"],
        "kind": row["kind"],
        "requested_by": row["requested_by"],
        "subject_is_minor": bool(row["subject_is_minor"]),
        "status": row["status"],
        "received_at": row["received_at"],
        "due_at": row["due_at"],
        "overdue": row["status"] in OPEN_STATUSES and row["due_at"] < now,
        "closed_at": row["closed_at"],
        "reason": row["reason"],
        "erasure_id": row["erasure_id"],
        "version": row["version"],
    }


def _current(latest: dict[str, dict[str, Any]], given_by: dict[int, str]) -> list[dict[str, Any]]:
    """The latest decision per consent purpose; ``given_by`` is who gave each logged one."""
    current = []
    for purpose in CATALOGUE:
        if purpose.requires_consent:
            row = latest.get(purpose.code, {})
            current.append(
                {
                    "purpose": purpose.code,
                    "granted": bool(row.get("granted", False)),
                    "policy_version": row.get("policy_version"),
                    "given_by": given_by.get(row["position"]) if row else None,
                    "decided_at": row.get("at"),
                    "recorded_by": row.get("actor"),
                }
            )
    return current


def _guardian(values: dict[str, Any]) -> dict[str, Any] | None:
    if "guardian_name" not in values:
        return None
    return {"full_name": values["guardian_name"], "relationship": values["guardian_relationship"]}


def consents_view(
    crm: CRM, store: ReadModelStore, tenant_id: UUID, contact_id: UUID, access: AccessLog | None
) -> dict[str, Any]:
    """Every consent purpose's current state, the whole history, and policy acceptances."""
    latest = current_consents(store, tenant_id, contact_id)  # first: the history covers it
    history: list[dict[str, Any]] = []
    acceptances: list[dict[str, Any]] = []
    given_by: dict[int, str] = {}  # position -> who decided
    rows = consent_events(store, tenant_id, contact_id)
    sources = (
        [{} for _ in rows]
        if access is None  # shown without the sealed sources and guardians (to an auditor)
        else _opened(crm, tenant_id, contact_id, rows, access, "record_id", "version")
    )
    for row, values in zip(rows, sources, strict=True):
        entry = {
            "policy_version": row["policy_version"],
            "source": values.get("source"),
            "at": row["at"],
            "recorded_by": row["actor"],
        }
        if row["kind"] == "policy_accepted":
            acceptances.append(entry)
            continue
        given_by[row["position"]] = decided_by(row)
        history.append(
            {
                "purpose": row["purpose"],
                "granted": row["kind"] == "granted",
                "given_by": given_by[row["position"]],
                "guardian": _guardian(values),
                **entry,
            }
        )
    return {
        "contact_id": str(contact_id),
        "current": _current(latest, given_by),
        "history": history,
        "policy_acceptances": acceptances,
        "accepted_policy_version": acceptances[-1]["policy_version"] if acceptances else None,
    }
