"""Linked third-party accounts per contact: provider and status in clear, handle sealed."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.linked_account import LinkedAccount
from domain.values import utc_text
from projections.fence import ContactRowsProjection, fence_schema, row_by_id, rows_about
from projections.store import ReadModelStore, Write, sealed_json

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS linked_accounts_view (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        status TEXT NOT NULL,
        version INTEGER NOT NULL,
        linked_at TEXT NOT NULL,
        linked_by TEXT NOT NULL,
        unlinked_at TEXT,
        unlinked_by TEXT,
        sealed TEXT,
        position BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS linked_accounts_view_subject"
    " ON linked_accounts_view (tenant_id, contact_id, position)",
    fence_schema("linked_accounts"),
]


class LinkedAccountsProjection(ContactRowsProjection):
    name = "linked_accounts"
    schema = SCHEMA
    erased_sets = (("linked_accounts_view", "sealed = NULL"),)

    def rows_for(self, event: Any, position: int) -> list[Write]:
        if isinstance(event, LinkedAccount.Linked):
            return [
                (
                    "INSERT INTO linked_accounts_view (id, tenant_id, contact_id, provider,"
                    " status, version, linked_at, linked_by, sealed, position) VALUES (:id,"
                    " :tenant_id, :contact_id, :provider, 'linked', 1, :at, :actor, "
                    + self.sealed_unless_erased()
                    + ", :position)",
                    {
                        "id": str(event.originator_id),
                        "tenant_id": event.tenant_id,
                        "contact_id": event.contact_id,
                        "provider": event.provider,
                        "at": utc_text(event.timestamp),
                        "actor": event.actor,
                        "sealed": sealed_json(event.sealed),
                        "position": position,
                    },
                )
            ]
        if isinstance(event, LinkedAccount.Unlinked):
            return [
                (
                    "UPDATE linked_accounts_view SET status = 'unlinked', version = :version,"
                    " unlinked_at = :at, unlinked_by = :actor WHERE id = :id",
                    {
                        "id": str(event.originator_id),
                        "version": event.originator_version,
                        "at": utc_text(event.timestamp),
                        "actor": event.actor,
                    },
                )
            ]
        return []


def linked_accounts_of(
    store: ReadModelStore, tenant_id: UUID, contact_id: UUID, after: int, limit: int | None
) -> list[dict[str, Any]]:
    """Accounts ever linked to one contact, linked or since unlinked, oldest first."""
    return rows_about(store, "linked_accounts_view", tenant_id, contact_id, after, limit)


def linked_account(store: ReadModelStore, tenant_id: UUID, link_id: UUID) -> dict[str, Any] | None:
    return row_by_id(store, "linked_accounts_view", tenant_id, link_id)
