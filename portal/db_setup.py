"""Database engine behaviour that every feature relies on (SECURITY.md §0.4, §0.5).

SQLite: WAL journal, a busy timeout, foreign keys on, and every transaction that may write begins
``IMMEDIATE`` so a read never has to upgrade to a write lock (the case the busy handler cannot
help). Requests with a safe method (GET, HEAD) begin deferred: they only read.
PostgreSQL needs nothing here: services use atomic updates and row locks.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, has_request_context, request
from sqlalchemy import event

from portal.extensions import db

_force_write: ContextVar[bool] = ContextVar("portal_force_write", default=False)


def begins_write() -> bool:
    """Whether the current context's transactions begin as writers (IMMEDIATE on SQLite)."""
    return _begins_write()


def _begins_write() -> bool:
    if _force_write.get():
        return True
    if has_request_context():
        return request.method not in ("GET", "HEAD", "OPTIONS")
    return True  # CLI commands and worker tasks write


@contextmanager
def writing():
    """Begin the next transaction IMMEDIATE even inside a GET (e.g. the session touch)."""
    token = _force_write.set(True)
    try:
        yield
    finally:
        _force_write.reset(token)


# --- append-only logs --------------------------------------------------------------------------
# Ticket events and audit rows are the record of what happened (issue 2 item 2, DESIGN.md):
# they are only ever inserted. Two guards make that more than a convention: the ORM refuses to
# flush a change or deletion of such a row (and an UPDATE/DELETE statement on their tables run
# through the session), and the database refuses UPDATE and DELETE with a trigger (migration
# guard_01; ``create_all`` installs the same triggers, so the test databases have them too).
# A deliberate wipe of a whole database goes around them: PostgreSQL's TRUNCATE fires no row
# trigger; on SQLite drop the tables (or the triggers) first.

APPEND_ONLY_TABLES = ("ticket_events", "audit_events")


class AppendOnlyError(RuntimeError):
    """An attempt to change or delete a row of an append-only table."""


def _append_only(obj) -> bool:
    return getattr(obj, "__tablename__", None) in APPEND_ONLY_TABLES


def _refuse_changes(session, _flush_context, _instances) -> None:
    for obj in session.deleted:
        if _append_only(obj):
            raise AppendOnlyError(f"{obj.__tablename__} is append-only: a row cannot be deleted")
    for obj in session.dirty:
        if _append_only(obj) and session.is_modified(obj, include_collections=False):
            raise AppendOnlyError(f"{obj.__tablename__} is append-only: a row cannot be changed")


def _refuse_statements(state) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in APPEND_ONLY_TABLES:
        verb = "UPDATE" if state.is_update else "DELETE"
        raise AppendOnlyError(f"{table.name} is append-only: {verb} refused")


def append_only_ddl(dialect: str) -> list[str]:
    """The statements that make the database refuse UPDATE and DELETE on the append-only
    tables (the same ones migration guard_01 runs)."""
    if dialect == "postgresql":
        out = [
            "CREATE OR REPLACE FUNCTION portal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP "
            "|| ' refused', ERRCODE = 'restrict_violation'; END $$"
        ]
        for table in APPEND_ONLY_TABLES:
            out += [
                f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION portal_append_only()",
            ]
        return out
    if dialect == "sqlite":
        out = []
        for table in APPEND_ONLY_TABLES:
            for verb in ("UPDATE", "DELETE"):
                name = f"{table}_no_{verb.lower()}"
                out += [
                    f"DROP TRIGGER IF EXISTS {name}",
                    f"CREATE TRIGGER {name} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END",
                ]
        return out
    return []


def _triggers_after_create(metadata, connection, **_kw) -> None:
    """``create_all`` (tests, a fresh development database) gets the triggers too."""
    names = set(metadata.tables)
    if not set(APPEND_ONLY_TABLES) <= names:
        return
    for statement in append_only_ddl(connection.dialect.name):
        connection.exec_driver_sql(statement)


def install_append_only_guard() -> None:
    """Idempotent: listeners on the session class and the metadata, once per process."""
    from flask_sqlalchemy.session import Session

    if not event.contains(Session, "before_flush", _refuse_changes):
        event.listen(Session, "before_flush", _refuse_changes)
        event.listen(Session, "do_orm_execute", _refuse_statements)
    if not event.contains(db.metadata, "after_create", _triggers_after_create):
        event.listen(db.metadata, "after_create", _triggers_after_create)


def init_app(app: Flask) -> None:
    install_append_only_guard()
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return
    busy_ms = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite would otherwise defer it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _begins_write() else "BEGIN")



def refresh_statistics() -> bool:
    """Refresh SQLite's planner statistics. Without them some queries walk an account's whole
    history (bench/README.md); ``analysis_limit`` samples each index instead of reading it all,
    so this stays well under a second on a million transactions. Returns whether anything ran
    (PostgreSQL's autovacuum keeps its own statistics)."""
    from sqlalchemy import text

    if db.engine.dialect.name != "sqlite":
        return False
    with db.engine.connect() as conn:
        conn.execute(text("PRAGMA analysis_limit=1000"))
        conn.execute(text("ANALYZE"))
        conn.commit()
    return True


def walk_in_pages(fetch, *, limit: int, between_pages=None):
    """Every row of a keyset walk: ``fetch(after, limit)`` returns up to ``limit`` rows in key
    order after the row ``after`` (None for the first page). ``between_pages()`` runs before each
    page after the first (a worker renews its lease there during a long catch-up). The timers
    sweep and the sandbox biller walk their due rows this way."""
    after = None
    while True:
        if after is not None and between_pages is not None:
            between_pages()
        page = fetch(after, limit)
        yield from page
        if len(page) < limit:
            return
        after = page[-1]
