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


def init_app(app: Flask) -> None:
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
