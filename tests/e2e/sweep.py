"""The tenant-isolation sweep: every operation in ``/openapi.json``, called as an attacker.

For each operation it sends, with the first tenant's ids in the path, in id-like query
parameters and in body placeholders:
- every role of a second tenant: a path that names a resource must answer 403 or 404, and
  no answer may contain anything of the first tenant (ids, personal values, tokens);
- the platform operator's token, where the table does not allow it: 403 or 404;
- every role of the first tenant that the table does not allow: 403 (or 404);
- no token at all on a protected operation: 401.
None of that may change the first tenant's history. Then a positive control: a role the
table allows, in the first tenant, must get past authorisation and find the resource
(neither 401, 403, 404 nor 422), so the 404s above are about scoping and not about a
wrong id or body. Single-resource successes must carry an ETag.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi.testclient import TestClient

from service.audit import checkpoint_now
from tests.conftest import ADMIN_TOKEN
from tests.e2e.access import PLATFORM, PUBLIC, ROLES, Access
from tests.e2e.conftest import Api, Tenant

_METHODS = ("get", "put", "post", "patch", "delete")
_ORDER = {"GET": 0, "PATCH": 1, "PUT": 2, "POST": 3, "DELETE": 4}
VICTIM_VALUES = {
    "full_name": "Rahasia Korban Sweep",
    "email": "korban.sweep@rahasia-tenant.id",
    "phone": "+6281311122233",
    "company": "PT Korban Rahasia",
}
VICTIM_USER_EMAIL = "pengguna.korban@rahasia-tenant.id"
VICTIM_PASSWORD = "kata-sandi-korban-panjang"


@dataclass
class World:
    """Two tenants: the victim, whose ids the sweep aims at, and the attacker."""

    victim: Tenant
    attacker: Tenant
    ids: dict[str, list[str]]  # placeholder -> the victim's values, the live one first
    secrets: list[str]  # what must never reach the attacker


def build_world(api: Api) -> World:
    victim, attacker = api.new_tenant("Victim"), api.new_tenant("Attacker")
    contact = api.new_contact(victim, **VICTIM_VALUES)
    doomed = api.new_contact(victim, full_name="Korban Terhapus Sweep")
    erasure = api.client.post(
        f"/v1/contacts/{doomed['id']}/erasure",
        json={"reason": "sweep fixture"},
        headers=victim.auth("privacy_officer"),
    ).json()
    user = api.client.post(
        "/v1/users",
        json={
            "full_name": "Pengguna Korban",
            "email": VICTIM_USER_EMAIL,
            "role": "agent",
            "password": VICTIM_PASSWORD,
        },
        headers=victim.auth("admin"),
    ).json()
    privacy = _privacy_world(api, victim, contact["id"])
    ids = {
        "tenant_id": [victim.id],
        "contact_id": [contact["id"], doomed["id"]],
        "erasure_id": [erasure["id"]],
        "user_id": [user["id"]],
        "user_email": [VICTIM_USER_EMAIL],
        **{name: [value] for name, value in privacy.items()},
    }
    secrets = [
        victim.id,
        contact["id"],
        doomed["id"],
        erasure["id"],
        user["id"],
        user["token"],
        privacy["link_id"],
        privacy["share_id"],
        privacy["request_id"],
        *victim.tokens.values(),
        *VICTIM_VALUES.values(),
    ]
    return World(victim, attacker, ids, secrets)


def _privacy_world(api: Api, victim: Tenant, contact_id: str) -> dict[str, str]:
    """Ids of the victim's privacy-policy records: a link, a share, a request, a position."""
    admin, agent = victim.auth("admin"), victim.auth("agent")
    api.client.post("/v1/policies", json={"version": "2026-01"}, headers=admin)
    for purpose in ("third_party_linking", "third_party_sharing"):
        api.client.post(
            f"/v1/contacts/{contact_id}/consents",
            json={"purpose": purpose, "granted": True},
            headers=agent,
        )
    link = api.client.post(
        f"/v1/contacts/{contact_id}/linked-accounts",
        json={"provider": "github", "handle": "korban-sweep"},
        headers=agent,
    ).json()
    share = api.client.post(
        "/v1/shares",
        json={
            "contact_id": contact_id,
            "recipient": "Mitra Korban",
            "purpose": "third_party_sharing",
            "fields": ["email"],
        },
        headers=agent,
    ).json()
    request = api.client.post(
        "/v1/requests",
        json={"contact_id": contact_id, "kind": "access", "requested_by": "subject"},
        headers=victim.auth("privacy_officer"),
    ).json()
    events = api.client.get(
        "/v1/audit/events", params={"contact_id": contact_id}, headers=victim.auth("auditor")
    ).json()["items"]
    checkpoint = checkpoint_now(api.service.crm.ledger_recorder)
    assert checkpoint is not None
    return {
        "link_id": link["id"],
        "share_id": share["id"],
        "request_id": request["id"],
        "position": str(events[0]["position"]),
        "size": str(checkpoint["size"]),
        "first": "1",
        "second": str(checkpoint["size"]),
    }


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        names = [n for _, n, _, _ in string.Formatter().parse(value) if n]
        return value.format(**ids) if names and all(n in ids for n in names) else value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _combinations(world: World, names: list[str]) -> Iterator[dict[str, str]]:
    """Each of the victim's values for each placeholder, every other one at its first."""
    base = {name: values[0] for name, values in world.ids.items()}
    yield base
    for name in names:
        for value in world.ids.get(name, [])[1:]:
            yield {**base, name: value}


@dataclass
class Sweep:
    client: TestClient
    spec: dict[str, Any]
    table: dict[tuple[str, str], Access]
    world: World
    count_victim_events: Any  # () -> int

    def run(self) -> list[str]:
        operations = [
            (method.upper(), path)
            for path, item in self.spec["paths"].items()
            for method in item
            if method in _METHODS
        ]
        violations = [
            f"{m} {p}: not in the access table (tests/e2e/access.py)"
            for m, p in operations
            if (m, p) not in self.table
        ]
        covered = [op for op in operations if op in self.table]
        before = self.count_victim_events()
        for method, path in covered:
            violations += self._attack(method, path)
        if self.count_victim_events() != before:
            violations.append("calls by another tenant or by wrong roles changed the victim")
        for method, path in sorted(covered, key=lambda op: _ORDER.get(op[0], 9)):
            violations += self._positive_control(method, path)
        return violations

    def _parameters(self, method: str, path: str, where: str) -> list[str]:
        operation = self.spec["paths"][path][method.lower()]
        return [p["name"] for p in operation.get("parameters", []) if p["in"] == where]

    def _request(
        self, method: str, path: str, values: dict[str, str], token: str | None
    ) -> tuple[str, Any]:
        path_names = self._parameters(method, path, "path")
        missing = [n for n in path_names if n not in values]
        if missing:
            return "missing", f"{method} {path}: the sweep has no victim id for {missing}"
        query = {n: values[n] for n in self._parameters(method, path, "query") if n in values}
        access = self.table[(method, path)]
        body = _fill(access.body, values) if access.body is not None else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.request(
            method,
            path.format(**{n: values[n] for n in path_names}),
            params=query,
            content=orjson.dumps(body) if body is not None else None,
            headers={**headers, "content-type": "application/json"} if body else headers,
        )
        return "sent", response

    def _attack(self, method: str, path: str) -> list[str]:
        access = self.table[(method, path)]
        names = self._parameters(method, path, "path")
        found: list[str] = []
        callers: list[tuple[str, str | None, bool]] = [  # (who, token, must be refused)
            *((f"other tenant's {r}", self.world.attacker.tokens[r], bool(names)) for r in ROLES),
            *(
                (f"own {r}", self.world.victim.tokens[r], True)
                for r in ROLES
                if r not in access.roles
            ),
        ]
        if PLATFORM not in access.roles:
            callers.append(("platform", ADMIN_TOKEN, True))
        for values, (who, token, refused) in itertools.product(
            _combinations(self.world, names), callers
        ):
            if access.public:
                refused = False
            outcome, response = self._request(method, path, values, token)
            if outcome == "missing":
                return [response]
            where = f"{method} {path} as {who} -> {response.status_code}"
            if response.status_code >= 500:
                found.append(f"{where}: server error")
            elif refused and response.status_code not in (403, 404):
                found.append(f"{where}: expected 403 or 404")
            leaked = [s for s in self.world.secrets if s.lower() in response.text.lower()]
            if leaked and not who.startswith("own"):
                found.append(f"{where}: the answer holds the victim's data")
        if not access.public:
            _, anonymous = self._request(method, path, next(_combinations(self.world, [])), None)
            if anonymous.status_code != 401:
                found.append(f"{method} {path} without a token -> {anonymous.status_code}")
        return found

    def _positive_control(self, method: str, path: str) -> list[str]:
        access = self.table[(method, path)]
        if access.public:
            return []
        role = next((r for r in ROLES if r in access.roles), None)
        token = self.world.victim.tokens[role] if role else ADMIN_TOKEN
        _, response = self._request(method, path, next(_combinations(self.world, [])), token)
        where = f"{method} {path} as the victim's {role or PLATFORM} -> {response.status_code}"
        if response.status_code in (401, 403, 404, 405, 422):
            return [f"{where}: positive control failed (fix the sweep's ids or body)"]
        if response.is_success and response.content:
            body = response.json()
            is_page = isinstance(body, dict) and "items" in body
            if isinstance(body, dict) and not is_page and "etag" not in response.headers:
                return [f"{where}: a single resource without an ETag"]
        return []


__all__ = ["PUBLIC", "Sweep", "World", "build_world"]
