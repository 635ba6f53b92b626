"""One Settings object: every knob of the ledger, read from LEDGER_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    env: str = "development"
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # API worker processes (each with its own pools and aggregate cache).
    http_workers: int = Field(default=1, ge=1)
    data_dir: Path = Path(".ledger")
    dev_admin_token: str | None = None
    # The admin key made by the first `ledger up` (default: <data_dir>/admin.key).
    admin_key_file: Path | None = None
    # OIDC bearer tokens (all three set to turn it on).
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_role_claim: str = "ledger_role"
    oidc_territories_claim: str = "ledger_territories"
    oidc_actor_claim: str = "ledger_actor_id"
    # Dates of deliveries, offers and needs are days in this zone.
    timezone: str = "Europe/Rome"
    master_key_file: Path | None = None  # default: <data_dir>/master.key

    topic: str = "ledger.events.v1"
    topic_partitions: int = Field(default=3, ge=1)
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    relay_transactional_id: str = "ledger-relay"
    relay_batch_size: int = Field(default=2000, ge=1)
    consumer_group: str = "ledger-projections"
    # How soon the group hands a dead projector instance's partitions to the others.
    consumer_session_timeout_ms: int = Field(default=10_000, ge=1000)
    consumer_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    projection_batch_size: int = Field(default=2000, ge=1)
    read_wait_seconds: float = 5.0
    # Aggregates the write service keeps in memory (each load still reads what was recorded
    # after the cached version, so several API processes never act on stale state); 0: none.
    aggregate_cache_size: int = Field(default=10_000, ge=0)
    expiry_interval_seconds: float = Field(default=60.0, gt=0)
    # Proofs anyone can check: signed checkpoints of each territory's Merkle tree.
    log_origin: str = Field(default="welfare-ledger.local", pattern=r"^[^\s+]+$")
    log_key_file: Path | None = None  # default: <data_dir>/log-signing.key (wraps signing keys)
    checkpoint_topic: str | None = None  # default: the event topic's name, events -> checkpoints
    checkpoint_interval_seconds: float = Field(default=1.0, ge=1.0)

    @property
    def admin_key_path(self) -> Path:
        return self.admin_key_file or self.data_dir / "admin.key"

    @property
    def log_key_path(self) -> Path:
        return self.log_key_file or self.data_dir / "log-signing.key"

    @property
    def checkpoint_topic_name(self) -> str:
        if self.checkpoint_topic:
            return self.checkpoint_topic
        if "events" in self.topic:
            return self.topic.replace("events", "checkpoints", 1)
        return self.topic + ".checkpoints"

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_audience and self.oidc_jwks_url)

    @property
    def is_production(self) -> bool:
        return self.env == "production"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
