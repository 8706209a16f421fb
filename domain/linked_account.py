"""A subject's account with a third party, linked to their CRM record (purpose 8).

Linking rests on consent: without the subject's current consent for
``third_party_linking`` it is refused. The handle (a phone number, an address, a user
name) identifies the person and is sealed with the subject's key.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.base import ContactMatter
from domain.consent import ConsentRecord, require_consent
from domain.errors import InvalidField, TransitionNotAllowed
from domain.sealing import PersonalValue, Sealer, seal_event_fields
from domain.values import clean_text, normalise_email, normalise_phone

LINKING_PURPOSE = "third_party_linking"


class Provider(StrEnum):
    WHATSAPP_BUSINESS = "whatsapp_business"
    INSTAGRAM = "instagram"
    GOOGLE = "google"
    GITHUB = "github"
    FACEBOOK = "facebook"
    TELEGRAM = "telegram"
    LINE = "line"
    EMAIL = "email"


def _provider(value: str) -> Provider:
    try:
        return Provider(value)
    except ValueError:
        raise InvalidField(
            "provider", "must be one of " + ", ".join(p.value for p in Provider)
        ) from None


def _handle(provider: Provider, handle: str) -> PersonalValue:
    """WhatsApp Business is a phone number, Google and email an address, others a user name."""
    if provider is Provider.WHATSAPP_BUSINESS:
        return normalise_phone(handle, "handle")
    if provider in (Provider.GOOGLE, Provider.EMAIL):
        return normalise_email(handle, "handle")
    return clean_text(handle, "handle", max_length=200, required=True)


class LinkedAccount(ContactMatter):
    """One link between a contact and a third-party account: linked, then perhaps unlinked."""

    class Linked(ContactMatter.Created):
        provider: str
        sealed: dict[str, str]

    class Unlinked(ContactMatter.Event):
        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, LinkedAccount)
            aggregate.linked = False

    def __init__(
        self, tenant_id: str, actor: str, contact_id: str, provider: str, sealed: dict[str, str]
    ) -> None:
        self.tenant_id = tenant_id
        self.contact_id = UUID(contact_id)
        self.provider = Provider(provider)
        self.sealed = sealed
        self.linked = True

    @classmethod
    def link(
        cls,
        *,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        provider: str,
        handle: str,
        consents: ConsentRecord | None,
        sealer: Sealer,
        link_id: UUID | None = None,
    ) -> LinkedAccount:
        """Link an account; refused (ConsentRequired) without a current linking consent."""
        checked = _provider(provider)
        value = _handle(checked, handle)
        require_consent(consents, LINKING_PURPOSE)
        link_id = link_id or uuid4()
        return cls._create(
            cls.Linked,
            id=link_id,
            tenant_id=str(tenant_id),
            actor=actor,
            contact_id=str(contact_id),
            provider=checked.value,
            sealed=seal_event_fields(sealer, tenant_id, contact_id, link_id, 1, {"handle": value}),
        )

    def unlink(self, *, actor: str) -> None:
        """Undo the link. Unlinking needs no consent: it stops processing."""
        if not self.linked:
            raise TransitionNotAllowed("linked account", "unlinked", "unlinked")
        self.trigger_event(
            self.Unlinked, tenant_id=self.tenant_id, actor=actor, contact_id=str(self.contact_id)
        )
