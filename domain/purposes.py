"""The purpose catalogue: every use of personal data the privacy policy names, and its basis.

Data may be used only for these purposes (obligation 2). Those resting on consent are
refused without the subject's current consent; the others rest on the contract, the
controller's legitimate interest or a legal obligation. ``clause`` points into the policy
(``privacy-policy.id.txt``, "Bagaimana kami menggunakan data Pelanggan", unless noted).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import InvalidField


class LegalBasis(StrEnum):
    CONTRACT = "contract"
    LEGITIMATE_INTEREST = "legitimate_interest"
    LEGAL_OBLIGATION = "legal_obligation"
    CONSENT = "consent"


@dataclass(frozen=True)
class Purpose:
    """One named use of personal data. The code is stable: events and clients refer to it."""

    code: str
    legal_basis: LegalBasis
    description: str
    clause: str
    system: bool = False  # a use by the service itself, not one a caller names for its work
    # Involves decisions made by automated processing, profiling included (UU PDP Pasal 10):
    # the subject may object to it.
    automated: bool = False

    @property
    def requires_consent(self) -> bool:
        return self.legal_basis is LegalBasis.CONSENT

    @property
    def objectable(self) -> bool:
        """Whether an objection (Pasal 10) can name it."""
        return self.automated


CATALOGUE: tuple[Purpose, ...] = (
    Purpose(
        "support",
        LegalBasis.CONTRACT,
        "Technical help and tasks the customer asks for, such as support tickets.",
        "1",
    ),
    Purpose(
        "service_improvement",
        LegalBasis.LEGITIMATE_INTEREST,
        "Monitoring, maintaining and improving the service.",
        "2",
        automated=True,
    ),
    Purpose(
        "billing",
        LegalBasis.CONTRACT,
        "Managing invoices and payments, with payment processors bound to confidentiality.",
        "3",
    ),
    Purpose(
        "follow_up",
        LegalBasis.LEGITIMATE_INTEREST,
        "Following up when the customer asks for information, registers for an event or"
        " sends a question.",
        "4",
    ),
    Purpose(
        "marketing",
        LegalBasis.CONSENT,
        "Sharing useful content and news about products and services.",
        "5",
        automated=True,
    ),
    Purpose(
        "account_management",
        LegalBasis.CONTRACT,
        "Setting up and managing the customer's account.",
        "6",
    ),
    Purpose(
        "community",
        LegalBasis.CONTRACT,
        "Providing and managing the community platform (blog, chat groups, forums) the"
        " customer chooses to take part in.",
        "7",
    ),
    Purpose(
        "third_party_linking",
        LegalBasis.CONSENT,
        "Linking the account to third-party accounts: WhatsApp Business, Instagram, Google,"
        " GitHub, Facebook, Telegram, LINE, email.",
        "8",
    ),
    Purpose(
        "training_data",
        LegalBasis.CONSENT,
        "Producing training data from service data for research, development and analysis.",
        "9",
        automated=True,
    ),
    Purpose(
        "legal",
        LegalBasis.LEGAL_OBLIGATION,
        "Complying with law, legal process and requests of public authorities; enforcing"
        " terms; protecting rights, privacy, safety and property.",
        "10",
    ),
    Purpose(
        "promotional_logo_use",
        LegalBasis.CONSENT,
        "Using the customer's company name and logo in promotion, marketing, press releases"
        " and on the website.",
        "11",
    ),
    Purpose(
        "third_party_sharing",
        LegalBasis.CONSENT,
        "Sharing data with a third party, only after the PIC's approval and an authorisation"
        " matching the agreement with that third party.",
        "How we collect data, 3",
    ),
    Purpose(
        "subject_request",
        LegalBasis.LEGAL_OBLIGATION,
        "Answering the subject's own requests under UU PDP (access with a copy, rectification,"
        " erasure and the other rights): what the privacy officer opens to answer them.",
        "UU PDP Pasal 5-13; How we protect data, the subject's rights",
        system=True,
    ),
    Purpose(
        "storage",
        LegalBasis.LEGITIMATE_INTEREST,
        "Keeping the data: computing blind indexes, rebuilding read models, verifying the"
        " ledger, rotating keys. Nothing is shown to anyone.",
        "How we protect data",
        system=True,
    ),
)
STORAGE = "storage"
SUBJECT_REQUEST = "subject_request"
LEGAL = "legal"

_BY_CODE = {p.code: p for p in CATALOGUE}


def purpose(code: str, field: str = "purpose") -> Purpose:
    """The catalogue entry for ``code``; anything else is not a use the policy allows."""
    found = _BY_CODE.get(code)
    if found is None:
        raise InvalidField(field, "is not a purpose in the catalogue (GET /v1/purposes)")
    return found


def consent_purpose(code: str, field: str = "purpose") -> Purpose:
    """A purpose that rests on consent: only those can be granted or withdrawn."""
    found = purpose(code, field)
    if not found.requires_consent:
        raise InvalidField(field, f"rests on {found.legal_basis.value}, not on consent")
    return found
