"""Who may call the API: token hashes mapped to tenant, user and role. No token is stored.

A revocation deletes the user's rows, so every process that reads this table refuses the
user's tokens from the moment the projection commits.
"""

from __future__ import annotations

from typing import Any

from domain.user import User
from projections.runner import ReadModelProjection
from projections.store import ReadModelStore, Write

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS principals_view (
        token_hash TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        role TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS principals_view_user ON principals_view (user_id)",
]

_INSERT = (
    "INSERT INTO principals_view (token_hash, tenant_id, user_id, role)"
    " VALUES (:token_hash, :tenant_id, :user_id, :role)"
)


def principal_row(store: ReadModelStore, token_hash: str) -> dict[str, Any] | None:
    """Tenant, user and role behind a token hash; ``None`` for a token nobody holds."""
    rows = store.query(
        "SELECT tenant_id, user_id, role FROM principals_view WHERE token_hash = :h",
        {"h": token_hash},
    )
    return rows[0] if rows else None


class PrincipalsProjection(ReadModelProjection):
    name = "principals"
    schema = SCHEMA

    def writes_for(self, event: Any, position: int) -> list[Write]:
        if isinstance(event, User.Registered | User.TokenIssued):
            return [
                (
                    _INSERT,
                    {
                        "token_hash": event.token_hash,
                        "tenant_id": event.tenant_id,
                        "user_id": str(event.originator_id),
                        "role": event.role,
                    },
                )
            ]
        if isinstance(event, User.TokensRevoked):
            return [
                (
                    "DELETE FROM principals_view WHERE user_id = :user_id",
                    {"user_id": str(event.originator_id)},
                )
            ]
        return []
