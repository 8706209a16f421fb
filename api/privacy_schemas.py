"""Request and response bodies of the privacy-policy domain: purposes, policy versions,
consents, service data, linked accounts, shares, data-subject requests, exports.

Shapes and types only: the domain owns the rules, and inputs declare what it accepts
(``api.fields``). Times in requests are RFC 3339 strings with their offset, which the domain
parses; rules about "now" (an activity is not in the future, an authorisation expires
after now) and about state (a policy version is published) stay with the domain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.fields import (
    PHONE,
    PLAIN_TEXT,
    VISIBLE_TEXT,
    Code,
    Id,
    IpAddress,
    Time,
    one_of,
)
from api.schemas import NAME, REASON, ContactOut, ContactPatch, ErasureCertificateOut, Strict
from domain.consent import GivenBy, Relationship
from domain.contact import PERSONAL_FIELDS
from domain.linked_account import Provider
from domain.purposes import CATALOGUE
from domain.request import PURPOSE_KINDS, Requester, RequestKind, VerificationMethod

LONG_TEXT = 2000  # referrers, free detail, document URLs: the domain's limit
PURPOSES = [p.code for p in CATALOGUE]
CONSENT_PURPOSES = [p.code for p in CATALOGUE if p.requires_consent]
# A policy version names what was published: visible text, at most 64 characters.
PolicyVersion = Annotated[str, Field(max_length=64, pattern=VISIBLE_TEXT)]
Source = Annotated[str, Field(max_length=NAME, pattern=VISIBLE_TEXT)]


class PurposeOut(BaseModel):
    code: str
    legal_basis: str
    requires_consent: bool
    automated_decisions: bool = Field(
        description="involves decisions by automated processing or profiling (UU PDP"
        " Pasal 10): an objection request can name it"
    )
    description: str
    policy_clause: str


class PolicyIn(Strict):
    version: PolicyVersion
    effective_at: Time | None = None
    document_url: str | None = Field(
        default=None, max_length=LONG_TEXT, pattern=r"^https?://[^\x00-\x1f]*$"
    )
    document_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


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


class GuardianIn(Strict):
    """The parent or guardian who decides for a child: sealed under the child's key."""

    full_name: str = Field(max_length=NAME, pattern=VISIBLE_TEXT)
    relationship: str = Field(
        description="parent: the child's parent (orang tua); guardian: a guardian (wali)",
        json_schema_extra=one_of(Relationship),
    )


class ConsentIn(Strict):
    """``given_by: guardian`` comes with ``guardian``, and ``guardian`` only with it. A grant
    for a child (13 to 17, UU PDP Pasal 25) that a parent or guardian does not give is
    refused (409, ``guardian-consent-required``): the contact's age decides, not the body."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {
                "properties": {"given_by": {"const": GivenBy.GUARDIAN.value}},
                "required": ["given_by"],
            },
            "then": {"properties": {"guardian": {"type": "object"}}, "required": ["guardian"]},
            "else": {"properties": {"guardian": {"type": "null"}}},
        }
    )

    purpose: str = Field(
        description="a purpose that rests on consent", json_schema_extra=one_of(CONSENT_PURPOSES)
    )
    granted: bool
    policy_version: PolicyVersion | None = Field(
        default=None, description="a published version; default: the one in force"
    )
    source: Source | None = None
    given_by: str = Field(
        default=GivenBy.SUBJECT.value,
        description="who decides: the subject, or a parent or guardian for a child",
        json_schema_extra=one_of(GivenBy),
    )
    guardian: GuardianIn | None = Field(
        default=None, description="who decided for the subject: only with given_by: guardian"
    )


class GuardianOut(BaseModel):
    full_name: str
    relationship: str


class ConsentOut(BaseModel):
    contact_id: str
    purpose: str
    granted: bool
    policy_version: str | None
    source: str | None
    given_by: str
    guardian: GuardianOut | None
    decided_at: datetime
    recorded_by: str


class CurrentConsent(BaseModel):
    purpose: str
    granted: bool
    policy_version: str | None
    given_by: str | None = Field(description="subject or guardian; null until decided")
    decided_at: datetime | None
    recorded_by: str | None


class ConsentEvent(BaseModel):
    purpose: str
    granted: bool
    policy_version: str | None
    source: str | None
    given_by: str
    guardian: GuardianOut | None = Field(
        description="the parent or guardian who decided; not shown to an auditor"
    )
    at: datetime
    recorded_by: str


class AcceptanceIn(Strict):
    policy_version: PolicyVersion | None = Field(
        default=None, description="a published version; default: the one in force"
    )
    source: Source | None = None


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
    occurred_at: Time | None = Field(default=None, description="not in the future; default: now")
    ip: IpAddress | None = None
    user_agent: str | None = Field(default=None, max_length=REASON, pattern=VISIBLE_TEXT)
    device: str | None = Field(default=None, max_length=NAME, pattern=VISIBLE_TEXT)
    location: str | None = Field(default=None, max_length=NAME, pattern=VISIBLE_TEXT)
    referrer: str | None = Field(default=None, max_length=LONG_TEXT, pattern=VISIBLE_TEXT)
    detail: str | None = Field(default=None, max_length=LONG_TEXT, pattern=VISIBLE_TEXT)


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


def _link_form(providers: list[Provider], handle: dict[str, Any]) -> dict[str, Any]:
    return {"properties": {"provider": one_of(providers), "handle": handle}}


# domain.linked_account reads a WhatsApp Business handle as a phone number, Google and email
# ones as addresses, and any other as a user name.
_PHONE_PROVIDERS = [Provider.WHATSAPP_BUSINESS]
_EMAIL_PROVIDERS = [Provider.GOOGLE, Provider.EMAIL]
_NAME_PROVIDERS = [p for p in Provider if p not in _PHONE_PROVIDERS + _EMAIL_PROVIDERS]


class LinkIn(Strict):
    """The handle's form follows the provider: a phone number for WhatsApp Business, an
    email address for Google and email, a user name for the others."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                _link_form(_PHONE_PROVIDERS, {"maxLength": 64, "pattern": PHONE}),
                _link_form(_EMAIL_PROVIDERS, {"maxLength": 254, "format": "email"}),
                _link_form(_NAME_PROVIDERS, {"maxLength": NAME, "pattern": VISIBLE_TEXT}),
            ]
        }
    )

    provider: str = Field(json_schema_extra=one_of(Provider))
    handle: str = Field(max_length=254, pattern=VISIBLE_TEXT)


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
    recipient: str = Field(max_length=NAME, pattern=VISIBLE_TEXT)
    purpose: str = Field(
        description="a purpose in the catalogue (GET /v1/purposes)",
        json_schema_extra=one_of(PURPOSES),
    )
    fields: list[Annotated[str, Field(json_schema_extra=one_of(PERSONAL_FIELDS))]] = Field(
        max_length=20, description="contact fields to share", json_schema_extra={"minItems": 1}
    )


class AuthorizeIn(Strict):
    agreement_ref: str = Field(max_length=NAME, pattern=VISIBLE_TEXT)
    expires_at: Time | None = Field(default=None, description="in the future; default: never")


class RevokeIn(Strict):
    reason: str | None = Field(default=None, max_length=REASON, pattern=PLAIN_TEXT)


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


NAMEABLE_PURPOSES = [p.code for p in CATALOGUE if not p.system]
OBJECTABLE_PURPOSES = [p.code for p in CATALOGUE if p.objectable]
_WITHOUT_PURPOSES = [k.value for k in RequestKind if k not in PURPOSE_KINDS]


def _purposes_for(kind: RequestKind, codes: list[str]) -> dict[str, Any]:
    return {
        "if": {"properties": {"kind": {"const": kind.value}}},
        "then": {"properties": {"purposes": {"items": {"enum": codes}}}},
    }


# The rules across a request's fields, stated in the schema so the document tells the truth.
_REQUEST_RULES: dict[str, Any] = {
    "allOf": [
        {
            "if": {
                "properties": {"requested_by": {"const": Requester.GUARDIAN.value}},
                "required": ["requested_by"],
            },
            "then": {
                "properties": {"subject_is_minor": {"const": True}},
                "required": ["subject_is_minor"],
            },
        },
        {
            "if": {"properties": {"kind": {"enum": _WITHOUT_PURPOSES}}},
            "then": {"not": {"required": ["purposes"]}},
        },
        {
            "if": {"properties": {"kind": {"not": {"const": RequestKind.RECTIFICATION.value}}}},
            "then": {"not": {"required": ["changes"]}},
        },
        _purposes_for(RequestKind.WITHDRAWAL, CONSENT_PURPOSES),
        _purposes_for(RequestKind.OBJECTION, OBJECTABLE_PURPOSES),
    ]
}


class RequestIn(Strict):
    """A parent or guardian (``requested_by: guardian``) acts only for a minor, and says so
    with ``subject_is_minor: true``. ``purposes`` (omitted: all) only for a restriction, a
    withdrawal (purposes resting on consent) or an objection (purposes with automated
    decisions); ``changes`` (the corrected contact fields, as a PATCH) only for a
    rectification."""

    model_config = ConfigDict(json_schema_extra=_REQUEST_RULES)

    contact_id: Id
    kind: str = Field(json_schema_extra=one_of(RequestKind))
    requested_by: str = Field(json_schema_extra=one_of(Requester))
    subject_is_minor: bool = False
    purposes: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=len(NAMEABLE_PURPOSES),
        json_schema_extra={"items": dict(one_of(NAMEABLE_PURPOSES)), "uniqueItems": True},
    )
    changes: ContactPatch | None = None


class VerificationIn(Strict):
    """How the requester's identity was checked; ``note`` (e.g. which document) is sealed
    under the subject's key."""

    method: str = Field(json_schema_extra=one_of(VerificationMethod))
    note: str | None = Field(default=None, max_length=REASON, pattern=VISIBLE_TEXT)


class Verification(BaseModel):
    method: str
    verified_by: str
    verified_at: datetime


class Notice(BaseModel):
    """The outcome told to the subject: an event relayed to Kafka for an integration to
    deliver (``channel``), with a content code (``<kind>-done`` / ``<kind>-rejected``)."""

    channel: str
    content: str
    at: datetime


class RejectIn(Strict):
    reason: str = Field(max_length=REASON, pattern=VISIBLE_TEXT)


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
    purposes: list[str] | None = None
    changed_fields: list[str] | None = Field(
        default=None, description="the fields a rectification corrects (values stay sealed)"
    )
    verification: Verification | None = None
    effects: list[str] | None = Field(
        default=None,
        description="what completing did: erased, rectified:<field>,"
        " consent-withdrawn:<purpose>, unlinked:<link id>, share-revoked:<share id>,"
        " restricted, restriction-lifted, objected",
    )
    notice: Notice | None = None
    certificate: ErasureCertificateOut | None = Field(
        default=None, description="the signed erasure certificate: only when completing erases"
    )
    information: dict[str, Any] | None = Field(
        default=None,
        description="completing an information request: what is held, why, how"
        " long, shared with whom",
    )
    package: dict[str, Any] | None = Field(
        default=None, description="completing a portability request: the signed package"
    )


class RequestPage(BaseModel):
    items: list[RequestOut]
    next_cursor: str | None


class MarketingPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


class TrainingPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None


class PromotedCompany(BaseModel):
    contact_id: str
    company: str


class PromotionPage(BaseModel):
    items: list[PromotedCompany]
    next_cursor: str | None


class AccessRecordOut(BaseModel):
    """One opening of subjects' personal data: ids and codes only."""

    position: int
    at: datetime
    actor: str
    role: str
    purpose: str
    operation: str
    fields: list[str]
    subject_ids: list[str]
    request_id: str | None


class AccessPage(BaseModel):
    items: list[AccessRecordOut]
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
    processing: list[AccessRecordOut] = Field(
        description="the subject's processing trail: every recorded opening of its data"
    )
