"""Logins: tenant, email and password in, a new bearer token out.

The user is found through the users directory's blind index of the email; the password is
checked with argon2id. Every failure looks and takes the same: an unknown tenant, an
unknown email, a user without a password and a wrong password all cost one argon2 check
and all end in ``None``.
"""

from __future__ import annotations

from uuid import UUID

from domain.errors import InvalidField
from domain.values import normalise_email
from projections.users import EMAIL_INDEX_KIND
from service.bootstrap import Service
from service.credentials import burn_password_check, check_password
from service.crm import Committed, Issued

_CANDIDATES = 5


def log_in(
    service: Service, tenant_id: UUID, email: str, password: str
) -> Committed[Issued] | None:
    """A new token for the user with this email and password in this tenant, else ``None``."""
    try:
        digest = service.blind_index.digest(tenant_id, EMAIL_INDEX_KIND, normalise_email(email))
    except InvalidField:
        burn_password_check(password)
        return None
    for row in _candidates(service, tenant_id, digest):
        if row["password_hash"] and check_password(password, row["password_hash"]):
            user_id = UUID(row["id"])
            return service.tenants.issue_token(tenant_id, user_id, actor=str(user_id))
    burn_password_check(password)
    return None


def _candidates(service: Service, tenant_id: UUID, digest: str) -> list[dict[str, str]]:
    sql = (
        "SELECT id, password_hash FROM users_view WHERE tenant_id = :tenant"
        f" AND email_index = :email ORDER BY id LIMIT {_CANDIDATES}"
    )
    params = {"tenant": str(tenant_id), "email": digest}
    rows = service.read_models.query(sql, params)
    if not rows:
        # A user registered through another process may not be projected here yet.
        service.catch_up()
        rows = service.read_models.query(sql, params)
    return rows
