"""The console's own verifier, run in the browser: the RFC 9162 code against
transparency-dev/merkle's vectors, the signed payloads against the server's bytes, and the
queue's ordering and time left."""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
import pytest

from crypto.certificates import ErasureCertificate
from crypto.ledger import TreeHead
from tests.browser.console import Console
from tests.browser.world import Tenant, World
from tests.unit.test_merkle_vectors import DEVIATIONS, VECTORS

MERKLE = "/console/js/merkle.js"
SIGNATURES = "/console/js/signatures.js"

# Each probe as hex, run through the JS verifiers: true when it verifies. A hash that is
# not 32 bytes never verifies; numbers JavaScript cannot hold exactly never verify either.
RUN_PROBES = """
const [kind, probes] = args;
const hex = (b64) => (b64 ? m.hexToBytes(b64) : new Uint8Array());
const results = [];
for (const p of probes) {
  const path = (p.proof || []).map(hex);
  results.push(kind === "inclusion"
    ? await m.verifyInclusion(hex(p.leafHash), p.leafIdx, p.treeSize, path, hex(p.root))
    : await m.verifyConsistency(p.size1, p.size2, hex(p.root1), hex(p.root2), path));
}
return results;
"""


def _as_hex(value: str | None) -> str | None:
    return base64.b64decode(value).hex() if value else value


def _hex_probe(probe: dict[str, Any]) -> dict[str, Any]:
    hashed = {k: _as_hex(probe.get(k)) for k in ("leafHash", "root", "root1", "root2")}
    proof = [base64.b64decode(h).hex() for h in probe["proof"] or []]
    return {**probe, **hashed, "proof": proof}


def _expected(probe: dict[str, Any]) -> bool:
    accepted = not probe["wantErr"]
    return not accepted if probe["file"] in DEVIATIONS else accepted


@pytest.mark.parametrize("kind", ["inclusion", "consistency"])
def test_the_js_verifier_accepts_exactly_the_vectors_upstream_accepts(
    console: Console, kind: str
) -> None:
    probes = json.loads((VECTORS / f"{kind}.json").read_text())["probes"]
    results = console.module(MERKLE, RUN_PROBES, kind, [_hex_probe(p) for p in probes])
    wrong = [p["file"] for p, got in zip(probes, results, strict=True) if got is not _expected(p)]
    assert wrong == []
    assert len(probes) >= 50 and any(results) and not all(results)


def test_the_js_reference_hashes_are_rfc_6962s(console: Console) -> None:
    reference = json.loads((VECTORS / "reference.json").read_text())
    hasher = reference["hasher"]
    got = console.module(
        MERKLE,
        """
        const text = (s) => new TextEncoder().encode(s);
        const [h] = args;
        return [m.bytesToHex(await m.leafHash(new Uint8Array())),
                m.bytesToHex(await m.leafHash(text(h.leaf.input))),
                m.bytesToHex(await m.nodeHash(text(h.node.left), text(h.node.right)))];
        """,
        hasher,
    )
    assert got == [hasher["empty_leaf"], hasher["leaf"]["hash"], hasher["node"]["hash"]]


PAYLOAD = """
const [what, document] = args;
const bytes = what === "checkpoint" ? m.treeHeadPayload(document) : m.certificatePayload(document);
return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
"""


def test_the_js_signed_payloads_are_the_servers_bytes(
    console: Console, tenant: Tenant, world: World
) -> None:
    contact = world.contact(tenant, full_name="Lina Marlina")
    certificate = world.call(
        "POST", f"/v1/contacts/{contact['id']}/erasure", tenant, "privacy_officer",
        reason="uji muatan",
    )  # fmt: skip
    checkpoint = world.call("GET", "/v1/audit/checkpoints/latest", tenant, "auditor")
    head = TreeHead(**{k: checkpoint[k] for k in TreeHead.__dataclass_fields__})
    fields = {k: certificate[k] for k in ErasureCertificate.__dataclass_fields__}
    assert console.module(SIGNATURES, PAYLOAD, "checkpoint", checkpoint) == head.payload().hex()
    expected = ErasureCertificate(**fields).payload().hex()
    assert console.module(SIGNATURES, PAYLOAD, "certificate", certificate) == expected


def test_the_js_canonical_json_is_orjsons_for_awkward_text(console: Console) -> None:
    document = {
        "zeta": 'quote " backslash \\ slash /',
        "alpha": "tab\t newline\n nul\u0000 unit\u001f del\u007f",
        "mid": "Bahasa: sampai jumpa — 日本 ✓ \u2028 😀",
        "n": 2**53 - 1,
        "none": None,
        "yes": True,
    }
    got = console.module(SIGNATURES, "return m.canonicalJson(args[0]);", document)
    assert got == orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()


def test_the_js_verifier_uses_the_pinned_key_not_the_one_the_document_carries(
    console: Console, tenant: Tenant, world: World
) -> None:
    contact = world.contact(tenant, full_name="Hendra Gunawan")
    certificate = world.call(
        "POST", f"/v1/contacts/{contact['id']}/erasure", tenant, "privacy_officer",
        reason="uji kunci",
    )  # fmt: skip
    keys = world.keys()
    check = """
        const [doc, key] = args;
        return m.verifyCertificate(doc, m.parsePublicKey(key));
    """
    assert console.module(SIGNATURES, check, certificate, keys["certificates"]["public_key"])
    assert not console.module(SIGNATURES, check, certificate, keys["ledger"]["public_key"])
    last = "1" if contact["id"].endswith("0") else "0"  # an id ending in 0 would not change
    forged = {**certificate, "subject_id": contact["id"][:-1] + last}
    forged["public_key"] = keys["ledger"]["public_key"]
    assert not console.module(SIGNATURES, check, forged, keys["certificates"]["public_key"])


ORDER = """
const [rows, now] = args;
return m.orderQueue(rows, now).map((r) => r.id);
"""


def test_the_queue_puts_overdue_requests_first_then_the_nearest_deadline(
    console: Console,
) -> None:
    now = 1_800_000_000_000  # ms
    hour = 3_600_000

    def row(name: str, status: str, due_in_hours: float) -> dict[str, Any]:
        due = console.driver.execute_script(
            "return new Date(arguments[0]).toISOString()", now + due_in_hours * hour
        )
        return {"id": name, "status": status, "due_at": due, "received_at": due}

    rows = [
        row("later", "open", 60),
        row("done", "done", -10),
        row("soon", "in_progress", 2),
        row("late", "open", -1),
        row("later-still", "open", 70),
        row("very-late", "in_progress", -30),
    ]
    ordered = console.module("/console/js/queue.js", ORDER, rows, now)
    assert ordered == ["very-late", "late", "soon", "later", "later-still", "done"]
    left = console.module(
        "/console/js/queue.js",
        "return [m.formatDuration(args[0]), m.formatDuration(args[1]),"
        " m.timeLeft(args[2], args[3])];",
        (2 * 24 + 3) * hour + 5 * 60_000,
        (5 * 60 + 12) * 60_000,
        "2027-01-15T08:00:00Z",
        1_800_000_000_000,
    )
    assert left[:2] == ["2 d 3 h", "5 h 12 min"]
    assert left[2]["overdue"] is False
