"""The users directory, for logins: tenant, role, password hash and a blind index of the email.

The email itself stays sealed in the user's events; the row holds only its keyed hash, so a
login can find the user without any plaintext at rest.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from crypto.blind_index import BlindIndex
from crypto.errors import KeyDestroyed
from crypto.sealer import StorageOpenings, SubjectSealer
from domain.user import User
from projections.runner import ReadModelProjection
from projections.store import Write

EMAIL_INDEX_KIND = "user-email"

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS users_view (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        role TEXT NOT NULL,
        email_index TEXT,
        password_hash TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS users_view_email ON users_view (tenant_id, email_index)",
]


class UsersProjection(ReadModelProjection):
    name = "users"
    schema = SCHEMA

    def __init__(
        self, sealer: SubjectSealer, blind_index: BlindIndex, storage: StorageOpenings
    ) -> None:
        self.sealer = sealer
        self.blind_index = blind_index
        self.storage = storage  # opening to index is storage, not a use: recorded per run

    def writes_for(self, event: Any, position: int) -> list[Write]:
        if not isinstance(event, User.Registered):
            return []
        return [
            (
                "INSERT INTO users_view (id, tenant_id, role, email_index, password_hash)"
                " VALUES (:id, :tenant_id, :role, :email_index, :password_hash)",
                {
                    "id": str(event.originator_id),
                    "tenant_id": event.tenant_id,
                    "role": event.role,
                    "email_index": self._email_index(event),
                    "password_hash": event.password_hash,
                },
            )
        ]

    def _email_index(self, event: User.Registered) -> str | None:
        if "email" not in event.sealed:
            return None
        tenant_id = UUID(event.tenant_id)
        try:
            opened = self.sealer.open_fields(
                tenant_id,
                event.originator_id,
                {"email": (1, event.sealed["email"])},
                self.storage,
            )
        except KeyDestroyed:
            return None
        return self.blind_index.digest(tenant_id, EMAIL_INDEX_KIND, opened["email"])
