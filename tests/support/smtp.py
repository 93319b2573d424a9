"""A real SMTP server on 127.0.0.1 that keeps what it receives, for delivery and retry tests.

Point the app's SMTP_HOST / SMTP_PORT at ``sink.host`` / ``sink.port``::

    with smtp_sink() as sink:
        ...deliver...
        [received] = sink.wait_for(1)
        assert received.message["Subject"] == "Welcome"

``smtp_sink(refuse_first=2)``: the first two deliveries get "421 try again later".
``smtp_sink(refuse_seconds=1.5)``: every delivery in the first 1.5 s gets 421.
``smtp_sink(closed_seconds=1.5)``: nothing listens on the port for the first 1.5 s.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.support import free_port

REFUSAL = "421 4.3.2 Service not available, try again later"


@dataclass(frozen=True)
class Received:
    """One accepted message: the SMTP envelope and the parsed email."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: EmailMessage


class SmtpSink:
    """Accepts every message (after the configured refusals) and records it."""

    def __init__(
        self,
        *,
        refuse_first: int = 0,
        refuse_seconds: float = 0.0,
        closed_seconds: float = 0.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.port = free_port(host)
        self.refuse_first = refuse_first
        self.refuse_seconds = refuse_seconds
        self.closed_seconds = closed_seconds
        self.messages: list[Received] = []
        self.refused = 0  # deliveries answered with 421
        self._changed = threading.Condition()
        self._controller: Controller | None = None
        self._opener: threading.Timer | None = None
        self._started_at = 0.0

    def start(self) -> SmtpSink:
        """Start listening, now or after ``closed_seconds``."""
        self._started_at = time.monotonic()
        if self.closed_seconds > 0:
            self._opener = threading.Timer(self.closed_seconds, self._listen)
            self._opener.daemon = True
            self._opener.start()
        else:
            self._listen()
        return self

    def stop(self) -> None:
        """Stop listening; recorded messages stay readable."""
        if self._opener is not None:
            self._opener.cancel()
            self._opener.join()
            self._opener = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least ``count`` messages arrived; return them all or raise TimeoutError."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(
                    f"expected {count} message(s) within {timeout}s, got {len(self.messages)} "
                    f"({self.refused} refused)"
                )
            return list(self.messages)

    def _listen(self) -> None:
        # SMTPUTF8 so internationalised addresses reach the handler instead of a 5xx.
        self._controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, enable_SMTPUTF8=True
        )
        self._controller.start()

    def _should_refuse(self) -> bool:
        with self._changed:
            early = time.monotonic() - self._started_at < self.refuse_seconds
            if early or self.refused < self.refuse_first:
                self.refused += 1
                self._changed.notify_all()
                return True
            return False

    def _record(self, received: Received) -> None:
        with self._changed:
            self.messages.append(received)
            self._changed.notify_all()


class _Handler:
    """aiosmtpd handler: refuses at MAIL FROM while asked to, records at DATA."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # 421 at MAIL FROM is what a busy or greylisting server answers; smtplib then closes the
        # connection and raises SMTPSenderRefused, which a sender must treat as "retry later".
        if self.sink._should_refuse():
            return REFUSAL
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        message = email.message_from_bytes(data, policy=email.policy.default)
        self.sink._record(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=data,
                message=message,
            )
        )
        return "250 Message accepted for delivery"


@contextmanager
def smtp_sink(**options) -> Iterator[SmtpSink]:
    """Run an :class:`SmtpSink` for the duration of the block."""
    sink = SmtpSink(**options).start()
    try:
        yield sink
    finally:
        sink.stop()
