"""``crm portability``: check a subject's portability package offline, under a pinned key."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from api.cli_support import load_json
from crypto.signing import PinnedKey, public_key_fingerprint
from service.portability import (
    MalformedPackage,
    package_signature,
    verify_package,
)
from service.settings import SettingsError

FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def portability_verify(args: argparse.Namespace) -> int:
    """Check a package under the certificate key the caller trusts, never the key it names;
    no store is opened, so a receiving controller can run it anywhere."""
    key = PinnedKey.parse(args.public_key, "certificate public key (--public-key)").text
    package = load_json(args.package)
    try:
        ok = verify_package(package, key)
    except MalformedPackage as exc:
        raise SettingsError(f"{args.package}: {exc}") from None
    print("package verified" if ok else "package does NOT verify")
    if not ok:
        _name_the_other_key(package, key)
    return 0 if ok else 1


def _name_the_other_key(package: dict[str, Any], key: str) -> None:
    """When the package names another key than the pinned one, say so (on stderr): a wrong
    pin and a changed package are fixed differently. Only a well-formed fingerprint is
    echoed, so a crafted file cannot write to the terminal."""
    named = package_signature(package).get("key_fingerprint")
    pinned = public_key_fingerprint(key)
    if isinstance(named, str) and FINGERPRINT.fullmatch(named) and named != pinned:
        print(f"crm: the package names key {named}; the pinned key is {pinned}", file=sys.stderr)


def register(commands: Any) -> None:
    portability = commands.add_parser(
        "portability", help="data portability packages (UU PDP Pasal 13)"
    ).add_subparsers(dest="action", required=True)
    p = portability.add_parser("verify", help="check a signed portability package offline")
    p.add_argument("--package", required=True, help="the package JSON file")
    p.add_argument("--public-key", required=True, help="the certificate key you trust (base64)")
    p.set_defaults(run=portability_verify)
