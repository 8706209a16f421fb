"""Request and response bodies of the privacy-policy domain: purposes, policy versions,
consents, service data, linked accounts, shares, data-subject requests, exports.

Shapes and types only: the domain owns the rules. Times in requests are RFC 3339 strings
that the domain parses (a time without an offset is refused there, with the field named).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from api.fields import Id
from api.schemas import ContactOut, ErasureCertificateOut, Strict

_TEXT = 1000  # a sanity bound on shape; the domain applies the real limits
Time = Annotated[str, Field(max_length=64, json_schema_extra={"format": "date-time"})]
Code = Annotated[str, Field(max_length=64)]


class PurposeOut(BaseModel):
    code: str
    legal_basis: str
    requires_consent: bool
    description: str
    policy_clause: str


class PolicyIn(Strict):
    version: Code
    effective_at: Time | None = None
    document_url: str | None = Field(default=None, max_length=2000)
    document_sha256: str | None = Field(default=None, max_length=64)


class PolicyOut(BaseModel):
    version: str
    effective_at: datetime
    published_at: datetime
    published_by: str
    document_url: str | None
    document_sha256: str | None


class PolicyPage(BaseModel):
    items: list[PolicyOut]
    next_cursor: str | None
    current_version: str | None


class ConsentIn(Strict):
    purpose: Code
    granted: bool
    policy_version: Code | None = None
    source: str | None = Field(default=None, max_length=_TEXT)


class ConsentOut(BaseModel):
    contact_id: str
    purpose: str
    granted: bool
    policy_version: str | None
    source: str | None
    decided_at: datetime
    recorded_by: str


class CurrentConsent(BaseModel):
    purpose: str
    granted: bool
    policy_version: str | None
    decided_at: datetime | None
    recorded_by: str | None


class ConsentEvent(BaseModel):
    purpose: str
    granted: bool
    policy_version: str | None
    source: str | None
    at: datetime
    recorded_by: str


class AcceptanceIn(Strict):
    policy_version: Code | None = None
    source: str | None = Field(default=None, max_length=_TEXT)


class AcceptanceOut(BaseModel):
    policy_version: str
    source: str | None
    at: datetime
    recorded_by: str


class ConsentsOut(BaseModel):
    contact_id: str
    current: list[CurrentConsent]
    history: list[ConsentEvent]
    policy_acceptances: list[AcceptanceOut]
    accepted_policy_version: str | None


class ActivityIn(Strict):
    kind: Code
    occurred_at: Time | None = None
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=_TEXT)
    device: str | None = Field(default=None, max_length=_TEXT)
    location: str | None = Field(default=None, max_length=_TEXT)
    referrer: str | None = Field(default=None, max_length=4000)
    detail: str | None = Field(default=None, max_length=4000)


class ActivityOut(BaseModel):
    id: str
    contact_id: str
    kind: str
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    ip: str | None
    user_agent: str | None
    device: str | None
    location: str | None
    referrer: str | None
    detail: str | None


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None


class LinkIn(Strict):
    provider: Code
    handle: str = Field(max_length=_TEXT)


class LinkOut(BaseModel):
    id: str
    contact_id: str
    provider: str
    handle: str | None
    status: str
    version: int
    linked_at: datetime
    linked_by: str
    unlinked_at: datetime | None
    unlinked_by: str | None


class LinkPage(BaseModel):
    items: list[LinkOut]
    next_cursor: str | None


class ShareIn(Strict):
    contact_id: Id
    recipient: str = Field(max_length=_TEXT)
    purpose: Code
    fields: list[Code] = Field(max_length=20)


class AuthorizeIn(Strict):
    agreement_ref: str = Field(max_length=_TEXT)
    expires_at: Time | None = None


class RevokeIn(Strict):
    reason: str | None = Field(default=None, max_length=_TEXT)


class ShareStep(BaseModel):
    step: str
    version: int
    at: datetime
    actor: str
    detail: dict[str, Any]


class ShareOut(BaseModel):
    id: str
    contact_id: str
    recipient: str
    purpose: str
    fields: list[str]
    status: str
    agreement_ref: str | None
    expires_at: datetime | None
    version: int
    requested_at: datetime
    updated_at: datetime
    contact_erased: bool
    history: list[ShareStep]
    shared: dict[str, Any] | None = Field(
        default=None, description="the values handed over: only in execute's answer"
    )


class SharePage(BaseModel):
    items: list[ShareOut]
    next_cursor: str | None


class RequestIn(Strict):
    contact_id: Id
    kind: Code
    requested_by: Code
    subject_is_minor: bool = False


class RejectIn(Strict):
    reason: str = Field(max_length=_TEXT)


class RequestOut(BaseModel):
    id: str
    contact_id: str
    kind: str
    requested_by: str
    subject_is_minor: bool
    status: str
    received_at: datetime
    due_at: datetime
    overdue: bool
    closed_at: datetime | None
    reason: str | None
    erasure_id: str | None
    version: int
    certificate: ErasureCertificateOut | None = Field(
        default=None, description="the signed erasure certificate: only when completing erases"
    )


class RequestPage(BaseModel):
    items: list[RequestOut]
    next_cursor: str | None


class MarketingPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


class ContactChange(BaseModel):
    version: int
    type: str
    at: datetime
    actor: str | None
    set: dict[str, Any]
    cleared: list[str]


class SubjectExport(BaseModel):
    format: str
    generated_at: datetime
    contact: ContactOut
    history: list[ContactChange]
    consents: ConsentsOut
    activities: list[ActivityOut]
    linked_accounts: list[LinkOut]
    shares: list[ShareOut]
    requests: list[RequestOut]
