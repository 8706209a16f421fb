"""The API's own tables (idempotency keys, rate-limit windows) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from service.bootstrap import Service
from service.idempotency import Claim, RequestIdentity, StoredResponse
from tests.harness import mid_window

RESPONSE = StoredResponse(
    201,
    [("content-type", "application/json"), ("location", "/v1/contacts/x")],
    b'{"full_name": "Siti Nurhaliza Rahmawati"}',
)


def fingerprint(service: Service, body: bytes = b"{}") -> str:
    identity = RequestIdentity("user-1", "POST", "/v1/contacts", "", "application/json", body)
    return service.idempotency.fingerprint(identity)


def test_a_claimed_key_replays_its_sealed_response(service: Service) -> None:
    store = service.idempotency
    claim = store.claim("tenant-a", "key-1", fingerprint(service))
    assert claim.outcome == "owned"
    store.complete("tenant-a", "key-1", claim, RESPONSE)
    replay = store.claim("tenant-a", "key-1", fingerprint(service))
    assert replay.outcome == "replay" and replay.response == RESPONSE


def test_the_stored_row_names_neither_key_nor_body(service: Service) -> None:
    store = service.idempotency
    claim = store.claim("tenant-a", "key-secret-1", fingerprint(service, b"Siti"))
    store.complete("tenant-a", "key-secret-1", claim, RESPONSE)
    with service.edge_db.transaction(write=False) as cur:
        rows = cur.execute("SELECT * FROM idempotency_keys").fetchall()
    text = repr(rows)
    assert "Siti" not in text and "key-secret-1" not in text and "/v1/contacts/x" not in text


def test_another_body_under_the_same_key_is_a_mismatch(service: Service) -> None:
    store = service.idempotency
    store.claim("tenant-a", "key-1", fingerprint(service, b"one"))
    assert store.claim("tenant-a", "key-1", fingerprint(service, b"two")).outcome == "mismatch"


def test_namespaces_do_not_share_keys(service: Service) -> None:
    store = service.idempotency
    assert store.claim("tenant-a", "key-1", fingerprint(service)).outcome == "owned"
    assert store.claim("tenant-b", "key-1", fingerprint(service)).outcome == "owned"


def test_racing_claims_own_a_key_exactly_once(service: Service) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        outcomes.append(service.idempotency.claim("t", "race", fingerprint(service)).outcome)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["in_progress"] * 7 + ["owned"]


def test_an_abandoned_claim_is_taken_over_after_its_lease(service: Service) -> None:
    store = service.idempotency
    first = store.claim("t", "crashed", fingerprint(service))
    with service.edge_db.transaction() as cur:
        cur.execute("UPDATE idempotency_keys SET claimed_at = claimed_at - 120")
    second = store.claim("t", "crashed", fingerprint(service))
    assert second.outcome == "owned"
    # The crashed request, had it woken up, can no longer complete the key it lost.
    store.complete("t", "crashed", Claim("owned", first.ref, claimed_at=first.claimed_at), RESPONSE)
    assert store.claim("t", "crashed", fingerprint(service)).outcome == "in_progress"


def test_erasure_forgets_responses_that_name_the_subject(service: Service) -> None:
    store = service.idempotency
    subject = "5f0c8a4e-2b1d-4c3a-9e8f-7a6b5c4d3e2f"
    response = StoredResponse(201, [], f'{{"id": "{subject}"}}'.encode())
    for key in ("names-it", "other"):
        claim = store.claim("t", key, fingerprint(service))
        store.complete("t", key, claim, response if key == "names-it" else RESPONSE)
    assert store.forget_subject("t", subject.upper()) == 1
    assert store.claim("t", "names-it", fingerprint(service)).outcome == "purged"
    assert store.claim("t", "other", fingerprint(service)).outcome == "replay"


def test_rate_limits_count_per_bucket_and_store_no_bucket_names(service: Service) -> None:
    limiter = service.rate_limiter
    limiter.clock = mid_window(limiter.window)
    results = [limiter.hit("login:ip:203.0.113.9", 3) for _ in range(4)]
    assert results[:3] == [None, None, None]
    assert results[3] is not None and 1 <= results[3] <= 60
    assert limiter.hit("login:ip:203.0.113.10", 3) is None
    with service.edge_db.transaction(write=False) as cur:
        rows = cur.execute("SELECT * FROM rate_limit_windows").fetchall()
    assert "203.0.113" not in repr(rows)
