"""The outbox: queued with the change, dropped with a rollback, delivered through real SMTP,
retried with backoff, dead-lettered at the end."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from portal.extensions import db
from portal.notifications import mail, outbox
from portal.notifications.models import OutboxMessage
from tests.support.smtp import smtp_sink

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=timezone.utc)


def queue_one(to="someone@example.com"):
    return mail.queue_email("account_locked", to=to, subject="Locked\r\nBcc: evil@example.com",
                            context={"user": type("U", (), {"first_name": "Al", "email": to})(),
                                     "until": NOW}, now=NOW)


def test_a_rolled_back_change_sends_nothing(app):
    queue_one()
    db.session.rollback()
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_subject_newlines_cannot_inject_headers(app):
    message = queue_one()
    assert "\n" not in message.subject and "\r" not in message.subject


def test_delivery_through_a_real_smtp_server(app):
    queue_one("alice@example.com")
    db.session.commit()
    with smtp_sink() as sink:
        app.config.update(MAIL_BACKEND="smtp", SMTP_HOST=sink.host, SMTP_PORT=sink.port)
        assert outbox.deliver_due(NOW) == {"sent": 1, "retry": 0, "dead": 0}
        [received] = sink.wait_for(1)
    assert received.rcpt_tos == ("alice@example.com",)
    stored = db.session.scalar(select(OutboxMessage))
    assert received.message["Message-ID"] == stored.message_id
    assert stored.status == "sent" and stored.delivered_via == "smtp"
    assert "5 failed attempts" in received.message.get_body(("plain",)).get_content()


def test_refused_delivery_is_retried_later_with_backoff(app):
    queue_one()
    db.session.commit()
    with smtp_sink(refuse_first=1) as sink:
        app.config.update(MAIL_BACKEND="smtp", SMTP_HOST=sink.host, SMTP_PORT=sink.port)
        assert outbox.deliver_due(NOW)["retry"] == 1
        message = db.session.scalar(select(OutboxMessage))
        assert message.status == "pending" and message.attempts == 1 and message.next_attempt_at > NOW
        assert outbox.deliver_due(NOW + timedelta(seconds=1))["sent"] == 0  # not before its time
        assert outbox.deliver_due(message.next_attempt_at)["sent"] == 1
        sink.wait_for(1)


def test_a_message_that_keeps_failing_is_dead_lettered(app):
    queue_one()
    db.session.commit()
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=9, OUTBOX_MAX_ATTEMPTS=2)
    when = NOW
    outcomes = []
    for _ in range(3):
        outcomes.append(outbox.deliver_due(when))
        when += timedelta(days=1)
    assert outcomes[0]["retry"] == 1 and outcomes[1]["dead"] == 1
    assert db.session.scalar(select(OutboxMessage.status)) == "dead"


def test_two_workers_never_send_the_same_message(app):
    queue_one()
    db.session.commit()
    message_id = db.session.scalar(select(OutboxMessage.id))
    assert outbox._claim(message_id, NOW) is True
    assert outbox._claim(message_id, NOW) is False


def test_dev_backend_keeps_mail_for_the_dev_mailbox(app):
    queue_one()
    db.session.commit()
    outbox.deliver_due(NOW)
    assert db.session.scalar(select(OutboxMessage.delivered_via)) == "dev"
