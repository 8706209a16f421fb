"""All configuration in one typed object, read from an environment mapping on demand."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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
    index_key: str | None
    index_key_file: Path
    signing_key: str | None
    signing_key_file: Path
    admin_token: str | None
    admin_token_file: Path
    max_body_bytes: int
    log_level: str
    api_secret: str | None = None
    api_secret_file: Path = Path(DEFAULT_DATA_DIR) / "api.key"
    idempotency_ttl_seconds: int = 24 * 3600
    auth_rate_per_ip: int = 20
    auth_rate_per_tenant: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("CRM_DATA_DIR", DEFAULT_DATA_DIR))
        return cls(
            data_dir=data_dir,
            database_url=env.get("CRM_DATABASE_URL", f"sqlite:///{data_dir}/crm.db"),
            keystore_url=env.get("CRM_KEYSTORE_URL", f"sqlite:///{data_dir}/keys.db"),
            kek=env.get("CRM_KEK") or None,
            kek_file=Path(env.get("CRM_KEK_FILE", str(data_dir / "kek.key"))),
            index_key=env.get("CRM_INDEX_KEY") or None,
            index_key_file=Path(env.get("CRM_INDEX_KEY_FILE", str(data_dir / "index.key"))),
            signing_key=env.get("CRM_SIGNING_KEY") or None,
            signing_key_file=Path(env.get("CRM_SIGNING_KEY_FILE", str(data_dir / "signing.key"))),
            admin_token=env.get("CRM_ADMIN_TOKEN") or None,
            admin_token_file=Path(env.get("CRM_ADMIN_TOKEN_FILE", str(data_dir / "admin-token"))),
            max_body_bytes=_positive_int(env, "CRM_MAX_BODY_BYTES", 65536),
            log_level=env.get("CRM_LOG_LEVEL", "INFO").upper(),
            api_secret=env.get("CRM_API_SECRET") or None,
            api_secret_file=Path(env.get("CRM_API_SECRET_FILE", str(data_dir / "api.key"))),
            idempotency_ttl_seconds=_positive_int(env, "CRM_IDEMPOTENCY_TTL_SECONDS", 24 * 3600),
            auth_rate_per_ip=_positive_int(env, "CRM_AUTH_RATE_PER_IP", 20),
            auth_rate_per_tenant=_positive_int(env, "CRM_AUTH_RATE_PER_TENANT", 100),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        value = int(env.get(name, str(default)))
    except ValueError:
        raise SettingsError(f"{name} must be an integer") from None
    if value < 1:
        raise SettingsError(f"{name} must be at least 1")
    return value
