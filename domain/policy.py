"""The tenant's privacy policy: its published versions (obligation 7).

One register per tenant, with an id derived from the tenant's. Publishing a version is an
event; a version is published once. Consents and acceptances name the version they were
given under, which must be one published here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.base import TenantAggregate
from domain.errors import InvalidField, PolicyVersionExists
from domain.values import clean_text, utc_text

_REGISTER_IDS = UUID("0b5f3a52-2f4e-4f0c-8a57-3c1d1f8e2b61")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class PolicyVersion:
    """One published version: in force from ``effective_at``."""

    version: str
    effective_at: datetime
    published_at: datetime
    published_by: str
    document_url: str | None
    document_sha256: str | None


class PrivacyPolicy(TenantAggregate):
    """The versions of one tenant's privacy policy, in the order they were published."""

    class Adopted(TenantAggregate.Created):
        pass

    class VersionPublished(TenantAggregate.Event):
        version: str
        effective_at: str
        document_url: str | None
        document_sha256: str | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, PrivacyPolicy)
            aggregate.versions[self.version] = PolicyVersion(
                self.version,
                datetime.fromisoformat(self.effective_at),
                self.timestamp,
                self.actor,
                self.document_url,
                self.document_sha256,
            )

    def __init__(self, tenant_id: str, actor: str) -> None:
        self.tenant_id = tenant_id
        self.versions: dict[str, PolicyVersion] = {}

    @staticmethod
    def id_for(tenant_id: UUID) -> UUID:
        return uuid5(_REGISTER_IDS, str(tenant_id))

    @classmethod
    def adopt(cls, *, tenant_id: UUID, actor: str) -> PrivacyPolicy:
        return cls._create(
            cls.Adopted, id=cls.id_for(tenant_id), tenant_id=str(tenant_id), actor=actor
        )

    def publish(
        self,
        *,
        version: str,
        actor: str,
        effective_at: datetime,
        document_url: str | None = None,
        document_sha256: str | None = None,
    ) -> PolicyVersion:
        """Publish a new version; the same version twice is refused (its text is fixed)."""
        version = clean_text(version, "version", max_length=64, required=True)
        if version in self.versions:
            raise PolicyVersionExists(version)
        if document_url is not None:
            document_url = clean_text(document_url, "document_url", max_length=2000)
            if not document_url.startswith(("https://", "http://")):
                raise InvalidField("document_url", "must be an http(s) URL")
        if document_sha256 is not None and not _SHA256.match(document_sha256):
            raise InvalidField("document_sha256", "must be 64 lower-case hex digits")
        self.trigger_event(
            self.VersionPublished,
            tenant_id=self.tenant_id,
            actor=actor,
            version=version,
            effective_at=utc_text(effective_at),
            document_url=document_url,
            document_sha256=document_sha256,
        )
        return self.versions[version]

    @property
    def last_published(self) -> PolicyVersion | None:
        """The version published most recently (whether or not it is in force yet)."""
        return next(reversed(self.versions.values()), None)

    def current(self, now: datetime) -> PolicyVersion | None:
        """The version in force at ``now``: the latest effective one, later publication first."""
        in_force = [
            (v.effective_at, order, v)
            for order, v in enumerate(self.versions.values())
            if v.effective_at <= now
        ]
        return max(in_force)[2] if in_force else None

    def resolve(self, version: str | None, now: datetime, field: str) -> str | None:
        """The version a consent or acceptance is given under: the one named, which must be
        published, or else the one in force (``None`` when the tenant published none)."""
        if version is None:
            current = self.current(now)
            return None if current is None else current.version
        if version not in self.versions:
            raise InvalidField(field, "is not a published policy version")
        return version


def resolve_version(
    policy: PrivacyPolicy | None, version: str | None, now: datetime, field: str
) -> str | None:
    """:meth:`PrivacyPolicy.resolve` for a tenant that may not have published any version."""
    if policy is None:
        if version is not None:
            raise InvalidField(field, "is not a published policy version")
        return None
    return policy.resolve(version, now, field)


def version_to_accept(policy: PrivacyPolicy | None, version: str | None, now: datetime) -> str:
    """The version a subject accepts: the one named, or the one in force; there must be one."""
    resolved = resolve_version(policy, version, now, "policy_version")
    if resolved is None:
        raise InvalidField("policy_version", "no policy version is in force to accept")
    return resolved
