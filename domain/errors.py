"""Domain errors: raised where a rule lives, translated to HTTP once, at the edge.

Messages name the field and the rule, never the offending value: a value may be personal.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule violation the domain can report."""

    code = "domain-error"
    title = "Domain rule violated"


class InvalidField(DomainError):
    """A field failed validation; the message names the field and the rule only."""

    code = "invalid-field"
    title = "Invalid field"

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class MinorNotAllowed(DomainError):
    """The policy forbids records for anyone under 13 (obligation 5)."""

    code = "minor-not-allowed"
    title = "Subjects under 13 are not accepted"

    def __init__(self, field: str = "age") -> None:
        super().__init__(f"{field}: the privacy policy does not allow subjects under 13")
        self.field = field


class SubjectErased(DomainError):
    """The subject was erased: its personal data is gone and it takes no new commands. The
    one "erased" error (410): a destroyed key met anywhere (``KeyDestroyed``) means this too,
    and the API's problem table says so in one place."""

    code = "erased"
    title = "Gone"


class VersionMismatch(DomainError):
    """The caller's expected version (If-Match) is not the aggregate's current version."""

    code = "version-mismatch"
    title = "Precondition failed"

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"expected version {expected}, current version is {actual}")
        self.expected = expected
        self.actual = actual


class ErasurePending(DomainError):
    """A scheduled erasure conflicts with the command (already pending, or not pending)."""

    code = "erasure-pending"
    title = "Erasure state conflict"


class ProcessingRefused(DomainError):
    """The subject's data may not be processed for the purpose asked (DESIGN invariant 12):
    ``reason`` is ``no-consent``, ``restricted``, ``objected`` or ``retention-ended``, and
    ``guardian-consent-required`` for a child's grant given without a parent or guardian."""

    code = "processing-refused"
    title = "Processing refused"

    def __init__(self, purpose: str, reason: str, detail: str | None = None) -> None:
        super().__init__(
            detail or f"the subject's data may not be processed for {purpose}: {reason}"
        )
        self.purpose = purpose
        self.reason = reason


class ConsentRequired(ProcessingRefused):
    """Processing that rests on consent was asked for, and the subject's consent is not current."""

    code = "consent-required"
    title = "Consent required"

    def __init__(self, purpose: str) -> None:
        super().__init__(
            purpose, "no-consent", f"this needs the subject's current consent for {purpose}"
        )


class GuardianConsentRequired(ProcessingRefused):
    """A child (13 to 17: UU PDP Pasal 25) cannot give consent alone: a grant for them is
    refused unless a parent or guardian gives it, named in the decision."""

    code = "guardian-consent-required"
    title = "Guardian consent required"

    def __init__(self, purpose: str) -> None:
        super().__init__(
            purpose,
            "guardian-consent-required",
            f"the subject is a child: consent for {purpose} is given by a parent or guardian",
        )


class IdentityNotVerified(DomainError):
    """A request is carried out only once the requester's identity was verified."""

    code = "identity-not-verified"
    title = "Identity not verified"

    def __init__(self) -> None:
        super().__init__("record how the requester's identity was verified first (verify)")


class TransitionNotAllowed(DomainError):
    """A step of a procedure was asked for out of order (a share, a request, a link)."""

    code = "step-out-of-order"
    title = "Step not allowed now"

    def __init__(self, what: str, step: str, status: str) -> None:
        super().__init__(f"a {what} that is {status} cannot be {step}")
        self.step = step
        self.status = status


class AuthorisationExpired(DomainError):
    """The authorisation a share rests on has expired: no further data may be shared under it."""

    code = "authorisation-expired"
    title = "Authorisation expired"

    def __init__(self) -> None:
        super().__init__("the share's authorisation has expired; authorise it again")


class PolicyVersionExists(DomainError):
    """A privacy-policy version is published once; a changed text is a new version."""

    code = "policy-version-exists"
    title = "Policy version already published"

    def __init__(self, version: str) -> None:
        super().__init__(f"policy version {version} is already published")
        self.version = version
