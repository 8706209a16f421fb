"""Tenants and their users: create a tenant with its first admin, add users, issue and
revoke their tokens. Tokens are shown once and stored only as hashes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple
from uuid import UUID

from domain.keys import PLATFORM as PLATFORM_ACTOR
from domain.tenant import Tenant, first_admin_id
from domain.user import Role, User
from service.credentials import hash_password, new_token, token_hash
from service.crm import CRM, Committed, Issued
from service.errors import ConcurrentWrite


class NewTenant(NamedTuple):
    """A tenant and its first admin's token."""

    tenant: Tenant
    admin: Issued


class Tenants:
    """The platform's tenants and every tenant's users."""

    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    def create(self, name: str, tenant_id: UUID | None = None) -> Committed[NewTenant]:
        """A tenant and its first admin, in one transaction. Created at most once per id:
        a re-run (its id derived from an idempotency key) gets the tenant as it was created,
        with a new token for its first admin, the answer the first run never gave."""
        tenant = Tenant.create(name=name, actor=PLATFORM_ACTOR, tenant_id=tenant_id)
        token = new_token()
        admin = User.register(
            tenant_id=tenant.id,
            actor=PLATFORM_ACTOR,
            role=Role.ADMIN,
            details={},
            token_hash=token_hash(token),
            password_hash=None,
            sealer=self.crm.sealer,  # the first admin has no personal data, so no key
            user_id=first_admin_id(tenant.id),
        )
        try:
            position = self.crm.commit(tenant, admin)
        except ConcurrentWrite:
            existing = self.crm.created_before(Tenant, tenant.id, tenant.id)
            issued = self.issue_token(existing.id, admin.id, PLATFORM_ACTOR)
            return Committed(NewTenant(existing, issued.value), issued.position)
        return Committed(NewTenant(tenant, Issued(admin.id, token, admin.version)), position)

    def register_user(
        self,
        tenant_id: UUID,
        actor: str,
        role: str,
        details: Mapping[str, object],
        password: str | None,
        user_id: UUID | None = None,
    ) -> Committed[Issued]:
        """A new user with its first token; at most once per id (a re-run gets a new token
        for the user the first run created)."""
        token = new_token()
        session = self.crm.sealer.session()
        user = User.register(
            tenant_id=tenant_id,
            actor=actor,
            role=role,
            details=details,
            token_hash=token_hash(token),
            password_hash=hash_password(password) if password else None,
            sealer=session,
            user_id=user_id,
        )
        try:
            position = self.crm.commit(user, *self.crm.key_records(session, actor, user.id))
        except ConcurrentWrite:
            existing = self.crm.created_before(User, tenant_id, user.id)
            return self.issue_token(tenant_id, existing.id, actor)
        return Committed(Issued(user.id, token, user.version), position)

    def issue_token(self, tenant_id: UUID, user_id: UUID, actor: str) -> Committed[Issued]:
        """A new token for an existing user (after a login); shown once, stored as a hash."""
        user = self.crm.owned(User, tenant_id, user_id)
        token = new_token()
        user.issue_token(actor=actor, token_hash=token_hash(token))
        return self.crm.committed(Issued(user.id, token, user.version), user)

    def revoke_tokens(self, tenant_id: UUID, user_id: UUID, actor: str) -> Committed[User]:
        """Revoke every token of a user."""
        user = self.crm.owned(User, tenant_id, user_id)
        user.revoke_tokens(actor=actor)
        return self.crm.committed(user, user)

    def user(self, tenant_id: UUID, user_id: UUID) -> User:
        return self.crm.owned(User, tenant_id, user_id)
