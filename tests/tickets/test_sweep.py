"""Every timeline of DOMAIN.md §6 walked through the timers sweep with an explicit clock (no
sleeping): transactions, ticket state, events and the mails in the outbox. Plus the sweep's own
promises: exactly once (twice in a row, two workers at once), catching up, sandbox only."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.tickets import services, sweep
from portal.tickets.models import TicketEvent
from portal.transactions.models import DailySales, Subscription, Transaction
from tests.concurrency import run_at_once
from tests.tickets.conftest import as_user, fresh

MONDAY = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York (EST, UTC-5)
H = timedelta(hours=1)
D = timedelta(days=1)




def events(ticket) -> list[tuple[str, str]]:
    rows = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))
    return [(e.kind, e.actor_kind) for e in rows]


def step_events(ticket) -> list[tuple[str, datetime, datetime]]:
    """(kind, when it was due, when the sweep did it) for the automatic steps."""
    rows = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                        TicketEvent.actor_kind == "system").order_by(TicketEvent.id))
    return [(e.kind, datetime.fromisoformat(e.data["due_at"]), e.at) for e in rows]


def mail_kinds(ticket) -> list[str]:
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id).order_by(OutboxMessage.id))
    return [m.payload["dedupe"].rsplit(":", 2)[0] + ":" + m.payload["dedupe"].rsplit(":", 1)[1] for m in rows]


def refunds() -> list[tuple[str, int]]:
    rows = db.session.scalars(select(Transaction).where(Transaction.txn_type == "RFND").order_by(Transaction.id))
    return [(r.receipt, r.amount_cents) for r in rows]


# --- refund and cancel requests -------------------------------------------------------------------

def test_customer_refund_is_processed_after_24_hours_then_settles_and_closes(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - 3 * D, amount_cents=4700, email="buyer@example.com")
    ticket = make.ticket(sale, ticket_type="refund", now=MONDAY)
    assert sweep.run(MONDAY + 24 * H - timedelta(minutes=1)) == {}
    assert refunds() == []
    assert sweep.run(MONDAY + 24 * H) == {"processing": 1}
    assert refunds() == [(sale.receipt, 4700)]
    # Both parties hear when the money goes back, not only when the ticket closes a day later.
    assert mail_kinds(ticket) == ["ticket_opened:customer", "ticket_opened:vendor",
                                  "refund_processed:customer", "refund_processed:vendor"]
    processed = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "buyer@example.com")
                                   .order_by(OutboxMessage.id.desc())).first()
    assert "Your refund for order" in processed.payload["text"] and "$47.00" in processed.payload["text"]
    t = fresh(ticket)
    assert (t.status, t.refund_state, t.next_action) == ("open", "processing", "settle")
    assert t.next_action_at == MONDAY + 48 * H
    assert sweep.run(MONDAY + 48 * H) == {"finalized": 1}
    t = fresh(ticket)
    assert (t.status, t.refund_state, t.next_action, t.next_action_at) == ("closed", "finalized", None, None)
    assert t.closed_at == MONDAY + 48 * H
    assert events(ticket) == [("opened", "customer"), ("processing", "system"), ("finalized", "system")]
    # Finalization closes the ticket and says so; it does not repeat the refund news.
    assert mail_kinds(ticket) == ["ticket_opened:customer", "ticket_opened:vendor",
                                  "refund_processed:customer", "refund_processed:vendor",
                                  "ticket_closed:customer", "ticket_closed:vendor"]
    closed = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "buyer@example.com")
                                .order_by(OutboxMessage.id.desc())).first()
    assert "is complete, so the ticket is now closed" in closed.payload["text"]
    assert sum(d.refund_cents for d in db.session.scalars(select(DailySales))) == 4700
    assert sweep.run(MONDAY + 10 * D) == {}


def test_a_friday_request_is_not_processed_on_the_weekend(make, shop):
    _, account, _ = shop
    friday = MONDAY + 4 * D  # Friday 10:00 New York
    ticket = make.ticket(make.sale(account, at=friday - 3 * D), ticket_type="refund", now=friday)
    for moment in (friday + 24 * H, friday + 36 * H, friday + 71 * H):  # Saturday, Sunday
        assert sweep.run(moment) == {}
    assert refunds() == []
    assert sweep.run(friday + 72 * H) == {"processing": 1}  # Monday 10:00
    assert step_events(ticket) == [("processing", friday + 72 * H, friday + 72 * H)]


def test_refund_on_a_subscription_returns_the_last_charge_and_cancels_it(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - 40 * D, recurring=True, amount_cents=1995)
    rebill = make.rebill(sale, at=MONDAY - 10 * D)
    ticket = make.ticket(sale, ticket_type="refund", now=MONDAY)
    sweep.run(MONDAY + 24 * H)
    assert refunds() == [(rebill.receipt, 1995)]
    # Billing stops with the refund itself, so no rebill can fall before the refund settles.
    sub = db.session.scalar(select(Subscription))
    assert sub.status == "cancelled" and sub.next_bill_at is None and sub.cancelled_at == MONDAY + 24 * H
    processing = db.session.scalars(select(TicketEvent).where(TicketEvent.kind == "processing")).one()
    assert processing.data["subscription_cancelled"] is True
    sweep.run(MONDAY + 48 * H)
    assert fresh(ticket).refund_state == "finalized"


def test_cancellation_stops_the_subscription_and_returns_nothing(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - 5 * D, recurring=True)
    ticket = make.ticket(sale, ticket_type="cancel", now=MONDAY)
    assert sweep.run(MONDAY + 24 * H) == {"processing": 1}
    sub = db.session.scalar(select(Subscription))
    assert sub.status == "cancelled" and sub.cancelled_at == MONDAY + 24 * H
    assert sweep.run(MONDAY + 48 * H) == {"finalized": 1}
    assert refunds() == []
    assert fresh(ticket).status == "closed"
    assert mail_kinds(ticket)[-4:] == ["refund_processed:customer", "refund_processed:vendor",
                                       "ticket_closed:customer", "ticket_closed:vendor"]


def test_vendor_refund_runs_after_five_minutes(make, shop):
    owner, account, _ = shop
    sale = make.sale(account, at=MONDAY - 20 * D, amount_cents=2900)
    ticket = services.open_ticket(as_user(owner), sale, "refund", comment="Customer called us.", now=MONDAY)
    assert ticket.source == "vendor" and ticket.vendor_initiated
    assert sweep.run(MONDAY + timedelta(minutes=4, seconds=59)) == {}
    assert sweep.run(MONDAY + timedelta(minutes=5)) == {"processing": 1}
    assert refunds() == [(sale.receipt, 2900)]


def test_vendor_may_still_close_its_own_refund_within_five_minutes(make, shop):
    owner, account, _ = shop
    sale = make.sale(account, at=MONDAY - 20 * D)
    ticket = services.open_ticket(as_user(owner), sale, "refund", comment="Opened by mistake", now=MONDAY)
    services.close(as_user(owner), ticket, "Wrong order, sorry.", now=MONDAY + timedelta(minutes=3))
    assert sweep.run(MONDAY + 2 * D) == {}
    assert refunds() == [] and fresh(ticket).refund_state == "withdrawn"


def test_the_vendor_saves_the_sale_with_the_customers_consent(make, shop):
    _, account, clerk = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - 3 * D), ticket_type="refund", now=MONDAY)
    services.change_type(as_user(clerk), ticket, "tech_support", "Customer agreed to try the fix.",
                         now=MONDAY + 2 * H, customer_agreed=True)
    assert sweep.run(MONDAY + 3 * D) == {}
    assert refunds() == []
    t = fresh(ticket)
    assert (t.ticket_type, t.last_party, t.next_action) == ("tech_support", "vendor", "warn")
    assert t.next_action_at == MONDAY + 2 * H + 9 * D  # 7 business days after Monday: Wednesday next week


# --- tech support ---------------------------------------------------------------------------------

def test_vendor_silent_warnings_at_48_and_96_hours_then_closed_after_6_days(make, shop):
    _, account, _ = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - 3 * D, email="buyer@example.com"), now=MONDAY)
    assert sweep.run(MONDAY + 48 * H - timedelta(seconds=1)) == {}
    assert sweep.run(MONDAY + 48 * H) == {"warning": 1}  # Wednesday
    assert sweep.run(MONDAY + 96 * H) == {"warning": 1}  # Friday
    assert sweep.run(MONDAY + 6 * D) == {}  # Sunday: moved to Monday
    assert sweep.run(MONDAY + 7 * D) == {"auto_closed": 1}
    assert [(k, due) for k, due, _ in step_events(ticket)] == [
        ("warning", MONDAY + 2 * D), ("warning", MONDAY + 4 * D), ("auto_closed", MONDAY + 7 * D)]
    t = fresh(ticket)
    assert t.status == "closed" and t.warnings_sent == 2 and t.next_action is None
    assert mail_kinds(ticket) == [
        "ticket_opened:customer", "ticket_opened:vendor", "ticket_warning:customer", "ticket_warning:vendor",
        "ticket_warning:customer", "ticket_warning:vendor", "ticket_closed:customer", "ticket_closed:vendor"]
    closed_mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "buyer@example.com")
                                     .order_by(OutboxMessage.id.desc())).first()
    assert "closed automatically because there was no activity" in closed_mail.payload["text"]


def test_customer_silent_warning_after_7_and_close_after_14_business_days(make, shop):
    _, account, clerk = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - 3 * D), now=MONDAY)
    services.add_comment(as_user(clerk), ticket, "Try clearing the cache.", now=MONDAY + 1 * H)
    assert sweep.run(MONDAY + 8 * D) == {}  # 6 business days
    assert sweep.run(MONDAY + 9 * D + 1 * H) == {"warning": 1}  # Wednesday next week
    assert sweep.run(MONDAY + 17 * D) == {}
    assert sweep.run(MONDAY + 18 * D + 1 * H) == {"auto_closed": 1}  # Friday of the third week
    assert fresh(ticket).status == "closed"


def test_a_reply_restarts_the_timers(make, shop):
    _, account, _ = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - 3 * D), now=MONDAY)
    sweep.run(MONDAY + 48 * H)
    services.add_comment(services.Actor.customer(ticket), ticket, "Still waiting for help!", now=MONDAY + 50 * H)
    assert sweep.run(MONDAY + 96 * H) == {}
    assert sweep.run(MONDAY + 98 * H) == {"warning": 1}
    assert fresh(ticket).warnings_sent == 1


def test_tech_support_turned_into_a_refund_is_processed_24_hours_later(make, shop):
    _, account, _ = shop
    sale = make.sale(account, at=MONDAY - 3 * D, amount_cents=3700)
    ticket = make.ticket(sale, now=MONDAY)
    services.change_type(services.Actor.customer(ticket), ticket, "refund", "No help came, refund please.",
                         now=MONDAY + 30 * H)
    assert sweep.run(MONDAY + 48 * H) == {}  # no tech warning any more
    assert sweep.run(MONDAY + 54 * H) == {"processing": 1}
    assert refunds() == [(sale.receipt, 3700)]


def test_reopen_restarts_the_timers_for_its_type(make, shop):
    _, account, clerk = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - 3 * D), now=MONDAY)
    services.close(services.Actor.customer(ticket), ticket, "Fixed it myself.", now=MONDAY + 1 * H)
    assert sweep.run(MONDAY + 30 * D) == {}
    services.reopen(as_user(clerk), ticket, "Customer wrote again.", now=MONDAY + 3 * D)
    assert fresh(ticket).next_action == "warn"
    assert sweep.run(MONDAY + 30 * D) == {"warning": 1, "auto_closed": 1}


# --- the sweep's own promises --------------------------------------------------------------------------

def test_catching_up_after_downtime_replays_every_step_in_order(make, shop):
    _, account, _ = shop
    tech = make.ticket(make.sale(account, at=MONDAY - 3 * D), now=MONDAY)
    refund = make.ticket(make.sale(account, at=MONDAY - 3 * D), ticket_type="refund", now=MONDAY)
    back = MONDAY + 30 * D  # Wednesday, a month later
    assert sweep.run(back) == {"warning": 2, "auto_closed": 1, "processing": 1, "finalized": 1}
    assert [(k, due) for k, due, _ in step_events(tech)] == [
        ("warning", MONDAY + 2 * D), ("warning", MONDAY + 4 * D), ("auto_closed", MONDAY + 7 * D)]
    # Each caught-up step is dated by when it was due (reports count it on that day).
    assert all(at == due for _, due, at in step_events(tech) + step_events(refund))
    assert fresh(tech).closed_at == MONDAY + 7 * D and fresh(refund).closed_at == MONDAY + 2 * D
    assert len(refunds()) == 1
    assert sweep.run(back) == {}


def test_worker_down_over_a_weekend_dates_the_caught_up_steps_when_they_were_due(make, shop):
    _, account, _ = shop
    thursday, friday, monday = MONDAY + 3 * D, MONDAY + 4 * D, MONDAY + 7 * D  # 10:00 New York
    sale = make.sale(account, at=thursday - 2 * D, amount_cents=3300)
    refund = make.ticket(sale, ticket_type="refund", now=thursday)
    tech = make.ticket(make.sale(account, at=MONDAY - 3 * D), now=MONDAY + 2 * D)  # Wednesday
    assert sweep.run(friday - H) == {}
    # The worker stops Friday 09:00 and comes back Monday 11:00.
    assert sweep.run(monday + H) == {"processing": 1, "finalized": 1, "warning": 2}
    assert step_events(refund) == [("processing", friday, friday), ("finalized", monday, monday)]
    # The second warning was due on Sunday 10:00 (chain: two days after Friday) and moved to Monday.
    assert step_events(tech) == [("warning", friday, friday), ("warning", monday, monday)]
    assert fresh(refund).closed_at == monday
    rfnd = db.session.scalar(select(Transaction).where(Transaction.txn_type == "RFND"))
    assert rfnd.occurred_at == friday
    outbox_refund = [m.payload["dedupe"] for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.ticket_id == refund.id).order_by(OutboxMessage.id))]
    assert [d.split(":")[0] for d in outbox_refund] == ["ticket_opened"] * 2 + ["refund_processed"] * 2 + ["ticket_closed"] * 2


def test_a_caught_up_step_is_never_dated_before_the_tickets_latest_event(make, shop):
    _, account, _ = shop
    ticket = make.ticket(make.sale(account, at=MONDAY - 3 * D), ticket_type="refund", now=MONDAY)
    # Due at MONDAY + 24 h; the worker is down and the customer writes at + 30 h.
    services.add_comment(services.Actor.customer(ticket), ticket, "Any news on my refund?", now=MONDAY + 30 * H)
    assert sweep.run(MONDAY + 31 * H) == {"processing": 1}
    assert step_events(ticket) == [("processing", MONDAY + 24 * H, MONDAY + 30 * H)]
    times = [e.at for e in db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                               .order_by(TicketEvent.id))]
    assert times == sorted(times)


def test_running_twice_does_everything_once(make, shop):
    _, account, _ = shop
    for i in range(3):
        make.ticket(make.sale(account, at=MONDAY - 3 * D), ticket_type="refund", now=MONDAY)
    first = sweep.run(MONDAY + 24 * H)
    second = sweep.run(MONDAY + 24 * H)
    assert first == {"processing": 3} and second == {}
    assert len(refunds()) == 3


def _run_in_threads(app, n: int, now: datetime) -> list[dict]:
    return run_at_once(app, n, lambda: sweep.run(now, batch=7))


def test_two_workers_at_once_do_each_thing_exactly_once(app, make, shop):
    """Two sweeps in two threads with their own sessions (SQLite file, and PostgreSQL with
    PORTAL_TEST_PG=1): every refund, event and mail exists exactly once."""
    _, account, _ = shop
    refund_tickets = [make.ticket(make.sale(account, at=MONDAY - 3 * D), ticket_type="refund", now=MONDAY)
                      for _ in range(12)]
    tech_tickets = [make.ticket(make.sale(account, at=MONDAY - 3 * D), now=MONDAY) for _ in range(12)]
    db.session.commit()
    later = MONDAY + 30 * D
    results = _run_in_threads(app, 2, later)
    db.session.expire_all()
    total = Counter()
    for result in results:
        total.update(result)
    assert dict(total) == {"processing": 12, "finalized": 12, "warning": 24, "auto_closed": 12}
    assert len(refunds()) == 12 and len(set(refunds())) == 12
    steps = Counter(kind for t in refund_tickets + tech_tickets for kind, _, _ in step_events(t))
    assert steps == {"processing": 12, "finalized": 12, "warning": 24, "auto_closed": 12}
    dedupes = Counter(m.payload["dedupe"] for m in db.session.scalars(select(OutboxMessage)))
    assert dedupes and max(dedupes.values()) == 1
    assert all(fresh(t).status == "closed" for t in refund_tickets + tech_tickets)


def test_clickbank_accounts_keep_clickbanks_expiration_and_are_never_acted_on(make, shop):
    owner, _, _ = shop
    clickbank = make.account(owner, "cbvendor", source="clickbank")
    ticket = make.ticket(make.sale(clickbank, at=MONDAY - 3 * D), ticket_type="refund", now=MONDAY)
    assert ticket.next_action_at is None  # the portal does not compute ClickBank's timers
    ticket.next_action, ticket.next_action_at = "process", MONDAY + 24 * H  # as ClickBank reported it
    db.session.commit()
    assert sweep.due_ticket_ids(MONDAY + 30 * D) == []
    assert sweep.run(MONDAY + 30 * D) == {}
    t = fresh(ticket)
    assert t.refund_state == "requested" and t.next_action_at == MONDAY + 24 * H
    assert refunds() == []


def test_unlinked_accounts_are_left_alone(make, shop):
    owner, _, _ = shop
    gone = make.account(owner, "gone")
    ticket = make.ticket(make.sale(gone, at=MONDAY - 3 * D), ticket_type="refund", now=MONDAY)
    gone.status = "removed"
    db.session.commit()
    assert sweep.run(MONDAY + 3 * D) == {}
    assert fresh(ticket).refund_state == "requested"


def test_one_broken_ticket_does_not_stop_the_others(make, shop, monkeypatch):
    _, account, _ = shop
    broken = make.ticket(make.sale(account, at=MONDAY - 3 * D), ticket_type="refund", now=MONDAY)
    fine = make.ticket(make.sale(account, at=MONDAY - 3 * D), ticket_type="refund", now=MONDAY)
    real = sweep.run_due

    def flaky(ticket, *, now):
        if ticket.id == broken.id:
            raise RuntimeError("boom")
        return real(ticket, now=now)

    monkeypatch.setattr(sweep, "run_due", flaky)
    assert sweep.run(MONDAY + 24 * H) == {"processing": 1}
    assert fresh(fine).refund_state == "processing" and fresh(broken).refund_state == "requested"
    monkeypatch.setattr(sweep, "run_due", real)
    assert sweep.run(MONDAY + 24 * H) == {"processing": 1}


def test_the_worker_task_runs_the_sweep_under_a_lease(app, make, shop, monkeypatch):
    from portal import leases, tasks

    _, account, _ = shop
    make.ticket(make.sale(account, at=MONDAY - 3 * D), ticket_type="refund", now=MONDAY)
    monkeypatch.setattr(tasks, "utcnow", lambda: MONDAY + 24 * H)
    assert leases.acquire("timers", "another-host:1", MONDAY + 24 * H, timedelta(minutes=5))
    tasks.sweep_timers.call_local()
    assert refunds() == []  # the other worker holds the lease
    leases.release("timers", "another-host:1")
    tasks.sweep_timers.call_local()
    assert len(refunds()) == 1
    assert db.session.scalar(select(func.count()).select_from(leases.Lease)) == 1


def test_a_long_catch_up_renews_the_workers_lease(make, shop, monkeypatch):
    from portal import leases, tasks

    _, account, _ = shop
    for _ in range(5):
        make.ticket(make.sale(account, at=MONDAY - 3 * D), ticket_type="refund", now=MONDAY)
    clock = iter([MONDAY + 24 * H + timedelta(minutes=m) for m in range(0, 100)])
    monkeypatch.setattr(tasks, "utcnow", lambda: next(clock))
    renewals = []
    real_acquire = leases.acquire

    def watch(name, holder, now, ttl):
        renewals.append(now)
        return real_acquire(name, holder, now, ttl)

    monkeypatch.setattr(leases, "acquire", watch)
    real_run = sweep.run
    monkeypatch.setattr(sweep, "run", lambda now, **kw: real_run(now, batch=2, **kw))
    tasks.sweep_timers.call_local()
    assert len(refunds()) == 5
    assert len(renewals) == 1 + 2  # the lease itself, then before the 2nd and 3rd batch
