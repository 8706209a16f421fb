"""The shares register: every data share with its status and the history of its steps.

Steps keep what each one added in clear (the agreement, the expiry, the revocation
reason, the names of the fields shared). The shared values themselves stay sealed in
``share_steps_view.sealed``, only for the subject's own export; erasure blanks them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson

from domain.share import DataShare
from domain.values import utc_text
from projections.fence import ContactRowsProjection, erased_flag, fence_schema
from projections.store import ReadModelStore, Write, sealed_json

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS shares_view (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        recipient TEXT NOT NULL,
        purpose TEXT NOT NULL,
        fields TEXT NOT NULL,
        status TEXT NOT NULL,
        agreement_ref TEXT,
        expires_at TEXT,
        version INTEGER NOT NULL,
        requested_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        contact_erased INTEGER NOT NULL DEFAULT 0,
        position BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS shares_view_tenant ON shares_view (tenant_id, position)",
    "CREATE INDEX IF NOT EXISTS shares_view_subject ON shares_view (tenant_id, contact_id)",
    """CREATE TABLE IF NOT EXISTS share_steps_view (
        position BIGINT PRIMARY KEY,
        share_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        step TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        detail TEXT NOT NULL,
        sealed TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS share_steps_view_share ON share_steps_view (share_id, position)",
    fence_schema("shares"),
]

_STEPS: dict[type[Any], str] = {
    DataShare.Requested: "requested",
    DataShare.Approved: "approved",
    DataShare.Authorized: "authorized",
    DataShare.Executed: "executed",
    DataShare.Revoked: "revoked",
}


def _detail(event: Any) -> dict[str, Any]:
    if isinstance(event, DataShare.Requested):
        return {"recipient": event.recipient, "purpose": event.purpose, "fields": event.fields}
    if isinstance(event, DataShare.Authorized):
        return {"agreement_ref": event.agreement_ref, "expires_at": event.expires_at}
    if isinstance(event, DataShare.Executed):
        return {"fields": event.fields}
    if isinstance(event, DataShare.Revoked):
        return {"reason": event.reason}
    return {}


class SharesProjection(ContactRowsProjection):
    name = "shares"
    schema = SCHEMA
    # A share stays readable after its subject's erasure (an id-only record), marked so.
    erased_sets = (("shares_view", "contact_erased = 1"), ("share_steps_view", "sealed = NULL"))

    def rows_for(self, event: Any, position: int) -> list[Write]:
        step = _STEPS.get(type(event))
        if step is None:
            return []
        return [self._share(event, step, position), self._step(event, step, position)]

    def _share(self, event: Any, step: str, position: int) -> Write:
        at = utc_text(event.timestamp)
        if isinstance(event, DataShare.Requested):
            return (
                "INSERT INTO shares_view (id, tenant_id, contact_id, recipient, purpose, fields,"
                " status, version, requested_at, updated_at, position, contact_erased) VALUES"
                " (:id, :tenant_id, :contact_id, :recipient, :purpose, :fields, 'requested', 1,"
                " :at, :at, :position, " + erased_flag("shares") + ")",
                {
                    "id": str(event.originator_id),
                    "tenant_id": event.tenant_id,
                    "contact_id": event.contact_id,
                    "recipient": event.recipient,
                    "purpose": event.purpose,
                    "fields": orjson.dumps(event.fields).decode(),
                    "at": at,
                    "position": position,
                },
            )
        sets = "status = :status, version = :version, updated_at = :at"
        params = {
            "id": str(event.originator_id),
            "status": step,
            "version": event.originator_version,
            "at": at,
        }
        if isinstance(event, DataShare.Authorized):
            sets += ", agreement_ref = :agreement_ref, expires_at = :expires_at"
            params.update(agreement_ref=event.agreement_ref, expires_at=event.expires_at)
        return f"UPDATE shares_view SET {sets} WHERE id = :id", params

    def _step(self, event: Any, step: str, position: int) -> Write:
        return (
            "INSERT INTO share_steps_view (position, share_id, tenant_id, contact_id, version,"
            " step, actor, at, detail, sealed) VALUES (:position, :share_id, :tenant_id,"
            " :contact_id, :version, :step, :actor, :at, :detail, "
            + self.sealed_unless_erased()
            + ")",
            {
                "position": position,
                "share_id": str(event.originator_id),
                "tenant_id": event.tenant_id,
                "contact_id": event.contact_id,
                "version": event.originator_version,
                "step": step,
                "actor": event.actor,
                "at": utc_text(event.timestamp),
                "detail": orjson.dumps(_detail(event)).decode(),
                "sealed": sealed_json(getattr(event, "sealed", {})),
            },
        )


def find_shares(
    store: ReadModelStore,
    tenant_id: UUID,
    *,
    share_id: UUID | None = None,
    contact_id: UUID | None = None,
    after: int = 0,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Shares of a tenant (one, or one contact's, or all) by request order, with ``steps``."""
    sql = "SELECT * FROM shares_view WHERE tenant_id = :tenant AND position > :after"
    params: dict[str, Any] = {"tenant": str(tenant_id), "after": after}
    if share_id is not None:
        sql += " AND id = :id"
        params["id"] = str(share_id)
    if contact_id is not None:
        sql += " AND contact_id = :contact"
        params["contact"] = str(contact_id)
    sql += " ORDER BY position"
    if limit is not None:
        sql += f" LIMIT {int(limit) + 1}"
    shares = store.query(sql, params)
    if not shares:
        return shares
    ids = {f"s{i}": row["id"] for i, row in enumerate(shares)}
    steps = store.query(
        "SELECT * FROM share_steps_view WHERE tenant_id = :tenant AND share_id IN ("
        + ", ".join(f":{k}" for k in ids)
        + ") ORDER BY position",
        {"tenant": str(tenant_id), **ids},
    )
    by_share: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in shares}
    for step in steps:
        by_share[step["share_id"]].append(step)
    for row in shares:
        row["steps"] = by_share[row["id"]]
    return shares
