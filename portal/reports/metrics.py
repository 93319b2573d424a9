"""What a ticket event counts for in the reports. Pure: no Flask, no database.

:func:`derive` turns one event, plus what came before it on the same ticket (:class:`History`),
into :class:`Fact` rows. Both the live path (events as they are inserted) and the rebuild (the
whole log, ticket by ticket) call it, so the two cannot disagree.

Who: an event's actor is ``u<user id>`` when a user acted (owner, clerk, API user: grouped by user,
so a renamed clerk keeps one row), otherwise the actor kind (``customer``, ``phone``,
``vendor_link``, ``system``, or ``api`` for an API call without a user).

Metrics:
``opened``, ``closed``, ``auto_closed``, ``finalized``, ``commented``, ``reopened``,
``escalated``, ``email_changed``, ``return_*``, ``handoff``, ``refund_approved``
    one per event of that kind; the three closing kinds carry the seconds since the ticket was
    last opened or reopened (time to close).
``tc:<from>><to>``
    a change of ticket type, e.g. ``tc:tech_support>refund``.
``touch``
    work by the vendor side (owner, clerk, API user, vendor email link) on a ticket: every action
    a person takes needs a comment, so touches are also the "clerk comments". ``prev_at`` is the
    same actor's previous touch of the ticket (None for their first), which lets "Clerk tickets
    by type" count each ticket once per clerk in any period.
``work_first`` / ``work:<c>``
    the same vendor-side work counted per *ticket* rather than per (actor, ticket): one fact per
    touch, ``work_first`` for the ticket's first vendor-side touch ever, else ``work:<c>`` with
    ``prev_at`` the ticket's previous vendor-side touch by anyone and ``c`` the gap class of that
    gap (in the metric, so the period-start carry-over of "Clerk tickets by type"'s distinct
    total is a short range per class on the (master, metric, at) index). Only ``work_first`` is
    added to the hourly and daily counts.
``first_reply`` (+ ``reply:lt1h`` / ``reply:1to24h`` / ``reply:gt24h``)
    the first vendor-side action on a ticket a customer (or ClickBank phone support) opened, with
    the seconds it took.
``saved`` ("tickets saved": refund or cancellation requests that ended without a refund)
    a refund or cancellation request closed before it was processed (withdrawn: nothing refunded)
    or changed to tech support. The credit goes to the actor of that close or type change: the
    clerk, owner or API user who did it (``u<id>``), the vendor's email link, or — when the
    customer withdrew the request themselves — ``customer`` (``phone`` for ClickBank phone
    support). The timers' own closes (``system``: the order was already refunded elsewhere) are
    no save.

    A save reflects the outcome, so it can be taken back: when the same ticket is later
    processed after all (changed back to refund/cancel, or reopened, and the ``processing`` event
    comes: money returned or the subscription stopped), or saved again later (only the last save
    of a ticket counts, so a ticket is counted once), :func:`derive` emits a ``save_lost`` fact
    naming the earlier save (same ``event_id``, actor, time and ticket type). Whoever stores the
    facts turns that save into ``save_lost`` in place and moves its one count from ``saved`` to
    ``save_lost`` in the hour/day it was made: the save disappears from the day, the clerk and the
    drill-down it was counted in, and never shows as a negative number. The live path
    (``aggregate.process_events``) and the rebuild apply it the same way
    (``aggregate.settle``), so both give the same tables.
``save_lost``
    a save taken back as above (kept at the time and actor of the save; counted nowhere).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime

MONEY_TYPES = frozenset({"refund", "cancel"})
TICKET_TYPES = ("tech_support", "refund", "cancel")
VENDOR_SIDE = frozenset({"owner", "clerk", "api", "vendor_link"})
CUSTOMER_SIDE = frozenset({"customer", "phone"})
NON_USER_ACTORS = ("customer", "phone", "vendor_link", "system", "api")

CLOSING = frozenset({"closed", "auto_closed", "finalized"})
MODIFYING = frozenset({
    "type_changed", "reopened", "escalated", "email_changed", "return_label_sent",
    "return_in_transit", "return_received", "handoff", "refund_approved",
})
COUNTED = frozenset({"opened", "commented"}) | CLOSING | MODIFYING
# vendor-side touches (emailing the customer their receipt from the ticket is work too)
WORK = frozenset({"opened", "commented", "closed", "receipt_emailed"}) | MODIFYING

REPLY_BANDS = (("reply:lt1h", 3600), ("reply:1to24h", 86400), ("reply:gt24h", None))
SAVED = "saved"
SAVE_LOST = "save_lost"
TAKES_SAVE_BACK = frozenset({"processing"})  # the request is carried out after all
DERIVED = ("touch", "first_reply", SAVED, SAVE_LOST) + tuple(b for b, _ in REPLY_BANDS)
FIRST_TOUCH = "first_touch"  # aggregate-only metric: touches with no earlier touch by the actor
WORK_FIRST = "work_first"  # a ticket's first vendor-side touch (by anyone)
WORK_AGAIN = "work:"  # + gap class: a later vendor-side touch of the ticket (facts only)


def work_again(c: int) -> str:
    return f"{WORK_AGAIN}{c}"


def is_work(metric: str) -> bool:
    return metric == WORK_FIRST or metric.startswith(WORK_AGAIN)


def actor_key(actor_kind: str, actor_user_id: int | None) -> str:
    return f"u{actor_user_id}" if actor_user_id else actor_kind


def user_id_of(actor: str) -> int | None:
    return int(actor[1:]) if actor.startswith("u") and actor[1:].isdigit() else None


def type_change_metric(from_value: str | None, to_value: str | None) -> str:
    return f"tc:{from_value or '?'}>{to_value or '?'}"


def gap_class(prev_at: datetime | None, at: datetime) -> int | None:
    """c such that the gap lies in [2^c, 2^(c+1)) hours (c = 0 for anything under two hours)."""
    if prev_at is None:
        return None
    hours = max((at - prev_at).total_seconds(), 0) / 3600
    return 0 if hours < 2 else int(math.floor(math.log2(hours)))


MAX_GAP_CLASS = 24  # 2^25 hours is over three thousand years


@dataclass
class Event:
    id: int
    ticket_id: int
    account_id: int
    at: datetime
    kind: str
    actor_kind: str
    actor_user_id: int | None
    ticket_type: str
    from_value: str | None = None
    to_value: str | None = None

    @property
    def actor(self) -> str:
        return actor_key(self.actor_kind, self.actor_user_id)


@dataclass
class Fact:
    event_id: int
    ticket_id: int
    account_id: int
    at: datetime
    metric: str
    ticket_type: str
    actor: str
    actor_kind: str
    seconds: int | None = None
    prev_at: datetime | None = None

    @property
    def gap_class(self) -> int | None:
        return gap_class(self.prev_at, self.at) if self.metric == "touch" else None

    def aggregate_metrics(self) -> tuple[str, ...]:
        """The metrics this fact adds one to in the hourly and daily aggregates."""
        return aggregate_metrics(self.metric, self.prev_at)


@dataclass
class History:
    """What the reports need to remember about a ticket's past events."""

    opened_at: datetime | None = None
    customer_opened: bool = False
    open_since: datetime | None = None
    replied: bool = False
    last_touch: dict[str, datetime] = field(default_factory=dict)
    standing_save: Fact | None = None  # the ticket's save that still counts, if any

    def absorb(self, fact: Fact) -> None:
        """Rebuild the history from stored facts (the live path resumes from them)."""
        if fact.metric == "opened":
            self.opened_at = fact.at
            self.customer_opened = fact.actor_kind in CUSTOMER_SIDE
            self.open_since = self.open_since or fact.at
        elif fact.metric == "reopened":
            if self.open_since is None or fact.at >= self.open_since:
                self.open_since = fact.at
        elif fact.metric == "first_reply":
            self.replied = True
        elif fact.metric == "touch":
            last = self.last_touch.get(fact.actor)
            if last is None or fact.at > last:
                self.last_touch[fact.actor] = fact.at
        elif fact.metric == SAVED:  # a ticket keeps at most one (the others were taken back)
            if self.standing_save is None or fact.at >= self.standing_save.at:
                self.standing_save = fact


def aggregate_metrics(metric: str, prev_at) -> tuple[str, ...]:
    """The metrics a fact adds one to in the hourly and daily aggregates."""
    if metric == "touch" and prev_at is None:
        return ("touch", FIRST_TOUCH)
    if metric.startswith(WORK_AGAIN):
        return ()
    return (metric,)


def _seconds(later: datetime, earlier: datetime | None) -> int | None:
    if earlier is None:
        return None
    return max(int((later - earlier).total_seconds()), 0)


def metric_of(event: Event) -> str | None:
    if event.kind not in COUNTED:
        return None
    if event.kind == "type_changed":
        return type_change_metric(event.from_value, event.to_value)
    return event.kind


def is_save(event: Event) -> bool:
    if event.actor_kind == "system":
        return False  # the timers close a request only when the order already settled it
    if event.kind == "closed":
        return event.ticket_type in MONEY_TYPES
    if event.kind == "type_changed":
        return event.from_value in MONEY_TYPES and event.to_value == "tech_support"
    return False


def derive(event: Event, history: History) -> list[Fact]:
    """The facts of one event; updates ``history`` for the next event of the ticket."""
    facts: list[Fact] = []
    actor = event.actor

    def fact(metric: str, **kw) -> Fact:
        f = Fact(event.id, event.ticket_id, event.account_id, event.at, metric, event.ticket_type,
                 actor, event.actor_kind, **kw)
        facts.append(f)
        return f

    metric = metric_of(event)
    if metric is not None:
        seconds = _seconds(event.at, history.open_since) if event.kind in CLOSING else None
        fact(metric, seconds=seconds)
    if event.actor_kind in VENDOR_SIDE and event.kind in WORK:
        fact("touch", prev_at=history.last_touch.get(actor))
        ticket_prev = max(history.last_touch.values(), default=None)
        if ticket_prev is None:
            fact(WORK_FIRST)
        else:
            fact(work_again(gap_class(ticket_prev, event.at)), prev_at=ticket_prev)
        history.last_touch[actor] = max(event.at, history.last_touch.get(actor, event.at))
        if history.customer_opened and not history.replied and event.kind != "opened":
            seconds = _seconds(event.at, history.opened_at)
            fact("first_reply", seconds=seconds)
            fact(reply_band(seconds or 0))
            history.replied = True
    if event.kind in TAKES_SAVE_BACK or is_save(event):
        if history.standing_save is not None:
            facts.append(replace(history.standing_save, metric=SAVE_LOST))
            history.standing_save = None
    if is_save(event):
        history.standing_save = fact(SAVED)

    if event.kind == "opened":
        history.opened_at = event.at
        history.customer_opened = event.actor_kind in CUSTOMER_SIDE
        history.open_since = event.at
    elif event.kind == "reopened":
        history.open_since = event.at
    return facts


def reply_band(seconds: int) -> str:
    for band, limit in REPLY_BANDS:
        if limit is None or seconds < limit:
            return band
    raise AssertionError("unreachable")
