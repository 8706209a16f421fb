"""The one registry of features: every read model and every command group, declared once.

A feature is a domain aggregate, its read model (``projections/``), its command group
(``service/``) and its routes (``api/routes/``, found there by the app). Adding one means
writing those four modules and naming the read model and the group here: five files (the
README's architecture section walks through it). Groups get their collaborators passed in,
never reached through another object.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto.blind_index import BlindIndex
from crypto.sealer import StorageOpenings, SubjectSealer
from crypto.signing import Signer
from crypto.sql_keystore import SqlKeystore
from projections.access import AccessTrailProjection
from projections.activities import ActivitiesProjection
from projections.audit import AuditTimelineProjection
from projections.consents import ConsentsProjection
from projections.contacts import ContactsProjection
from projections.erasures import ErasuresProjection
from projections.limits import ProcessingLimitsProjection
from projections.linked_accounts import LinkedAccountsProjection
from projections.policies import PoliciesProjection
from projections.principals import PrincipalsProjection
from projections.request_details import RequestDetailsProjection
from projections.requests import RequestsProjection
from projections.runner import ReadModelProjection
from projections.shares import SharesProjection
from projections.store import ReadModelStore
from projections.users import UsersProjection
from service.consents import Consents
from service.contacts import Contacts
from service.crm import CRM
from service.disclosure import (
    ConsentRule,
    ProcessingGate,
    Rule,
    limits_rule,
)
from service.erasure import Erasures
from service.exports import Exports
from service.idempotency import IdempotencyStore
from service.requests import SubjectRequests
from service.service_data import ServiceData
from service.shares import Shares
from service.tenants import Tenants
from service.timeline import Timeline, Trail


def feature_read_models(
    sealer: SubjectSealer, blind_index: BlindIndex, storage: StorageOpenings
) -> list[ReadModelProjection]:
    """Every read model, in the order a batch of events is applied to them. Those that open
    values to index them do so as ``storage``."""
    return [
        PrincipalsProjection(),
        UsersProjection(sealer, blind_index, storage),
        ContactsProjection(sealer, blind_index, storage),
        AuditTimelineProjection(),
        ErasuresProjection(),
        ConsentsProjection(),
        PoliciesProjection(),
        ActivitiesProjection(),
        LinkedAccountsProjection(),
        SharesProjection(),
        RequestsProjection(),
        RequestDetailsProjection(),
        ProcessingLimitsProjection(),
        AccessTrailProjection(),
    ]


@dataclass
class CommandGroups:
    """Every command group (and the auditor's timeline), each built once."""

    tenants: Tenants
    contacts: Contacts
    consents: Consents
    service_data: ServiceData
    shares: Shares
    requests: SubjectRequests
    erasures: Erasures
    timeline: Timeline
    trail: Trail
    exports: Exports
    gate: ProcessingGate


def processing_rules(views: ReadModelStore) -> list[Rule]:
    """The decision point's rules, in the order they are asked (the first refusal wins)."""
    return [limits_rule(views), ConsentRule(views)]


def command_groups(
    crm: CRM,
    keystore: SqlKeystore,
    views: ReadModelStore,
    blind_index: BlindIndex,
    responses: IdempotencyStore,
    signer: Signer,
) -> CommandGroups:
    consents = Consents(crm, views)
    erasures = Erasures(crm, keystore, views, responses)
    return CommandGroups(
        tenants=Tenants(crm),
        contacts=Contacts(crm, views, blind_index),
        consents=consents,
        service_data=ServiceData(crm, consents),
        shares=Shares(crm, consents),
        requests=SubjectRequests(crm, views, erasures, signer),
        erasures=erasures,
        timeline=Timeline(crm, views, keystore),
        trail=Trail(views),
        exports=Exports(crm, views),
        gate=ProcessingGate(processing_rules(views)),
    )
