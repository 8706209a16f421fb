"""Passwords, tokens and version preconditions: the small pieces the API's safety rests on."""

from __future__ import annotations

import base64
import hashlib

import pytest

from api.preconditions import expected_version
from api.problems import ProblemError
from service.credentials import (
    check_password,
    hash_password,
    new_token,
    token_hash,
)


def test_passwords_hash_with_argon2id_at_rfc_9106_strength() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert check_password("correct horse battery", stored)
    assert not check_password("correct horse battery!", stored)


def test_equal_passwords_get_different_hashes() -> None:
    assert hash_password("same password") != hash_password("same password")


def test_hashes_from_the_earlier_scrypt_scheme_still_verify() -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old password", salt=salt, n=2**14, r=8, p=1, dklen=32)
    salt_b64, digest_b64 = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    stored = f"scrypt$16384$8$1${salt_b64}${digest_b64}"
    assert check_password("old password", stored)
    assert not check_password("other password", stored)


@pytest.mark.parametrize("stored", ["", "plain", "$argon2id$broken", "scrypt$x$y"])
def test_malformed_stored_hashes_never_verify(stored: str) -> None:
    assert not check_password("anything", stored)


def test_tokens_carry_256_bits_and_are_stored_as_sha256() -> None:
    token = new_token()
    secret = token.removeprefix("crm_")
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    assert new_token() != token


@pytest.mark.parametrize(
    ("header", "version"), [(None, None), ("*", None), ('"3"', 3), ('W/"3"', 3), ("3", 3)]
)
def test_if_match_names_a_version_or_any(header: str | None, version: int | None) -> None:
    assert expected_version(header) == version


@pytest.mark.parametrize("header", ['"abc"', '"\u00b2"', '"1", "2"', '"' + "9" * 19 + '"', ""])
def test_if_match_that_cannot_name_a_version_fails_the_precondition(header: str) -> None:
    with pytest.raises(ProblemError) as raised:
        expected_version(header)
    assert raised.value.status == 412
