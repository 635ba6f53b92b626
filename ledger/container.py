"""The composition root: builds the write service, the side stores and the read model."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.accesslog import AccessLog
from ledger.apikeys import ApiKeys
from ledger.application import LedgerApplication
from ledger.db import Database
from ledger.eventstore import eventstore_env, install_pool_check
from ledger.masterkey import MasterKeyring
from ledger.privacy import KeyStore
from ledger.projections import store
from ledger.projections.queries import Reads
from ledger.settings import Settings


def open_application(db: Database, env: dict[str, str], keys: KeyStore | None = None,
                     reads: Reads | None = None, timezone: str = "Europe/Rome",
                     cache_size: int = 0) -> LedgerApplication:
    """eventsourcing creates its tables and functions on construction; processes starting
    together must take turns, or PostgreSQL reports "tuple concurrently updated"."""
    with db.pool.connection() as conn:
        conn.execute("SELECT pg_advisory_lock(7200)")
        try:
            app = LedgerApplication(env, keys, reads.open_items if reads else None, timezone,
                                    cache_size)
            install_pool_check(app.recorder)
            return app
        finally:
            conn.execute("SELECT pg_advisory_unlock(7200)")


@dataclass
class Container:
    settings: Settings
    database_url: str
    kafka_bootstrap: str
    db: Database
    keys: KeyStore
    app: LedgerApplication
    reads: Reads
    api_keys: ApiKeys
    access_log: AccessLog

    @classmethod
    def build(cls, settings: Settings, database_url: str, kafka_bootstrap: str) -> Container:
        db = Database(database_url)
        db.create_side_tables()
        store.setup(db)
        keys = KeyStore(db, MasterKeyring.open(settings.master_key_file
                                               or settings.data_dir / "master.key"))
        keys.wrap_legacy()
        api_keys, access_log, reads = ApiKeys(db), AccessLog(db), Reads(db)
        api_keys.setup()
        access_log.setup()
        app = open_application(db, eventstore_env(database_url), keys, reads, settings.timezone,
                               settings.aggregate_cache_size)
        return cls(settings, database_url, kafka_bootstrap, db, keys, app, reads, api_keys,
                   access_log)

    def close(self) -> None:
        self.app.close()
        self.db.close()
