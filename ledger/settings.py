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
    data_dir: Path = Path(".ledger")
    dev_admin_token: str | None = None

    topic: str = "ledger.events.v1"
    topic_partitions: int = Field(default=3, ge=1)
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    relay_transactional_id: str = "ledger-relay"
    relay_batch_size: int = Field(default=2000, ge=1)
    consumer_group: str = "ledger-projections"
    projection_batch_size: int = Field(default=2000, ge=1)
    read_wait_seconds: float = 5.0
    expiry_interval_seconds: float = Field(default=60.0, gt=0)

    @property
    def is_production(self) -> bool:
        return self.env == "production"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
