"""The published versions of each tenant's privacy policy, in publication order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.policy import PrivacyPolicy
from domain.values import utc_text
from projections.runner import ReadModelProjection
from projections.store import ReadModelStore, Write

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS policies_view (
        tenant_id TEXT NOT NULL,
        version TEXT NOT NULL,
        effective_at TEXT NOT NULL,
        published_at TEXT NOT NULL,
        published_by TEXT NOT NULL,
        document_url TEXT,
        document_sha256 TEXT,
        position BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, version)
    )""",
    "CREATE INDEX IF NOT EXISTS policies_view_order ON policies_view (tenant_id, position)",
]


class PoliciesProjection(ReadModelProjection):
    name = "policies"
    schema = SCHEMA

    def writes_for(self, event: Any, position: int) -> list[Write]:
        if not isinstance(event, PrivacyPolicy.VersionPublished):
            return []
        return [
            (
                "INSERT INTO policies_view (tenant_id, version, effective_at, published_at,"
                " published_by, document_url, document_sha256, position) VALUES (:tenant_id,"
                " :version, :effective_at, :published_at, :published_by, :document_url,"
                " :document_sha256, :position)",
                {
                    "tenant_id": event.tenant_id,
                    "version": event.version,
                    "effective_at": event.effective_at,
                    "published_at": utc_text(event.timestamp),
                    "published_by": event.actor,
                    "document_url": event.document_url,
                    "document_sha256": event.document_sha256,
                    "position": position,
                },
            )
        ]


def published_versions(
    store: ReadModelStore, tenant_id: UUID, after: int, limit: int
) -> list[dict[str, Any]]:
    return store.query(
        "SELECT * FROM policies_view WHERE tenant_id = :tenant AND position > :after"
        f" ORDER BY position LIMIT {int(limit) + 1}",
        {"tenant": str(tenant_id), "after": after},
    )
