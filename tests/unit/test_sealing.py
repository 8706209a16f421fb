"""Sealing round trips and the bindings of associated data (invariant 11); parsing of the
values that vary widely (emails, phone numbers, times)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.errors import KeyDestroyed, SealBroken
from crypto.kek import LocalKeyEncryptionKey
from crypto.keystore import InMemoryKeystore
from crypto.sealer import SubjectSealer
from domain.errors import InvalidField
from domain.values import normalise_email, normalise_phone, parse_time
from tests.witness import WITNESS

TENANT = uuid.uuid4()
SEALER = SubjectSealer(InMemoryKeystore())


@given(st.one_of(st.text(max_size=200), st.integers(min_value=-(2**53), max_value=2**53)))
def test_any_value_round_trips(value: str | int) -> None:
    subject = uuid.uuid4()
    token = SEALER.seal_fields(TENANT, subject, 3, {"f": value})["f"]
    assert SEALER.open_fields(TENANT, subject, {"f": (3, token)}, WITNESS) == {"f": value}


def test_token_moved_to_another_field_event_or_tenant_fails() -> None:
    subject = uuid.uuid4()
    token = SEALER.seal_fields(TENANT, subject, 1, {"email": "a@b.id", "phone": "+6281"})["email"]
    with pytest.raises(SealBroken):
        SEALER.open_fields(TENANT, subject, {"phone": (1, token)}, WITNESS)
    with pytest.raises(SealBroken):
        SEALER.open_fields(TENANT, subject, {"email": (2, token)}, WITNESS)
    with pytest.raises(KeyDestroyed):  # another tenant has no key for this subject
        SEALER.open_fields(uuid.uuid4(), subject, {"email": (1, token)}, WITNESS)


def test_tampered_token_fails() -> None:
    subject = uuid.uuid4()
    token = SEALER.seal_fields(TENANT, subject, 1, {"f": "value"})["f"]
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(SealBroken):
        SEALER.open_fields(TENANT, subject, {"f": (1, tampered)}, WITNESS)


def test_kek_unwraps_only_what_it_wrapped() -> None:
    first, second = LocalKeyEncryptionKey(b"k" * 32), LocalKeyEncryptionKey(b"j" * 32)
    kek_id, wrapped = first.wrap(b"d" * 32, b"ctx")
    assert first.unwrap(kek_id, wrapped, b"ctx") == b"d" * 32
    with pytest.raises(SealBroken):
        first.unwrap(kek_id, wrapped, b"other context")
    with pytest.raises(Exception, match="not available"):
        second.unwrap(kek_id, wrapped, b"ctx")


@given(st.emails())
def test_email_normalisation_is_idempotent(email: str) -> None:
    try:
        once = normalise_email(email)
    except InvalidField:
        return
    assert normalise_email(once) == once
    assert normalise_email(email.upper()) == once


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("0812-3456-7890", "+6281234567890"),
        ("+62 812 3456 7890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("0044 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_numbers_normalise_to_e164(raw: str, normalised: str) -> None:
    assert normalise_phone(raw) == normalised


@pytest.mark.parametrize("raw", ["", "12", "phone", "+0812345678", "+1234567890123456"])
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidField):
        normalise_phone(raw)


def test_one_field_sealed_by_many_events_opens_in_order() -> None:
    subject = uuid.uuid4()
    first = SEALER.seal_fields(TENANT, subject, 2, {"source": "web"})["source"]
    second = SEALER.seal_fields(TENANT, subject, 5, {"source": "phone"})["source"]
    cells = [("source", 5, second), ("source", 2, first)]
    assert SEALER.open_cells(TENANT, subject, cells, WITNESS) == ["phone", "web"]
    with pytest.raises(SealBroken):
        SEALER.open_cells(TENANT, subject, [("source", 5, first)], WITNESS)


@given(
    st.one_of(
        st.text(max_size=40),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        st.datetimes().map(lambda d: d.isoformat()),
    )
)
def test_any_time_text_parses_to_utc_or_is_invalid(text: str) -> None:
    try:
        parsed = parse_time(text, "at")
    except InvalidField as error:
        assert error.field == "at"
        return
    assert parsed.utcoffset() == timedelta(0)


def test_times_pushed_past_the_calendar_by_their_offset_are_invalid() -> None:
    for text in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        with pytest.raises(InvalidField, match="out of range"):
            parse_time(text, "at")
