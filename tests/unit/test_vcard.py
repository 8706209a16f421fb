"""The contact card of a portability package reads back, value for value, in a vCard parser
the project did not write (vobject), whatever the values hold."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import vobject
from hypothesis import given
from hypothesis import strategies as st

from service.vcard import MAX_LINE_OCTETS, contact_vcard

# Any text but control characters, with line breaks and the characters vCard escapes
# (backslash, comma, semicolon) made frequent.
TEXT = st.text(
    st.one_of(
        st.characters(blacklist_categories=("Cc", "Cs")),
        st.sampled_from(["\\", ",", ";", ":", "\n", " ", "é", "王", "😀"]),
    ),
    min_size=1,
    max_size=120,
)


def card(**fields: Any) -> dict[str, Any]:
    return {"id": str(uuid4()), "updated_at": "2026-03-01T09:30:00.000000+00:00", **fields}


def parsed(text: str) -> Any:
    return vobject.readOne(text)


def test_every_field_of_the_contact_is_on_the_card() -> None:
    contact = card(
        full_name="Siti Nurhaliza",
        email="siti@contoh.co.id",
        phone="+6281322224444",
        company="PT Teh Wangi",
        job_title="Direktur",
    )
    vcard = parsed(contact_vcard(contact))
    assert vcard.version.value == "4.0"
    assert vcard.fn.value == "Siti Nurhaliza"
    assert vcard.n.value.given == "Siti Nurhaliza" and vcard.n.value.family == ""
    assert vcard.email.value == "siti@contoh.co.id"
    assert vcard.tel.value == "+6281322224444"
    assert vcard.org.value == ["PT Teh Wangi"]
    assert vcard.title.value == "Direktur"
    assert vcard.uid.value == f"urn:uuid:{contact['id']}"
    assert vcard.rev.value == "20260301T093000Z"


def test_absent_fields_are_left_off_the_card() -> None:
    vcard = parsed(contact_vcard(card(full_name="Agus")))
    assert not {"email", "tel", "org", "title"} & set(vcard.contents)


def test_commas_semicolons_backslashes_and_newlines_survive_the_round_trip() -> None:
    name = "Wibowo, Agus; Jr.\\II"
    company = "PT Maju; Jaya, Tbk\nCabang Bandung"
    vcard = parsed(contact_vcard(card(full_name=name, company=company, job_title="A;B\nC,D")))
    assert vcard.fn.value == name and vcard.n.value.given == name
    assert vcard.org.value == [company]
    assert vcard.title.value == "A;B\nC,D"


def test_the_card_is_crlf_lines_of_at_most_75_octets() -> None:
    text = contact_vcard(card(full_name="王" * 60, company="Ñ" * 200, job_title="x" * 300))
    lines = text.split("\r\n")
    assert text.endswith("END:VCARD\r\n") and lines[-1] == ""
    assert "\n" not in text.replace("\r\n", "") and "\r" not in text.replace("\r\n", "")
    assert max(len(line.encode()) for line in lines) <= MAX_LINE_OCTETS
    assert lines[:2] == ["BEGIN:VCARD", "VERSION:4.0"]


@given(name=TEXT, company=TEXT, title=TEXT)
def test_any_text_survives_the_round_trip(name: str, company: str, title: str) -> None:
    text = contact_vcard(card(full_name=name, company=company, job_title=title))
    vcard = parsed(text)
    assert max(len(line.encode()) for line in text.split("\r\n")) <= MAX_LINE_OCTETS
    assert vcard.fn.value == name
    assert vcard.org.value == [company]
    assert vcard.title.value == title
