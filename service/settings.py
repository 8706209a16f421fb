"""All configuration in one typed object, read from an environment mapping on demand."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

N = TypeVar("N", int, float)

DEFAULT_DATA_DIR = "./var"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    keystore_url: str
    kek: str | None
    kek_file: Path
    kek_previous: tuple[str, ...]
    index_key: str | None
    index_key_file: Path
    signing_key: str | None
    signing_key_file: Path
    admin_token: str | None
    admin_token_file: Path
    ledger_signing_key: str | None
    ledger_signing_key_file: Path
    checkpoint_every_events: int
    checkpoint_every_seconds: float
    erasure_sweep_seconds: float
    group_commit: bool
    max_body_bytes: int
    log_level: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("CRM_DATA_DIR", DEFAULT_DATA_DIR))
        max_body = _number(env, "CRM_MAX_BODY_BYTES", "65536", int)
        return cls(
            data_dir=data_dir,
            database_url=env.get("CRM_DATABASE_URL", f"sqlite:///{data_dir}/crm.db"),
            keystore_url=env.get("CRM_KEYSTORE_URL", f"sqlite:///{data_dir}/keys.db"),
            kek=env.get("CRM_KEK") or None,
            kek_file=Path(env.get("CRM_KEK_FILE", str(data_dir / "kek.key"))),
            kek_previous=tuple(
                k.strip() for k in env.get("CRM_KEK_PREVIOUS", "").split(",") if k.strip()
            ),
            index_key=env.get("CRM_INDEX_KEY") or None,
            index_key_file=Path(env.get("CRM_INDEX_KEY_FILE", str(data_dir / "index.key"))),
            signing_key=env.get("CRM_SIGNING_KEY") or None,
            signing_key_file=Path(env.get("CRM_SIGNING_KEY_FILE", str(data_dir / "signing.key"))),
            admin_token=env.get("CRM_ADMIN_TOKEN") or None,
            admin_token_file=Path(env.get("CRM_ADMIN_TOKEN_FILE", str(data_dir / "admin-token"))),
            ledger_signing_key=env.get("CRM_LEDGER_SIGNING_KEY") or None,
            ledger_signing_key_file=Path(
                env.get("CRM_LEDGER_SIGNING_KEY_FILE", str(data_dir / "ledger-signing.key"))
            ),
            checkpoint_every_events=_number(env, "CRM_CHECKPOINT_EVERY_EVENTS", "1000", int),
            checkpoint_every_seconds=_number(env, "CRM_CHECKPOINT_EVERY_SECONDS", "60", float),
            erasure_sweep_seconds=_number(env, "CRM_ERASURE_SWEEP_SECONDS", "30", float),
            group_commit=env.get("CRM_GROUP_COMMIT", "on").lower() not in ("off", "0", "false"),
            max_body_bytes=max_body,
            log_level=env.get("CRM_LOG_LEVEL", "INFO").upper(),
        )


def _number(env: Mapping[str, str], name: str, default: str, kind: type[N]) -> N:
    try:
        value = kind(env.get(name, default))
    except ValueError:
        raise SettingsError(f"{name} must be a number") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive")
    return value
