"""Request and response bodies. Shapes and types only: the domain owns the rules.

Inputs declare what the domain accepts (``api.fields``), so the OpenAPI document tells a
client, and a fuzzer, which requests are valid.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import MISSING, BaseModel, ConfigDict, Field

from api.fields import CANONICAL_UUID, PLAIN_TEXT, VISIBLE_TEXT, Age, Email, Phone, one_of
from domain.user import Role

NAME = 200  # names, companies, titles: the domain's limit
REASON = 500


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TenantIn(Strict):
    name: str = Field(max_length=NAME, pattern=VISIBLE_TEXT)


class TenantOut(BaseModel):
    id: str
    name: str
    admin_token: str


class UserIn(Strict):
    full_name: str = Field(max_length=NAME, pattern=VISIBLE_TEXT)
    email: Email | None = None
    role: str = Field(json_schema_extra=one_of(Role))
    password: str | None = Field(default=None, min_length=12, max_length=256)
    age: Age | None = None


class UserOut(BaseModel):
    id: str
    role: str
    token: str


class SessionIn(Strict):
    # Declared, not enforced here: a login with a tenant id that names nothing, in any
    # spelling, gets the same 401 as any other failed login (API.md).
    tenant_id: str = Field(
        max_length=64,
        description="the tenant's id: a UUID, lower-case with hyphens",
        json_schema_extra={"format": "uuid", "pattern": CANONICAL_UUID},
    )
    email: str = Field(max_length=1000)
    password: str = Field(max_length=256)


class SessionOut(BaseModel):
    user_id: str
    role: str
    token: str


class ContactIn(Strict):
    full_name: str = Field(max_length=NAME, pattern=VISIBLE_TEXT)
    email: Email | None = None
    phone: Phone | None = None
    company: str | None = Field(default=None, max_length=NAME, pattern=PLAIN_TEXT)
    job_title: str | None = Field(default=None, max_length=NAME, pattern=PLAIN_TEXT)
    age: Age | None = None


class ContactPatch(Strict):
    """Fields present replace the stored value; ``null`` clears it (a name cannot be
    cleared); absent fields stay. A patch changes at least one field."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    full_name: str | MISSING = Field(default=MISSING, max_length=NAME, pattern=VISIBLE_TEXT)
    email: Email | None = None
    phone: Phone | None = None
    company: str | None = Field(default=None, max_length=NAME, pattern=PLAIN_TEXT)
    job_title: str | None = Field(default=None, max_length=NAME, pattern=PLAIN_TEXT)
    age: Age | None = None


class ContactOut(BaseModel):
    id: str
    version: int
    full_name: str | None
    email: str | None
    phone: str | None
    company: str | None
    job_title: str | None
    age: int | None
    age_unknown: bool = Field(
        description="no age is recorded: the subject is processed as an adult (known without"
        " opening the age)"
    )
    created_at: datetime
    updated_at: datetime


class Refusal(BaseModel):
    """Why a subject's values are not in a list: the purpose refused, and the reason
    (``no-consent``, ``restricted``, ``objected``, ``retention-ended``)."""

    purpose: str
    reason: str


class RefusedItem(BaseModel):
    """A subject in a list whose values the purpose may not open: its id, and why."""

    id: str
    refused: Refusal


class ContactPage(BaseModel):
    items: list[ContactOut | RefusedItem]
    next_cursor: str | None


class ErasureIn(Strict):
    reason: str = Field(max_length=REASON, pattern=VISIBLE_TEXT)
    # Kept in clear in the audit trail: an identifier, never free text.
    request_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    grace_period_hours: float | None = Field(
        default=None,
        gt=0,
        le=72,
        description="erase later (at most 72 hours), cancellable until then; default: now",
    )


class ScheduledErasureOut(BaseModel):
    id: str
    subject_id: str
    status: str
    due_at: str | None


class ErasureCertificateOut(BaseModel):
    id: str
    erasure_id: str
    tenant_id: str
    subject_id: str
    key_id: str
    destroyed_at: str
    erased_by: str
    request_id: str | None
    ledger_position: int
    signature: str
    public_key: str
    algorithm: str


class AuditEvent(BaseModel):
    position: int
    type: str
    aggregate_id: str
    version: int
    occurred_at: datetime
    actor: str
    data: dict[str, Any]
    personal: dict[str, str]


class AuditPage(BaseModel):
    items: list[AuditEvent]
    next_cursor: str | None
