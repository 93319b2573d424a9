"""Ticket events and audit rows are append-only (issue 2 item 2): the ORM refuses to flush a
change or a deletion of one, an UPDATE/DELETE statement on their tables through the session is
refused, and the database itself refuses UPDATE and DELETE (triggers from migration guard_01,
and from ``create_all``). Inserting stays as it was."""
from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, delete, exc, select, text, update

from portal import audit, create_app
from portal.audit import AuditEvent
from portal.db_setup import AppendOnlyError
from portal.extensions import db
from portal.tickets.models import TicketEvent


@pytest.fixture()
def ticket(make, now):
    owner = make.owner()
    account = make.account(owner, "alpha")
    return make.ticket(make.sale(account), now=now)


def _first_event(ticket) -> TicketEvent:
    return db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).first()


def test_the_orm_refuses_to_change_or_delete_a_ticket_event(ticket):
    event = _first_event(ticket)
    event.kind = "closed"
    with pytest.raises(AppendOnlyError, match="ticket_events is append-only"):
        db.session.flush()
    db.session.rollback()

    db.session.delete(_first_event(ticket))
    with pytest.raises(AppendOnlyError, match="cannot be deleted"):
        db.session.flush()
    db.session.rollback()
    assert _first_event(ticket).kind == "opened"  # nothing changed


def test_the_orm_refuses_to_change_or_delete_an_audit_row(app, now):
    row = audit.record("login.success", now=now)
    db.session.commit()
    row.event = "login.failure"
    with pytest.raises(AppendOnlyError, match="audit_events is append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, row.id))
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, row.id).event == "login.success"


def test_appending_and_touching_a_row_without_changing_it_still_work(ticket, now):
    event = _first_event(ticket)
    event.kind = event.kind  # same value: not a change
    audit.record("login.success", now=now)
    db.session.commit()
    assert db.session.scalar(select(AuditEvent.event)) == "login.success"


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_update_and_delete_statements_through_the_session_are_refused(ticket, statement):
    for model in (TicketEvent, AuditEvent):
        stmt = (
            update(model).values(at=None) if statement == "update" else delete(model)
        )
        with pytest.raises(AppendOnlyError, match=f"{statement.upper()} refused"):
            db.session.execute(stmt)
        db.session.rollback()
        with pytest.raises(AppendOnlyError):
            db.session.execute(model.__table__.update() if statement == "update"
                               else model.__table__.delete())
        db.session.rollback()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ticket_events SET kind = 'closed'",
        "DELETE FROM ticket_events",
        "UPDATE audit_events SET event = 'x'",
        "DELETE FROM audit_events",
    ],
)
def test_the_database_refuses_raw_sql_that_changes_the_logs(ticket, now, sql):
    """The tests' schema comes from ``create_all``: it has the triggers too."""
    audit.record("login.success", now=now)
    db.session.commit()
    with pytest.raises(exc.DBAPIError, match="append-only"):
        db.session.execute(text(sql))
    db.session.rollback()
    assert db.session.scalar(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)) == "opened"
    assert db.session.scalar(select(AuditEvent.event)) == "login.success"


def test_the_migration_installs_the_triggers_and_removes_them_again(tmp_path, db_url):
    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{tmp_path / 'migrated.db'}"
    app = create_app({"ENV": "testing", "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": db_url})
    insert = (
        "INSERT INTO audit_events (at, event) VALUES ('2026-11-18 12:00:00', 'login.success')"
    )
    with app.app_context():
        if not db_url.startswith("sqlite"):
            db.drop_all()  # the per-test PostgreSQL database is a copy of the create_all template
        upgrade()
        engine = create_engine(db_url)
        with engine.begin() as conn:
            conn.exec_driver_sql(insert)
        for sql in ("UPDATE audit_events SET event = 'x'", "DELETE FROM audit_events"):
            with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as conn:
                conn.exec_driver_sql(sql)
        # Row triggers fire on rows: ticket_events (empty here) has its triggers in the catalog.
        assert _triggers(engine) >= {"ticket_events", "audit_events"}
        if engine.dialect.name == "postgresql":
            # The deliberate wipe of a whole database: TRUNCATE fires no row trigger.
            with engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE audit_events")
                conn.exec_driver_sql(insert)
        downgrade(revision="reports_01")
        assert _triggers(engine) == set()
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE audit_events SET event = 'x'")
            conn.exec_driver_sql("DELETE FROM audit_events")
        upgrade()
        with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(insert)
            conn.exec_driver_sql("DELETE FROM audit_events")
        engine.dispose()
        db.engine.dispose()


def _triggers(engine) -> set[str]:
    """The tables that have an append-only trigger."""
    if engine.dialect.name == "sqlite":
        sql = ("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name IN "
               "('ticket_events_no_update', 'ticket_events_no_delete', "
               "'audit_events_no_update', 'audit_events_no_delete')")
    else:
        sql = ("SELECT event_object_table FROM information_schema.triggers "
               "WHERE trigger_name IN ('ticket_events_append_only', 'audit_events_append_only')")
    with engine.connect() as conn:
        return set(conn.exec_driver_sql(sql).scalars())
