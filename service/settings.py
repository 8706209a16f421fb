"""All configuration in one typed object, read from an environment mapping on demand."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from projections.kafka_settings import KafkaSettings

N = TypeVar("N", int, float)

DEFAULT_DATA_DIR = "./var"
DEFAULT_CHECKPOINT_MAX_DELAY = "10"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    try:
        value = int(env.get(name, str(default)))
    except ValueError:
        raise SettingsError(f"{name} must be an integer") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, str(default)))
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false")


@dataclass(frozen=True)
class ProjectionSettings:
    """Who applies projections, how fast, and how much lag still counts as ready."""

    inline: bool = True
    read_your_writes_timeout: float = 5.0
    max_lag_events: int = 1000
    max_lag_seconds: float = 30.0
    batch_size: int = 500
    poll_interval: float = 0.5
    heartbeat_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProjectionSettings:
        heartbeat = env.get("CRM_HEARTBEAT_FILE") or None
        return cls(
            inline=_flag(env, "CRM_PROJECTIONS_INLINE", True),
            read_your_writes_timeout=_seconds(env, "CRM_READ_YOUR_WRITES_TIMEOUT", 5.0),
            max_lag_events=_int(env, "CRM_PROJECTION_MAX_LAG_EVENTS", 1000),
            max_lag_seconds=_seconds(env, "CRM_PROJECTION_MAX_LAG_SECONDS", 30.0),
            batch_size=_int(env, "CRM_PROJECTION_BATCH_SIZE", 500, minimum=1),
            poll_interval=_seconds(env, "CRM_POLL_INTERVAL", 0.5),
            heartbeat_file=Path(heartbeat) if heartbeat else None,
        )


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
    checkpoint_max_delay_seconds: float
    erasure_sweep_seconds: float
    group_commit: bool
    max_body_bytes: int
    log_level: str
    read_models_url: str | None = None
    projections: ProjectionSettings = field(default_factory=ProjectionSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    api_secret: str | None = None
    api_secret_file: Path = Path(DEFAULT_DATA_DIR) / "api.key"
    idempotency_ttl_seconds: int = 24 * 3600
    idempotency_lease_seconds: float = 60.0
    auth_rate_per_ip: int = 20
    auth_rate_per_tenant: int = 100
    snapshot_every_events: int = 100  # 0: no snapshots (every load replays the whole stream)
    aggregate_cache_size: int = 10_000  # 0: no cache (every load reads its snapshot and events)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        if _flag(env, "POSTGRES_ENABLE_DB_FUNCTIONS", False):
            raise SettingsError(
                "POSTGRES_ENABLE_DB_FUNCTIONS inserts events without their audit ledger"
                " entries: unset it"
            )
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
            checkpoint_max_delay_seconds=_checkpoint_max_delay(env),
            erasure_sweep_seconds=_number(env, "CRM_ERASURE_SWEEP_SECONDS", "30", float),
            group_commit=env.get("CRM_GROUP_COMMIT", "on").lower() not in ("off", "0", "false"),
            max_body_bytes=max_body,
            log_level=env.get("CRM_LOG_LEVEL", "INFO").upper(),
            read_models_url=env.get("CRM_READ_MODELS_URL") or None,
            projections=ProjectionSettings.from_env(env),
            kafka=_kafka_settings(env),
            api_secret=env.get("CRM_API_SECRET") or None,
            api_secret_file=Path(env.get("CRM_API_SECRET_FILE", str(data_dir / "api.key"))),
            idempotency_ttl_seconds=_number(env, "CRM_IDEMPOTENCY_TTL_SECONDS", "86400", int),
            idempotency_lease_seconds=_number(env, "CRM_IDEMPOTENCY_LEASE_SECONDS", "60", float),
            auth_rate_per_ip=_number(env, "CRM_AUTH_RATE_PER_IP", "20", int),
            auth_rate_per_tenant=_number(env, "CRM_AUTH_RATE_PER_TENANT", "100", int),
            snapshot_every_events=_int(env, "CRM_SNAPSHOT_EVERY_EVENTS", 100),
            aggregate_cache_size=_int(env, "CRM_AGGREGATE_CACHE_SIZE", 10_000),
        )


def _kafka_settings(env: Mapping[str, str]) -> KafkaSettings:
    """``CRM_KAFKA_*``: the class lives in ``projections/`` beside the relay and the feed
    that use it; reading the environment stays here, with the rest of the configuration."""
    return KafkaSettings(
        bootstrap=env.get("CRM_KAFKA_BOOTSTRAP") or None,
        topic=env.get("CRM_KAFKA_TOPIC", "crm.events"),
        partitions=_int(env, "CRM_KAFKA_PARTITIONS", 6, minimum=1),
        replication=_int(env, "CRM_KAFKA_REPLICATION", 1, minimum=1),
        group=env.get("CRM_KAFKA_GROUP", "crm-projections"),
        max_poll_interval_ms=_int(env, "CRM_KAFKA_MAX_POLL_INTERVAL_MS", 300_000, minimum=1),
        session_timeout_ms=_int(env, "CRM_KAFKA_SESSION_TIMEOUT_MS", 45_000, minimum=3),
        security_protocol=env.get("CRM_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper(),
        ssl_cafile=env.get("CRM_KAFKA_SSL_CAFILE") or None,
    )


def _checkpoint_max_delay(env: Mapping[str, str]) -> float:
    """``CRM_CHECKPOINT_MAX_DELAY_SECONDS``, or the value of its former name.

    ``CRM_CHECKPOINT_EVERY_SECONDS`` used to mean "a checkpoint at the next write once this
    long has passed". The same number as a maximum delay is a promise at least as strong,
    so a deployment that set it keeps working; setting both is refused as ambiguous.
    """
    new, old = "CRM_CHECKPOINT_MAX_DELAY_SECONDS", "CRM_CHECKPOINT_EVERY_SECONDS"
    if not env.get(old, "").strip():
        return _number(env, new, DEFAULT_CHECKPOINT_MAX_DELAY, float)
    if env.get(new, "").strip():
        raise SettingsError(f"{old} is the former name of {new}: set only {new}")
    return _number(env, old, DEFAULT_CHECKPOINT_MAX_DELAY, float)


def _number(env: Mapping[str, str], name: str, default: str, kind: type[N]) -> N:
    try:
        value = kind(env.get(name, default))
    except ValueError:
        raise SettingsError(f"{name} must be a number") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive")
    return value
