"""Tampering as an attacker with SQL access to PostgreSQL would do it: every edit is caught.

Each test writes 26 events (a tenant, its admin, then a contact and its key per save;
checkpoints at sizes 1, 6, 12, 18, 24; signed head at 26), changes the tables directly, and
expects ``verify`` to name the first bad position.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from crypto.ledger import chain_hash, event_hash
from crypto.signing import Signer
from service.audit import StoreSource, verify_ledger
from service.bootstrap import Service, bootstrap
from service.settings import Settings

EVENTS = "crm_events"


@pytest.fixture
def store(make_settings: Callable[..., Settings]) -> Iterator[Service]:
    svc = bootstrap(make_settings("postgres", CRM_CHECKPOINT_EVERY_EVENTS="5"))
    tenant, _ = svc.tenants.create("Target").value
    for i in range(12):
        svc.contacts.register(tenant.id, "agent", {"full_name": f"Saksi {i}"})
    try:
        yield svc
    finally:
        svc.close()


def attack(service: Service, *statements: str, params: Any = None) -> None:
    with psycopg.connect(service.settings.database_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement, params)


def verdict(service: Service) -> dict[str, Any]:
    source = StoreSource(service.crm.ledger_recorder)
    return verify_ledger(source, service.ledger_signer.public_key).as_dict()


def test_untouched_store_verifies(store: Service) -> None:
    assert verdict(store)["ok"] is True


def test_one_changed_byte_in_a_stored_event_is_caught(store: Service) -> None:
    attack(
        store,
        f"UPDATE {EVENTS} SET state = set_byte(state, 20, (get_byte(state, 20) + 1) % 256)"
        " WHERE notification_id = 7",
    )
    result = verdict(store)
    assert result["ok"] is False and result["first_bad_position"] == 7
    assert "does not match" in result["reason"]


def test_an_edited_ledger_entry_is_caught(store: Service) -> None:
    attack(store, "UPDATE ledger_entries SET event_hash = repeat('ab', 32) WHERE position = 6")
    result = verdict(store)
    assert result["ok"] is False and result["first_bad_position"] == 6


def test_an_edited_chain_hash_is_caught(store: Service) -> None:
    attack(store, "UPDATE ledger_entries SET chain_hash = repeat('cd', 32) WHERE position = 9")
    result = verdict(store)
    assert result["ok"] is False and result["first_bad_position"] == 9
    assert "chain" in result["reason"]


def test_a_deleted_event_is_caught(store: Service) -> None:
    attack(store, f"DELETE FROM {EVENTS} WHERE notification_id = 4")
    result = verdict(store)
    assert result["ok"] is False and result["first_bad_position"] == 4
    assert "missing" in result["reason"]


def test_a_deleted_event_and_entry_are_caught(store: Service) -> None:
    attack(
        store,
        f"DELETE FROM {EVENTS} WHERE notification_id = 4",
        "DELETE FROM ledger_entries WHERE position = 4",
    )
    result = verdict(store)
    assert result["ok"] is False and result["first_bad_position"] == 5


def test_a_forged_event_with_a_forged_entry_is_caught(store: Service) -> None:
    """The attacker computes perfect hashes (they are not secret) but cannot sign."""
    with psycopg.connect(store.settings.database_url, autocommit=True) as conn:
        last = conn.execute(
            "SELECT seq, chain_hash FROM ledger_entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        assert last is not None
        forged_id, state = uuid.uuid4(), b'{"forged":true}'
        topic = "domain.contact:Contact.Registered"
        row = conn.execute(
            f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state)"
            " VALUES (%s, 1, %s, %s) RETURNING notification_id",
            (forged_id, topic, state),
        ).fetchone()
        assert row is not None
        position = row[0]
        digest = event_hash(position, forged_id, 1, topic, state)
        chained = chain_hash(bytes.fromhex(last[1]), digest)
        conn.execute(
            "INSERT INTO ledger_entries (seq, position, event_hash, chain_hash)"
            " VALUES (%s, %s, %s, %s)",
            (last[0] + 1, position, digest.hex(), chained.hex()),
        )
    result = verdict(store)
    assert result["ok"] is False and result["first_bad_position"] == position
    assert "unsigned" in result["reason"]


def test_two_swapped_events_are_caught(store: Service) -> None:
    attack(
        store,
        f"UPDATE {EVENTS} SET notification_id = -1 WHERE notification_id = 8",
        f"UPDATE {EVENTS} SET notification_id = 8 WHERE notification_id = 9",
        f"UPDATE {EVENTS} SET notification_id = 9 WHERE notification_id = -1",
    )
    result = verdict(store)
    assert result["ok"] is False and result["first_bad_position"] == 8


def test_a_truncated_tail_after_a_checkpoint_is_caught(store: Service) -> None:
    attack(
        store,
        f"DELETE FROM {EVENTS} WHERE notification_id > 10",
        "DELETE FROM ledger_entries WHERE position > 10",
    )
    result = verdict(store)
    assert result["ok"] is False and result["first_bad_position"] == 11
    assert "truncated" in result["reason"]


def test_a_truncated_tail_with_its_checkpoints_and_head_removed_is_caught(store: Service) -> None:
    attack(
        store,
        f"DELETE FROM {EVENTS} WHERE notification_id > 7",
        "DELETE FROM ledger_entries WHERE position > 7",
        "DELETE FROM ledger_checkpoints WHERE size > 7",
        "DELETE FROM ledger_head",
    )
    result = verdict(store)
    assert result["ok"] is False and "no signed head" in result["reason"]


def test_history_re_signed_with_another_key_is_caught(store: Service) -> None:
    impostor = Signer(b"\x07" * 32)
    from crypto.ledger import SignedTreeHead, TreeHead

    with psycopg.connect(store.settings.database_url, autocommit=True) as conn:
        for table in ("ledger_checkpoints", "ledger_head"):
            rows = conn.execute(
                f"SELECT size, root_hash, chain_hash, position, timestamp FROM {table}"
            ).fetchall()
            for size, root, chain, position, timestamp in rows:
                head = TreeHead(size, root, chain, position, timestamp)
                signed = SignedTreeHead(head, impostor.sign(head.payload()), impostor.public_key)
                conn.execute(
                    f"UPDATE {table} SET signature = %s, public_key = %s WHERE size = %s",
                    (signed.signature, signed.public_key, size),
                )
    result = verdict(store)
    assert result["ok"] is False and result["first_bad_position"] == 1  # the first checkpoint
    assert "pinned key" in result["reason"]
