"""Property-based fuzzing of every operation in the app's own OpenAPI (schemathesis).

Each operation gets schema-valid and schema-invalid requests (a fixed seed, a bounded number
of examples), half of them aimed at real resources of the tenant (ids in the path, and in
valid requests in the body and query too), sent with a real token of a role the access
table allows; erasing the live contact comes last, so the rest meets it alive. Every
response must be documented and match its schema: status code, content type, headers and
body; and none may be a 5xx. A protected operation must also refuse the request without a
token (schemathesis' ``ignored_auth``), and every single-resource success must carry an ETag.

The document must tell the truth about inputs both ways: a schema-invalid request is refused
(``negative_data_rejection``) and a schema-valid one is not (``positive_data_acceptance``).
Besides the statuses schemathesis counts as acceptance (2xx, 401, 403, 404, 409, 429...),
410 and 412 are the resource's state, not a verdict on the input: the contact was erased,
the ``If-Match`` names another version. A schema-valid request may otherwise be refused only
for one of :data:`DOMAIN_REFUSALS`, rules no JSON Schema can state, each matched by its
problem type and field, so any other 422 fails the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from api.idempotency import HEADER as IDEMPOTENCY_KEY
from service.bootstrap import bootstrap
from service.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.e2e.access import ACCESS, PLATFORM, ROLES
from tests.e2e.conftest import Api, Tenant

EXAMPLES_PER_OPERATION = 40
SEED = 20260826
# schemathesis' defaults, plus the resource's state: gone (410) or at another version (412).
ACCEPTED = ["2xx", "3xx", 401, 403, 404, 409, 410, 412, 429, "5xx"]
REJECTED = [400, 401, 403, 404, 405, 406, 409, 410, 415, 422, 428, 429, "5xx"]
CONFIG = {
    "checks": {
        "positive_data_acceptance": {"expected-statuses": ACCEPTED},
        "negative_data_rejection": {"expected-statuses": REJECTED},
    }
}
# Fuzzed last: once the live contact is erased, its other operations could only answer 410.
ERASING = {("POST", "/v1/contacts/{contact_id}/erasure")}
# Problems a schema-valid request may still get, keyed by problem type (and the field the
# problem names), each with the reason no schema can say it.
DOMAIN_REFUSALS: dict[tuple[str, str | None], str] = {
    ("invalid-cursor", None): "a cursor is opaque: the schema gives its alphabet and length,"
    " but only a cursor the API issued names a place in a list",
    ("invalid-proof-request", None): "a proof's positions and sizes must lie inside the"
    " ledger as it stands now, and first <= second",
    ("invalid-field", "policy_version"): "must name a version the tenant published, or one"
    " must be in force",
    ("invalid-field", "occurred_at"): "an activity cannot lie in the future: relative to now",
    ("invalid-field", "expires_at"): "an authorisation must expire after now",
    ("consent-required", None): "a purpose that rests on consent is refused for a subject"
    " without it (409): the subject's consents decide, not the request's shape",
    ("processing-refused", None): "a purpose the subject restricted or objected to is"
    " refused (409): the subject's state decides, not the request's shape",
    ("guardian-consent-required", None): "a child's own grant is refused (409): the"
    " contact's recorded age decides, not the request's shape",
}


class World:
    """One tenant with every role, and real ids for the fuzzer to aim at: a live contact
    (with a consent to link accounts, a linked account, a share and a request about it),
    an erased one and its certificate, and a user whose tokens may be revoked."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.tenant: Tenant = api.new_tenant("Fuzz")
        contact = api.new_contact(self.tenant, full_name="Fuzz Target", email="fuzz@target.id")
        doomed = api.new_contact(self.tenant, full_name="Fuzz Erased")
        live, gone = contact["id"], doomed["id"]
        erasure = self.post(f"/v1/contacts/{gone}/erasure", "privacy_officer", reason="fuzz")
        victim = self.post("/v1/users", "admin", full_name="Fuzz", role="agent")
        consent = {"purpose": "third_party_linking", "granted": True}
        self.post(f"/v1/contacts/{live}/consents", "agent", **consent)
        link = self.post(
            f"/v1/contacts/{live}/linked-accounts", "agent", provider="github", handle="fuzz"
        )
        share = self.post(
            "/v1/shares",
            "agent",
            contact_id=live,
            recipient="Mitra",
            purpose="legal",
            fields=["email"],
        )
        request = self.post(
            "/v1/requests",
            "privacy_officer",
            contact_id=live,
            kind="access",
            requested_by="subject",
        )
        self.ids = {
            "contact_id": [live, gone],
            "erasure_id": [erasure["id"]],
            "user_id": [victim["id"]],
            "link_id": [link["id"]],
            "share_id": [share["id"]],
            "request_id": [request["id"]],
        }

    def post(self, path: str, caller: str, **body: Any) -> Any:
        response = self.api.client.post(path, json=body, headers=self.tenant.auth(caller))
        assert response.status_code in (200, 201), response.text
        return response.json()

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


def refusal(response: Any) -> tuple[str, str | None] | None:
    """The problem type and field of a 422 (or a processing refusal's 409), to look up in
    :data:`DOMAIN_REFUSALS`."""
    if response.status_code not in (409, 422):
        return None
    body = response.json()
    code = str(body.get("type", "")).removeprefix("urn:crm:problem:")
    errors = body.get("errors") or [{}]
    key = (code, errors[0].get("field"))
    return key if key in DOMAIN_REFUSALS else (code, None)


def accepts_valid_input(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, except for the documented :data:`DOMAIN_REFUSALS`."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if refusal(response) in DOMAIN_REFUSALS:
            return None
        raise


def strategy(operation: Any, world: World, mode: GenerationMode) -> st.SearchStrategy[Any]:
    """Random ids (404s) and the tenant's real ids, equally often: in the path and, in valid
    requests, in the body and the query too (an invalid request keeps the ids it drew: one
    of them may be what makes it invalid)."""
    drawn = operation.as_strategy(generation_mode=mode)
    aimed = drawn
    names = [p.name for p in operation.path_parameters]
    if names and all(n in world.ids for n in names):
        real = st.fixed_dictionaries({n: st.sampled_from(world.ids[n]) for n in names})
        aimed = real.flatmap(
            lambda ids: operation.as_strategy(generation_mode=mode, path_parameters=ids)
        )
    if mode == GenerationMode.POSITIVE:
        ids = st.fixed_dictionaries({n: st.sampled_from(v) for n, v in world.ids.items()})
        aimed = st.tuples(aimed, ids).map(lambda pair: with_real_ids(*pair))
    return st.one_of(drawn, aimed)


def with_real_ids(case: Any, ids: dict[str, str]) -> Any:
    """The case with the real ids put in its body's and query's id fields, where it has any."""
    for part in (case.body, case.query):
        if isinstance(part, dict):
            part.update({name: ids[name] for name in part.keys() & ids.keys()})
    return case


def credentials(case: Any, token: str | None, mode: GenerationMode) -> dict[str, str]:
    """The real token of a role allowed in, unless a negative case made its headers invalid
    (it drew its own ``Authorization``, or left the required one out): adding ours could
    make the case valid after all, while the check still expects a refusal."""
    drawn = "authorization" in {name.lower() for name in case.headers or {}}
    negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    if token is None or (mode == GenerationMode.NEGATIVE and (drawn or negative_headers)):
        return {}
    return {"Authorization": f"Bearer {token}"}


def fresh_idempotency_key(case: Any) -> None:
    """Make a drawn ``Idempotency-Key`` unique (still valid: visible ASCII, at most 255).

    Hypothesis draws the same short keys again and again; reused for another body, a key
    gets its 422 before the body is even read, which would hide the body from the check.
    """
    key = (case.headers or {}).get(IDEMPOTENCY_KEY)
    if key is not None:
        case.headers[IDEMPOTENCY_KEY] = f"{key[:200]}.{uuid.uuid4()}"


def has_inputs(operation: Any) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


def fuzz(operation: Any, world: World, mode: GenerationMode) -> str | None:
    """Run one operation's examples in one mode; the failure report, or ``None``."""
    token = world.token_for(operation.method, operation.path)

    @seed(SEED)
    @given(case=strategy(operation, world, mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        if mode == GenerationMode.POSITIVE:
            fresh_idempotency_key(case)
        case.call_and_validate(
            headers=credentials(case, token, mode),
            excluded_checks=[positive_data_acceptance],
            additional_checks=[accepts_valid_input, has_etag_when_single_resource],
        )

    try:
        call()
    except (Exception, BaseExceptionGroup) as failure:
        return f"{operation.method.upper()} {operation.path} ({mode}): {failure}"
    return None


def test_no_operation_answers_5xx_leaves_its_schema_or_refuses_valid_input(
    fuzzed: tuple[Any, World],
) -> None:
    app, world = fuzzed
    config = SchemathesisConfig.from_dict(CONFIG)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(ACCESS)
    operations.sort(key=lambda op: (op.method.upper(), op.path) in ERASING)
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if mode == GenerationMode.POSITIVE or has_inputs(operation)
        if (failure := fuzz(operation, world, mode))
    ]
    assert failures == [], "\n\n".join(failures)
