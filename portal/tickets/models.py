"""Customer-support tickets and their append-only event log (the source of every report)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, JSON, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime


class Ticket(db.Model):
    """A ticket about one transaction. The state fields are a projection of the event log,
    kept on the row so the queue can filter and sort without reading events.

    Rules for moving between states live in ``tickets/lifecycle.py`` (pure);
    ``tickets/services.py`` is the only code that changes a ticket.
    """

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_queue", "status", "next_action_at", "id"),
        Index("ix_tickets_account_queue", "linked_account_id", "status", "next_action_at", "id"),
        Index("ix_tickets_account_type", "linked_account_id", "ticket_type", "status"),
        # text_pattern_ops: PostgreSQL serves "starts with" (LIKE 'abc%') searches from these
        # whatever the database collation; SQLite compares bytes and uses them for ranges.
        Index(
            "ix_tickets_email", "customer_email", postgresql_ops={"customer_email": "text_pattern_ops"}
        ),
        Index("ix_tickets_receipt", "receipt", postgresql_ops={"receipt": "text_pattern_ops"}),
        Index("ix_tickets_due", "next_action_at"),
        Index("ix_tickets_transaction", "transaction_id"),
        Index("ix_tickets_opened", "linked_account_id", "opened_at"),
        # The queue (tickets/queries.py): every filter of the Tickets tab in one covering index
        # (counts, and pages where few tickets match) ...
        Index(
            "ix_tickets_filters",
            "linked_account_id", "status", "ticket_type", "product_type",
            "next_action_at", "closed_at",
        ),
        # ... and the two sort orders, walked in order with the filters read from the index.
        Index(
            "ix_tickets_timed",
            "next_action_at", "id", "linked_account_id", "status", "ticket_type", "product_type",
            sqlite_where=text("next_action_at IS NOT NULL"),
            postgresql_where=text("next_action_at IS NOT NULL"),
        ),
        Index(
            "ix_tickets_closed",
            "closed_at", "id", "linked_account_id", "status", "ticket_type", "product_type",
            sqlite_where=text("closed_at IS NOT NULL"),
            postgresql_where=text("closed_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)  # the ticket number
    linked_account_id: Mapped[int] = mapped_column(ForeignKey("linked_accounts.id"))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"))
    receipt: Mapped[str] = mapped_column(String(40))
    ticket_type: Mapped[str] = mapped_column(String(16))  # lifecycle.TicketType
    status: Mapped[str] = mapped_column(String(10))  # lifecycle.Status
    refund_state: Mapped[str | None] = mapped_column(String(12))  # lifecycle.RefundState
    source: Mapped[str] = mapped_column(String(10))  # lifecycle.Source
    locale: Mapped[str] = mapped_column(String(5), default="en")
    vendor_initiated: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer_first_name: Mapped[str] = mapped_column(String(80), default="")
    customer_last_name: Mapped[str] = mapped_column(String(80), default="")
    customer_email: Mapped[str] = mapped_column(String(254))  # lower-cased
    description: Mapped[str] = mapped_column(Text, default="")
    product_type: Mapped[str] = mapped_column(String(10))  # standard | recurring
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))

    escalated: Mapped[bool] = mapped_column(Boolean, default=False)  # > 90 days refund allowed

    # Timers (DOMAIN.md §6): what happens next and when; None when nothing is scheduled.
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_action: Mapped[str | None] = mapped_column(String(16))  # lifecycle.Action
    last_party: Mapped[str | None] = mapped_column(String(10))  # customer | vendor
    timer_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warnings_sent: Mapped[int] = mapped_column(Integer, default=0)

    # Refund hand-off (seed 001): return tracking and escalation to the refund authority.
    return_status: Mapped[str | None] = mapped_column(String(12))  # label_sent|in_transit|received
    handoff_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    external_id: Mapped[str | None] = mapped_column(String(32))  # ClickBank's ticketid
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic concurrency

    # Every UPDATE checks and bumps ``version``: a concurrent change raises StaleDataError.
    __mapper_args__ = {"version_id_col": version}

    linked_account = relationship("LinkedAccount")
    transaction = relationship("Transaction")
    opened_by = relationship("User")
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", viewonly=True
    )

    @property
    def customer_name(self) -> str:
        return f"{self.customer_first_name} {self.customer_last_name}".strip()

    @property
    def is_closed(self) -> bool:
        return self.status == "closed"

    # For the policy, a ticket stands for its transaction too: asking
    # ``can(Action.TRANSACTION_VIEW, ticket)`` means "may see the order this ticket is about",
    # which an Orders/Tickets clerk may (it is tied to a ticket).
    has_ticket = True

    def __repr__(self) -> str:
        return f"<Ticket {self.id} {self.ticket_type} {self.status}>"


class TicketEvent(db.Model):
    """One thing that happened to a ticket. Rows are only ever inserted."""

    __tablename__ = "ticket_events"
    __table_args__ = (
        Index("ix_ticket_events_ticket", "ticket_id", "id"),
        Index("ix_ticket_events_account_at", "linked_account_id", "at"),
        Index("ix_ticket_events_actor_at", "actor_user_id", "at"),
        Index("ix_ticket_events_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    linked_account_id: Mapped[int] = mapped_column(ForeignKey("linked_accounts.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(24))  # lifecycle.EventKind
    actor_kind: Mapped[str] = mapped_column(String(12))  # lifecycle.ActorKind
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(160), default="")  # name at the time
    ticket_type: Mapped[str] = mapped_column(String(16))  # the ticket's type after the event
    from_value: Mapped[str | None] = mapped_column(String(254))
    to_value: Mapped[str | None] = mapped_column(String(254))
    comment: Mapped[str | None] = mapped_column(Text)
    customer_agreed: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict | None] = mapped_column(JSON)

    ticket: Mapped[Ticket] = relationship(back_populates="events")
    actor = relationship("User")
