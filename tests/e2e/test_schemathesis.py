"""Property-based fuzzing of every operation in the app's own OpenAPI (schemathesis).

Each operation gets schema-valid and schema-invalid requests (a fixed seed, a bounded number
of examples), half of them aimed at real resources of the tenant, sent with a real token of
a role the access table allows. Every response must be documented and match its schema:
status code, content type, headers and body; and none may be a 5xx. A protected operation
must also refuse the request without a token (schemathesis' ``ignored_auth``), and every
single-resource success must carry an ETag.

Left out: ``positive_data_acceptance``. It expects every schema-valid request to succeed,
but the domain's rules (no subjects under 13, E.164 phones, no control characters...) are
deliberately richer than JSON Schema; their 422s are still checked to be documented problems.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from service.bootstrap import bootstrap
from service.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.e2e.access import ACCESS, PLATFORM, ROLES
from tests.e2e.conftest import Api, Tenant

EXAMPLES_PER_OPERATION = 40
SEED = 20260826


class World:
    """One tenant with every role, and real ids for the fuzzer to aim at."""

    def __init__(self, api: Api) -> None:
        self.tenant: Tenant = api.new_tenant("Fuzz")
        contact = api.new_contact(self.tenant, full_name="Fuzz Target", email="fuzz@target.id")
        doomed = api.new_contact(self.tenant, full_name="Fuzz Erased")
        erasure = api.client.post(
            f"/v1/contacts/{doomed['id']}/erasure",
            json={"reason": "fuzz fixture"},
            headers=self.tenant.auth("privacy_officer"),
        ).json()
        victim = api.client.post(
            "/v1/users",
            json={"full_name": "Fuzz", "role": "agent"},
            headers=self.tenant.auth("admin"),
        ).json()
        self.ids = {
            "contact_id": [contact["id"], doomed["id"]],
            "erasure_id": [erasure["id"]],
            "user_id": [victim["id"]],
        }

    def token_for(self, method: str, path: str) -> str | None:
        roles = ACCESS[(method.upper(), path)].roles
        role = next((r for r in ROLES if r in roles), None)
        if role is not None:
            return self.tenant.tokens[role]
        return ADMIN_TOKEN if PLATFORM in roles else None


@pytest.fixture
def fuzzed(make_settings: Any) -> Iterator[tuple[Any, World]]:
    settings: Settings = make_settings("postgres")
    service = bootstrap(settings)
    try:
        app = create_app(service)
        world = World(Api(TestClient(app), service))
        yield app, world
    finally:
        service.close()


def has_etag_when_single_resource(ctx: Any, response: Any, case: Any) -> bool | None:
    """API.md: responses for a single resource carry ``ETag: "<version>"``."""
    content_type = response.headers.get("content-type", [""])
    if not (200 <= response.status_code < 300) or "json" not in str(content_type):
        return None
    body = response.json()
    if isinstance(body, dict) and "items" not in body and case.operation.path.startswith("/v1"):
        assert "etag" in {k.lower() for k in response.headers}, "single resource without ETag"
    return None


def strategy(operation: Any, world: World, mode: GenerationMode) -> st.SearchStrategy[Any]:
    """Random path ids (404s) and the tenant's real ids, equally often."""
    names = [p.name for p in operation.path_parameters]
    if not names or not all(n in world.ids for n in names):
        return operation.as_strategy(generation_mode=mode)
    real = st.fixed_dictionaries({n: st.sampled_from(world.ids[n]) for n in names})
    aimed = real.flatmap(
        lambda ids: operation.as_strategy(generation_mode=mode, path_parameters=ids)
    )
    return st.one_of(operation.as_strategy(generation_mode=mode), aimed)


def has_inputs(operation: Any) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


def fuzz(operation: Any, world: World, mode: GenerationMode) -> str | None:
    """Run one operation's examples in one mode; the failure report, or ``None``."""
    token = world.token_for(operation.method, operation.path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    @seed(SEED)
    @given(case=strategy(operation, world, mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        case.call_and_validate(
            headers=headers,
            excluded_checks=[positive_data_acceptance],
            additional_checks=[has_etag_when_single_resource],
        )

    try:
        call()
    except (Exception, BaseExceptionGroup) as failure:
        return f"{operation.method.upper()} {operation.path} ({mode}): {failure}"
    return None


def test_no_operation_answers_5xx_or_outside_its_schema(fuzzed: tuple[Any, World]) -> None:
    app, world = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(ACCESS)
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if mode == GenerationMode.POSITIVE or has_inputs(operation)
        if (failure := fuzz(operation, world, mode))
    ]
    assert failures == [], "\n\n".join(failures)
