"""What every ``crm`` subcommand shares: settings, the service, JSON in and out."""

from __future__ import annotations

from typing import Any

import orjson

from api.logs import configure
from service.bootstrap import Service, bootstrap
from service.settings import Settings, SettingsError


def cli_settings() -> Settings:
    settings = Settings.from_env()
    configure(settings.log_level)
    return settings


def cli_service() -> Service:
    return bootstrap(cli_settings())


def print_json(document: object) -> None:
    print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


def load_json(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            document: dict[str, Any] = orjson.loads(handle.read())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc.__class__.__name__}") from None
    return document
