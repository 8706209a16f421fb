"""Data-subject requests: receive, verify the requester, start, complete (each kind does
its work), reject. Completing or rejecting records the notice owed to the subject."""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

from crypto.certificates import ErasureCertificate
from crypto.signing import Signer
from domain.consent import ConsentRecord
from domain.contact import Contact
from domain.errors import SubjectErased
from domain.linked_account import LinkedAccount
from domain.policy import PrivacyPolicy, resolve_version
from domain.purposes import CATALOGUE
from domain.request import RequestKind, SubjectRequest
from domain.share import DataShare, ShareStatus
from projections.consents import current_consents
from projections.linked_accounts import linked_accounts_of
from projections.shares import find_shares
from projections.store import ReadModelStore
from service.crm import CRM, Committed
from service.disclosure import AccessLog
from service.erasure import Erasures
from service.errors import check_version
from service.information import subject_information

LINKING = "third_party_linking"
SHARING = "third_party_sharing"
OPEN_SHARES = (ShareStatus.REQUESTED, ShareStatus.APPROVED, ShareStatus.AUTHORIZED)


class Completion(NamedTuple):
    """A completed request, and what completing it produced: the erasure certificate, the
    information statement, or the portability package."""

    request: SubjectRequest
    certificate: ErasureCertificate | None = None
    information: dict[str, Any] | None = None
    package: dict[str, Any] | None = None


class SubjectRequests:
    """The request queue's commands. Deadlines come from the CRM's clock."""

    def __init__(
        self, crm: CRM, read_models: ReadModelStore, erasures: Erasures, signer: Signer
    ) -> None:
        self.crm = crm
        self.read_models = read_models
        self.erasures = erasures
        self.signer = signer  # the certificate key: it signs portability packages too

    def receive(
        self,
        tenant_id: UUID,
        actor: str,
        *,
        contact_id: UUID,
        kind: str,
        requested_by: str,
        subject_is_minor: bool,
        request_id: UUID | None = None,
        purposes: list[str] | None = None,
        changes: dict[str, object] | None = None,
    ) -> Committed[SubjectRequest]:
        self.crm.live_contact(tenant_id, contact_id)
        request = SubjectRequest.receive(
            tenant_id=tenant_id,
            contact_id=contact_id,
            actor=actor,
            kind=kind,
            requested_by=requested_by,
            subject_is_minor=subject_is_minor,
            now=self.crm.clock(),
            request_id=request_id,
            purposes=purposes,
            changes=changes,
            sealer=self.crm.sealer,
        )
        return self.crm.create(SubjectRequest, tenant_id, request)

    def verify(
        self,
        tenant_id: UUID,
        request_id: UUID,
        actor: str,
        *,
        method: str,
        note: str | None,
        expected_version: int | None = None,
    ) -> Committed[SubjectRequest]:
        """Record how the requester's identity was checked (the note sealed)."""
        request = self._request(tenant_id, request_id, expected_version)
        self.crm.live_contact(tenant_id, request.contact_id)
        request.verify(actor=actor, method=method, note=note, sealer=self.crm.sealer)
        return self.crm.committed(request, request)

    def start(
        self, tenant_id: UUID, request_id: UUID, actor: str, expected_version: int | None = None
    ) -> Committed[SubjectRequest]:
        request = self._request(tenant_id, request_id, expected_version)
        request.start(actor=actor)
        return self.crm.committed(request, request)

    def complete(
        self,
        tenant_id: UUID,
        request_id: UUID,
        actor: str,
        access: AccessLog,
        expected_version: int | None = None,
    ) -> Committed[Completion]:
        """Carry the request out and mark it done, in one commit with what it changed:
        an erasure (its certificate names the request; if a failure left the contact
        erased but the request open, completing again links that erasure), a
        rectification's corrections, a withdrawal's consents with the links and unexecuted
        shares resting on them. ``access`` opens what the answer or the work needs, for
        the subject's own request."""
        request = self._request(tenant_id, request_id, expected_version)
        request.check_can_complete()
        if request.kind is RequestKind.ERASURE:
            return self._erase(tenant_id, request, actor)
        self.crm.live_contact(tenant_id, request.contact_id)
        changed: list[Any] = []
        effects: list[str] = []
        done = Completion(request)
        if request.kind is RequestKind.RECTIFICATION:
            changed, effects = self._rectify(tenant_id, request, actor, access)
        elif request.kind is RequestKind.WITHDRAWAL:
            changed, effects = self._withdraw(tenant_id, request, actor)
        elif request.kind is RequestKind.INFORMATION:
            done = done._replace(
                information=subject_information(self.crm, self.read_models, tenant_id, request)
            )
        elif request.kind is RequestKind.PORTABILITY:
            done = done._replace(package=self._package(tenant_id, request, access))
        request.complete(actor=actor, effects=effects)
        return self.crm.committed(done, request, *changed)

    def reject(
        self,
        tenant_id: UUID,
        request_id: UUID,
        actor: str,
        *,
        reason: str,
        expected_version: int | None = None,
    ) -> Committed[SubjectRequest]:
        request = self._request(tenant_id, request_id, expected_version)
        request.reject(actor=actor, reason=reason)
        return self.crm.committed(request, request)

    def _erase(self, tenant_id: UUID, request: SubjectRequest, actor: str) -> Committed[Completion]:
        contact = self.crm.contact(tenant_id, request.contact_id)
        certificate = None
        if contact.erased:
            erasure_id = contact.erasure_id
        else:
            certificate = self.erasures.erase(
                tenant_id,
                request.contact_id,
                actor,
                f"erasure request by the {request.requested_by.value}",
                str(request.id),
            ).value
            erasure_id = certificate.erasure_id
        request.complete(actor=actor, erasure_id=erasure_id, effects=["erased"])
        return self.crm.committed(Completion(request, certificate), request)

    def _rectify(
        self, tenant_id: UUID, request: SubjectRequest, actor: str, access: AccessLog
    ) -> tuple[list[Any], list[str]]:
        """Apply the corrections the request carries (none: the request only records that
        the subject asked, as before requests carried them)."""
        if not request.changes_sealed and not request.cleared:
            return [], []
        values = self.crm.open_sealed(
            tenant_id,
            request.contact_id,
            request.id,
            1,
            request.changes_sealed,
            access,  # opened for the subject's own request, and recorded as such
        )
        if values is None:
            raise SubjectErased("the contact was erased")
        changes: dict[str, object] = {**values, **dict.fromkeys(request.cleared)}
        contact: Contact = self.crm.live_contact(tenant_id, request.contact_id)
        contact.update(actor=actor, changes=changes, sealer=self.crm.sealer, expected_version=None)
        return [contact], [f"rectified:{field}" for field in sorted(changes)]

    def _withdraw(
        self, tenant_id: UUID, request: SubjectRequest, actor: str
    ) -> tuple[list[Any], list[str]]:
        """Withdraw the named consents (omitted: every one currently granted), then what
        rested on them at once: links on third_party_linking, shares not yet executed."""
        current = current_consents(self.read_models, tenant_id, request.contact_id)
        consent_based = [p.code for p in CATALOGUE if p.requires_consent]
        purposes = request.purposes or [
            code for code in consent_based if current.get(code, {}).get("granted")
        ]
        if not purposes:
            return [], []
        record = self.crm.find(
            ConsentRecord, tenant_id, ConsentRecord.id_for(tenant_id, request.contact_id)
        ) or ConsentRecord.open(tenant_id=tenant_id, contact_id=request.contact_id, actor=actor)
        policy = self.crm.find(PrivacyPolicy, tenant_id, PrivacyPolicy.id_for(tenant_id))
        version = resolve_version(policy, None, self.crm.clock(), "policy_version")
        for code in purposes:
            record.decide(
                purpose=code,
                granted=False,
                actor=actor,
                policy_version=version,
                source=None,
                sealer=self.crm.sealer,
            )
        changed: list[Any] = [record]
        effects = [f"consent-withdrawn:{code}" for code in purposes]
        if LINKING in purposes:
            for row in linked_accounts_of(self.read_models, tenant_id, request.contact_id, 0, None):
                link = self.crm.owned(LinkedAccount, tenant_id, UUID(row["id"]))
                if link.linked:
                    link.unlink(actor=actor)
                    changed.append(link)
                    effects.append(f"unlinked:{link.id}")
        for row in find_shares(self.read_models, tenant_id, contact_id=request.contact_id):
            share = self.crm.owned(DataShare, tenant_id, UUID(row["id"]))
            if share.status in OPEN_SHARES and (SHARING in purposes or share.purpose in purposes):
                share.revoke(actor=actor, reason="consent withdrawn by the subject's request")
                changed.append(share)
                effects.append(f"share-revoked:{share.id}")
        return changed, effects

    def _package(
        self, tenant_id: UUID, request: SubjectRequest, access: AccessLog
    ) -> dict[str, Any]:
        from service.portability import portability_package  # built beside this group

        return portability_package(
            self.crm, self.read_models, tenant_id, request.contact_id, access, self.signer
        )

    def _request(
        self, tenant_id: UUID, request_id: UUID, expected_version: int | None
    ) -> SubjectRequest:
        request = self.crm.owned(SubjectRequest, tenant_id, request_id)
        check_version(request, expected_version)
        return request
