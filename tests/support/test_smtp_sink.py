"""The SMTP sink records real SMTP deliveries and refuses them on request."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage

import pytest

from tests.support.smtp import smtp_sink


def _message(subject: str = "Hello") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Portal <no-reply@portal.test>"
    msg["To"] = "Zoë <zoe@example.test>"
    msg["Subject"] = subject
    msg.set_content("Plain body — with a non-ASCII dash.")
    msg.add_alternative("<p>HTML body</p>", subtype="html")
    return msg


def _send(sink, msg: EmailMessage) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:
        client.send_message(msg, to_addrs=["zoe@example.test", "bcc@example.test"])


def test_records_envelope_and_parsed_message():
    """Envelope, headers and both MIME parts arrive as sent."""
    with smtp_sink() as sink:
        _send(sink, _message("Welcome"))
        [received] = sink.wait_for(1)
    assert received.mail_from == "no-reply@portal.test"
    assert received.rcpt_tos == ("zoe@example.test", "bcc@example.test")
    assert received.message["Subject"] == "Welcome"
    assert received.message["To"].addresses[0].display_name == "Zoë"
    assert received.message.get_body(("plain",)).get_content().strip().endswith("dash.")
    assert "<p>HTML body</p>" in received.message.get_body(("html",)).get_content()
    assert b"Subject: Welcome" in received.data


def test_refuses_first_n_deliveries_with_421():
    """With refuse_first=2 the first two attempts get 421 and nothing is recorded for them."""
    with smtp_sink(refuse_first=2) as sink:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                _send(sink, _message())
            assert refused.value.smtp_code == 421
        _send(sink, _message("third time"))
        [received] = sink.wait_for(1)
    assert sink.refused == 2
    assert received.message["Subject"] == "third time"


def test_refuses_during_the_first_seconds():
    """With refuse_seconds the server answers 421 until the time is up, then accepts."""
    with smtp_sink(refuse_seconds=0.5) as sink:
        with pytest.raises(smtplib.SMTPSenderRefused):
            _send(sink, _message())
        time.sleep(0.6)
        _send(sink, _message())
        assert len(sink.wait_for(1)) == 1


def test_closed_port_then_open():
    """With closed_seconds nothing listens at first (connection refused), then it accepts."""
    with smtp_sink(closed_seconds=0.5) as sink:
        with pytest.raises(ConnectionRefusedError):
            _send(sink, _message())
        time.sleep(0.8)
        _send(sink, _message())
        assert len(sink.wait_for(1)) == 1


def test_wait_for_times_out_when_nothing_arrives():
    """wait_for fails instead of hanging when the expected mail never comes."""
    with smtp_sink() as sink, pytest.raises(TimeoutError):
        sink.wait_for(1, timeout=0.2)
