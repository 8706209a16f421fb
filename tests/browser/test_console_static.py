"""What the console is made of, checked without a browser: the headers it is served with,
no HTML sink or code-from-string anywhere in it, nothing from another origin, and every
string in both languages."""

from __future__ import annotations

import re
from pathlib import Path

from api.app import CONSOLE_DIR
from api.middleware import CONSOLE_CSP
from tests.e2e.servers import ServerProcess

CSP_DIRECTIVES = {
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
}
# Ways to turn a string into markup or code: none may appear in a console file.
SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\s*\(|new\s+Function"
    r"|setTimeout\s*\(\s*[\"'`]|setInterval\s*\(\s*[\"'`]|createContextualFragment|srcdoc"
)
INLINE_HTML = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son\w+\s*=|\sstyle\s*=|<style", re.I)
OTHER_ORIGIN = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.I)


def console_files() -> list[Path]:
    return sorted(p for p in CONSOLE_DIR.rglob("*") if p.is_file())


def test_console_responses_carry_the_strict_csp_and_the_security_headers(
    console_server: ServerProcess,
) -> None:
    client = console_server.client
    for path in ("/console/", "/console/js/main.js", "/console/console.css", "/console/nope"):
        response = client.get(path)
        directives = {d.strip() for d in response.headers["content-security-policy"].split(";")}
        assert directives == CSP_DIRECTIVES, path
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get("/console/").headers["content-type"].startswith("text/html")
    assert "javascript" in client.get("/console/js/main.js").headers["content-type"]
    bare = client.get("/console", follow_redirects=False)
    assert (bare.status_code, bare.headers["location"]) == (308, "/console/")
    assert "content-security-policy" not in client.get("/v1/keys").headers


def test_the_console_is_not_in_the_openapi_document(console_server: ServerProcess) -> None:
    paths = console_server.client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]
    assert "/v1/keys" in paths


def test_the_policy_constant_is_the_one_documented() -> None:
    assert {d.strip() for d in CONSOLE_CSP.split(";")} == CSP_DIRECTIVES


def test_no_console_file_builds_markup_or_code_from_strings() -> None:
    files = console_files()
    assert {p.suffix for p in files} == {".html", ".css", ".js"}
    found = [
        f"{p.relative_to(CONSOLE_DIR)}: {m.group(0)}"
        for p in files
        for m in SINKS.finditer(p.read_text())
    ]
    assert found == []


def test_no_inline_script_style_or_handler_and_no_other_origin() -> None:
    html = (CONSOLE_DIR / "index.html").read_text()
    assert INLINE_HTML.findall(html) == []
    found = [
        f"{p.relative_to(CONSOLE_DIR)}: {m.group(0)}"
        for p in console_files()
        for m in OTHER_ORIGIN.finditer(p.read_text())
    ]
    assert found == []


def _keys(name: str) -> list[str]:
    return re.findall(r'^\s+"([\w.]+)":', (CONSOLE_DIR / "js" / name).read_text(), re.M)


def test_every_string_is_in_english_and_in_bahasa_indonesia() -> None:
    english, indonesian = _keys("strings-en.js"), _keys("strings-id.js")
    assert len(english) == len(set(english)) > 200
    assert english == indonesian  # same keys, same order


def test_every_literal_key_the_console_uses_is_in_the_dictionary() -> None:
    known = set(_keys("strings-en.js"))
    namespaces = {key.split(".")[0] for key in known}
    used: set[str] = set()
    for path in console_files():
        if path.name.startswith("strings-"):
            continue
        text = path.read_text()
        used |= set(re.findall(r'data-i18n(?:-label)?="([\w.]+)"', text))
        literals = re.findall(r'"([a-z]+\.[\w.]+)"', text)  # t("x.y"), and a ? "x.y" : "x.z"
        used |= {key for key in literals if key.split(".")[0] in namespaces}
    assert used - known == set()
    assert len(used) > 150
