"""A tenant's user: an agent, admin, PIC, privacy officer or auditor, and a data subject too."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.base import TenantAggregate
from domain.errors import InvalidField
from domain.sealing import PersonalValue, Sealer, seal_fields
from domain.values import check_age, clean_text, normalise_email


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    PIC = "pic"
    PRIVACY_OFFICER = "privacy_officer"
    AUDITOR = "auditor"


class User(TenantAggregate):
    """A user. Name and email are sealed under the user's own key; credentials only as hashes."""

    class Registered(TenantAggregate.Created):
        role: str
        sealed: dict[str, str]
        token_hash: str
        password_hash: str | None

    class TokenIssued(TenantAggregate.Event):
        """A new bearer token, e.g. after a login; only its hash is recorded."""

        role: str
        token_hash: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, User)
            aggregate.active_tokens += 1

    class TokensRevoked(TenantAggregate.Event):
        """Every token the user holds stops working, in every process, at once."""

        revoked: int

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, User)
            aggregate.active_tokens = 0

    def __init__(
        self,
        tenant_id: str,
        actor: str,
        role: str,
        sealed: dict[str, str],
        token_hash: str,
        password_hash: str | None,
    ) -> None:
        self.tenant_id = tenant_id
        self.role = Role(role)
        self.fields = {f: (1, t) for f, t in sealed.items()}
        self.token_hash = token_hash
        self.password_hash = password_hash
        self.active_tokens = 1

    @classmethod
    def register(
        cls,
        *,
        tenant_id: UUID,
        actor: str,
        role: str,
        details: Mapping[str, object],
        token_hash: str,
        password_hash: str | None,
        sealer: Sealer,
        user_id: UUID | None = None,
    ) -> User:
        """Register a user; a tenant's first admin may have no personal details at all."""
        try:
            checked_role = Role(role)
        except ValueError:
            raise InvalidField(
                "role", "must be one of " + ", ".join(r.value for r in Role)
            ) from None
        values: dict[str, PersonalValue] = {}
        if details.get("full_name") is not None:
            values["full_name"] = clean_text(
                str(details["full_name"]), "full_name", max_length=200, required=True
            )
        if details.get("email") is not None:
            values["email"] = normalise_email(str(details["email"]))
        age = details.get("age")
        if age is not None:
            if isinstance(age, bool) or not isinstance(age, int):
                raise InvalidField("age", "must be a whole number")
            values["age"] = check_age(age)
        user_id = user_id or uuid4()
        return cls._create(
            cls.Registered,
            id=user_id,
            tenant_id=str(tenant_id),
            actor=actor,
            role=checked_role.value,
            sealed=seal_fields(sealer, tenant_id, user_id, 1, values),
            token_hash=token_hash,
            password_hash=password_hash,
        )

    def issue_token(self, *, actor: str, token_hash: str) -> None:
        """Record a new token for this user (a login); the token itself is never stored."""
        self.trigger_event(
            self.TokenIssued,
            tenant_id=self.tenant_id,
            actor=actor,
            role=self.role.value,
            token_hash=token_hash,
        )

    def revoke_tokens(self, *, actor: str) -> None:
        """Revoke every token of this user. Revoking when none is active is still recorded:
        the caller asked for a state, and the audit trail shows who asked."""
        self.trigger_event(
            self.TokensRevoked, tenant_id=self.tenant_id, actor=actor, revoked=self.active_tokens
        )
