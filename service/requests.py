"""Data-subject requests: receive, start, complete (an erasure is carried out), reject."""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

from crypto.certificates import ErasureCertificate
from domain.request import RequestKind, SubjectRequest
from service.crm import CRM, Committed
from service.erasure import Erasures
from service.errors import check_version


class Completion(NamedTuple):
    """A completed request, and the erasure certificate when completing it erased."""

    request: SubjectRequest
    certificate: ErasureCertificate | None


class SubjectRequests:
    """The request queue's commands. Deadlines come from the CRM's clock."""

    def __init__(self, crm: CRM, erasures: Erasures) -> None:
        self.crm = crm
        self.erasures = erasures

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
        )
        return self.crm.create(SubjectRequest, tenant_id, request)

    def start(
        self, tenant_id: UUID, request_id: UUID, actor: str, expected_version: int | None = None
    ) -> Committed[SubjectRequest]:
        request = self._request(tenant_id, request_id, expected_version)
        request.start(actor=actor)
        return self.crm.committed(request, request)

    def complete(
        self, tenant_id: UUID, request_id: UUID, actor: str, expected_version: int | None = None
    ) -> Committed[Completion]:
        """Mark the request done. An erasure request first erases the contact (its key is
        destroyed, the certificate names the request); if a failure left the contact erased
        but the request open, completing again links that erasure instead."""
        request = self._request(tenant_id, request_id, expected_version)
        request.check_can_complete()
        certificate = None
        erasure_id = None
        if request.kind is RequestKind.ERASURE:
            contact = self.crm.contact(tenant_id, request.contact_id)
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
        request.complete(actor=actor, erasure_id=erasure_id)
        return self.crm.committed(Completion(request, certificate), request)

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

    def _request(
        self, tenant_id: UUID, request_id: UUID, expected_version: int | None
    ) -> SubjectRequest:
        request = self.crm.owned(SubjectRequest, tenant_id, request_id)
        check_version(request, expected_version)
        return request
