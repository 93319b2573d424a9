"""Report tables: derived from the ticket event log (and, for affiliates, the transactions).

Nothing here is a source of truth. Every row can be recomputed from ``ticket_events`` and
``transactions`` with ``flask --app portal reports rebuild``; the live path
(``reports/aggregate.py``) keeps them in step as events are inserted, in the same transaction.

Three levels, each cheaper to read than the one before:

``report_facts``
    One row per (event, metric) that a report counts: a narrow, indexed copy of the event log with
    the metric worked out (``opened``, ``tc:tech_support>refund``, ``touch``, ``first_reply`` ...),
    the actor as one key (``u12`` for a user, else the actor kind), and derived numbers (seconds
    to first reply or to close). Read for the edges of a period, for one clerk, for drill-downs.
``report_hourly``
    Counts per UTC hour, all accounts of a Master Account together, by metric, ticket type and
    actor kind. Any time zone's days are sums of whole hours (hours a day boundary cuts through,
    e.g. in UTC+5:30, are read from the facts), so daily charts are exact in every zone.
``report_actor_hourly``
    The same per person (users only), so one clerk's days cost one row per hour at most.
``report_daily``
    Counts per UTC day by metric, actor and ticket type, per account and for all accounts
    (``account_id = 0``), per actor and for all actors (``actor = "*"``). Per-clerk totals over a period add whole UTC days from here and read
    the two partial days at the ends from the facts.

``report_affiliate_daily`` holds, per UTC day of the *sale* (a cohort), account, affiliate and
currency: orders, their amounts, subscriptions, payments, and how many of those orders were later
refunded or charged back and how many subscriptions were cancelled.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.types import UTCDateTime


class ReportFact(db.Model):
    __tablename__ = "report_facts"
    __table_args__ = (
        # Edges of a period, drill-downs and the comment list, over all accounts of a Master
        # Account; covering, so the edges never read the table.
        Index("ix_report_facts_metric_at", "master_id", "metric", "at",
              "account_id", "actor", "actor_kind", "ticket_type", "seconds", "prev_at"),
        # Some accounts only (a supervisor's, or the account filter): covering.
        Index("ix_report_facts_account", "account_id", "metric", "at",
              "hour", "actor", "actor_kind", "ticket_type", "seconds", "prev_at"),
        # One clerk (their days, their comments) and the top clerks of a chart: covering.
        Index("ix_report_facts_actor", "master_id", "actor", "metric", "at",
              "hour", "account_id", "ticket_type", "seconds", "prev_at"),
        # "Clerk tickets by type": touches whose previous touch by the same clerk lies before a
        # given instant. Only repeated touches, so the index stays small.
        Index("ix_report_facts_retouch", "master_id", "gap_class", "at",
              "prev_at", "hour", "actor", "ticket_type", "account_id", "metric",
              sqlite_where=text("metric = 'touch' AND prev_at IS NOT NULL"),
              postgresql_where=text("metric = 'touch' AND prev_at IS NOT NULL")),
        # A ticket's history (the live path resumes from it).
        Index("ix_report_facts_ticket", "ticket_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer)  # ticket_events.id (no FK: derived data)
    ticket_id: Mapped[int] = mapped_column(Integer)
    master_id: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    hour: Mapped[int] = mapped_column(Integer)  # whole hours since 1970-01-01 UTC
    metric: Mapped[str] = mapped_column(String(40))
    ticket_type: Mapped[str] = mapped_column(String(16))  # the ticket's type after the event
    actor: Mapped[str] = mapped_column(String(16))  # "u<user id>" or the actor kind
    actor_kind: Mapped[str] = mapped_column(String(12))
    seconds: Mapped[int | None] = mapped_column(BigInteger)  # to first reply / to close
    prev_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # touch: actor's previous one
    gap_class: Mapped[int | None] = mapped_column(Integer)  # touch: log2 of the gap in hours


class ReportHourly(db.Model):
    __tablename__ = "report_hourly"

    master_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ticket_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    actor_kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportActorHourly(db.Model):
    """Counts per UTC hour for each person (``u<id>`` actors only), all accounts together: one
    clerk's days, and the busiest clerks of a chart, read at most one row per hour."""

    __tablename__ = "report_actor_hourly"

    master_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    actor: Mapped[str] = mapped_column(String(16), primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ticket_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportDaily(db.Model):
    """``account_id = 0``: all accounts of the Master Account; ``actor = "*"``: all actors."""

    __tablename__ = "report_daily"

    master_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 0: all
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # UTC days
    actor: Mapped[str] = mapped_column(String(16), primary_key=True)
    ticket_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[int] = mapped_column(BigInteger, default=0)


class AffiliateDaily(db.Model):
    """``account_id = 0``: all accounts of the Master Account."""

    __tablename__ = "report_affiliate_daily"

    master_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # of the sale
    affiliate: Mapped[str] = mapped_column(String(32), primary_key=True)  # "" when none
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    order_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    subscriptions: Mapped[int] = mapped_column(Integer, default=0)
    payments: Mapped[int] = mapped_column(Integer, default=0)  # charges of those subscriptions
    refunded: Mapped[int] = mapped_column(Integer, default=0)  # orders with at least one refund
    charged_back: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)  # subscriptions now cancelled
