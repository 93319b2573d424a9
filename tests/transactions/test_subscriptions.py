"""Subscriptions from the transaction page: cancel, pause, resume, change the next bill date —
the rules (REFERENCE.md §8), the events and the customer's mail, and who may do what."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.authz.scope import principal_for
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.tickets.lifecycle import Refused
from portal.tickets.services import Actor, NotAllowed
from portal.transactions import queries, subscriptions
from portal.transactions import subscription_rules as rules
from portal.transactions.models import Subscription, SubscriptionEvent
from tests.conftest import HX
from tests.transactions.conftest import days_ago

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 18, 17, 0, tzinfo=timezone.utc)  # Wednesday, 12:00 in New York
TODAY = date(2026, 11, 18)


# --- rules (pure) --------------------------------------------------------------------------------


def test_pause_restart_is_after_the_next_bill_and_at_most_60_days_ahead():
    next_bill = NOW + timedelta(days=10)
    rules.check_pause("active", next_bill, TODAY + timedelta(days=60), NOW, NY)
    rules.check_pause("active", next_bill, TODAY + timedelta(days=11), NOW, NY)
    with pytest.raises(Refused) as too_long:
        rules.check_pause("active", next_bill, TODAY + timedelta(days=61), NOW, NY)
    assert too_long.value.code == "pause_too_long"
    with pytest.raises(Refused) as too_soon:
        rules.check_pause("active", next_bill, TODAY + timedelta(days=10), NOW, NY)
    assert too_soon.value.code == "restart_before_next_bill"
    with pytest.raises(Refused) as past:
        rules.check_pause("active", None, TODAY, NOW, NY)
    assert past.value.code == "date_not_in_future"
    for status in ("paused", "cancelled", "completed"):
        with pytest.raises(Refused):
            rules.check_pause(status, next_bill, TODAY + timedelta(days=20), NOW, NY)


def test_the_new_bill_date_must_be_in_the_future():
    rules.check_change_date("active", TODAY + timedelta(days=1), NOW, NY)
    for day in (TODAY, TODAY - timedelta(days=3)):
        with pytest.raises(Refused) as exc:
            rules.check_change_date("active", day, NOW, NY)
        assert exc.value.code == "date_not_in_future"
    with pytest.raises(Refused) as far:
        rules.check_change_date("active", TODAY + timedelta(days=400), NOW, NY)
    assert far.value.code == "date_too_far"
    with pytest.raises(Refused):
        rules.check_change_date("cancelled", TODAY + timedelta(days=3), NOW, NY)


def test_today_is_the_account_time_zone_s_today():
    late = datetime(2026, 11, 19, 3, 0, tzinfo=timezone.utc)  # still the 18th in New York
    rules.check_change_date("active", date(2026, 11, 19), late, NY)
    with pytest.raises(Refused):
        rules.check_change_date("active", date(2026, 11, 19), late, ZoneInfo("Europe/Berlin"))


def test_cancel_and_resume_need_the_right_status():
    rules.check_cancel("active")
    rules.check_cancel("paused")
    with pytest.raises(Refused):
        rules.check_cancel("cancelled")
    rules.check_resume("paused", TODAY + timedelta(days=1), NOW, NY)
    with pytest.raises(Refused):
        rules.check_resume("active", TODAY + timedelta(days=1), NOW, NY)


def test_a_pause_ends_by_itself_on_its_restart_date():
    assert rules.effective_status("paused", NOW + timedelta(hours=1), NOW) == "paused"
    assert rules.effective_status("paused", NOW, NOW) == "active"
    assert rules.effective_status("cancelled", None, NOW) == "cancelled"


def test_bills_keep_their_local_clock_time_across_daylight_saving():
    reference = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)  # 10:00 EST
    summer = rules.bill_time_on(date(2027, 6, 1), reference, NY)
    assert summer.astimezone(NY).hour == 10 and summer.hour == 14  # 10:00 EDT


def test_resuming_early_suggests_the_skipped_date_or_tomorrow():
    assert rules.suggested_resume_day(NOW + timedelta(days=5), NOW, NY) == TODAY + timedelta(days=5)
    assert rules.suggested_resume_day(NOW - timedelta(days=5), NOW, NY) == TODAY + timedelta(days=1)
    assert rules.suggested_resume_day(None, NOW, NY) == TODAY + timedelta(days=1)


# --- services ------------------------------------------------------------------------------------


@pytest.fixture
def sub_sale(make, world):
    return make.sale(
        world.keto, at=days_ago(world, 20), recurring=True, email="subscriber@example.com"
    )


def actor(user):
    return Actor.for_user(user, principal_for(user))


def access(sale):
    return queries.access_of(sale)


def mails(kind):
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)).all()


def test_pause_then_resume_records_events_and_tells_the_customer(make, world, sub_sale):
    sub = queries.subscription_for(sub_sale)
    skipped = sub.next_bill_at
    restart = (skipped + timedelta(days=5)).astimezone(NY).date()
    subscriptions.pause(
        actor(world.search_clerk),
        sub,
        access(sub_sale),
        restart,
        "Customer travels for a month.",
        now=world.now,
    )
    assert sub.status == "paused" and sub.resume_at.astimezone(NY).date() == restart
    assert sub.next_bill_at == sub.resume_at
    assert sub.resume_at.astimezone(NY).time() == skipped.astimezone(NY).time()
    event = db.session.scalar(select(SubscriptionEvent))
    assert (event.kind, event.actor_user_id, event.comment) == (
        "paused",
        world.search_clerk.id,
        "Customer travels for a month.",
    )
    assert event.to_value == restart.isoformat()
    [mail] = mails("subscription_paused")
    assert (
        mail.recipient == "subscriber@example.com"
        and f"{restart:%b} {restart.day}, {restart.year}" in mail.payload["text"]  # Dec 7, 2026
    )

    subscriptions.resume(
        actor(world.search_clerk), sub, access(sub_sale), "Customer is back early.", now=world.now
    )
    assert sub.status == "active" and sub.resume_at is None
    assert sub.next_bill_at == skipped  # the skipped date is still ahead: billing picks it up
    assert [e.kind for e in subscriptions.history(sub)] == ["resumed", "paused"]
    assert len(mails("subscription_resumed")) == 1


def test_change_the_next_bill_date(make, world, sub_sale):
    sub = queries.subscription_for(sub_sale)
    new_day = (world.now + timedelta(days=3)).astimezone(NY).date()
    subscriptions.change_date(
        actor(world.tickets_clerk),
        sub,
        access(sub_sale),
        new_day,
        "Customer asked to bill after payday.",
        now=world.now,
    )
    assert sub.next_bill_at.astimezone(NY).date() == new_day
    [event] = subscriptions.history(sub)
    assert event.kind == "date_changed" and event.to_value == new_day.isoformat()
    assert len(mails("subscription_date_changed")) == 1
    with pytest.raises(Refused) as same:
        subscriptions.change_date(
            actor(world.tickets_clerk),
            sub,
            access(sub_sale),
            new_day,
            "Same day again.",
            now=world.now,
        )
    assert same.value.code == "same_date"


def test_cancel_needs_refund_authority_and_stops_billing_without_a_refund(make, world, sub_sale):
    sub = queries.subscription_for(sub_sale)
    with pytest.raises(NotAllowed):
        subscriptions.cancel(
            actor(world.search_clerk), sub, access(sub_sale), "Customer wants out.", now=world.now
        )
    subscriptions.cancel(
        actor(world.refunds_clerk), sub, access(sub_sale), "Customer wants out.", now=world.now
    )
    assert sub.status == "cancelled" and sub.next_bill_at is None and sub.cancelled_at == world.now
    from portal.transactions.models import Transaction

    assert db.session.scalar(select(Transaction).where(Transaction.txn_type == "RFND")) is None
    assert len(mails("subscription_cancelled")) == 1
    with pytest.raises(Refused):
        subscriptions.cancel(
            actor(world.refunds_clerk), sub, access(sub_sale), "Cancel it twice.", now=world.now
        )


def test_every_change_needs_a_comment(make, world, sub_sale):
    sub = queries.subscription_for(sub_sale)
    with pytest.raises(Refused) as exc:
        subscriptions.change_date(
            actor(world.owner),
            sub,
            access(sub_sale),
            (world.now + timedelta(days=3)).date(),
            "  ok  ",
            now=world.now,
        )
    assert exc.value.code == "comment_too_short"
    assert db.session.scalar(select(SubscriptionEvent)) is None


def test_clickbank_accounts_are_changed_at_clickbank(make, world):
    cb = make.account(world.owner, "cbacct", source="clickbank")
    sale = make.sale(cb, at=days_ago(world, 5), recurring=True)
    sub = queries.subscription_for(sale)
    with pytest.raises(Refused) as exc:
        subscriptions.cancel(
            actor(world.owner), sub, access(sale), "Customer wants out.", now=world.now
        )
    assert exc.value.code == "clickbank_account"


# --- views ---------------------------------------------------------------------------------------


def test_pause_form_errors_come_back_in_the_subscription_card(client, login, world, sub_sale):
    login(world.search_clerk)
    too_far = (world.now + timedelta(days=90)).date().isoformat()
    r = client.post(
        f"/transactions/{sub_sale.id}/subscription/pause",
        data={"restart_on": too_far, "comment": "Customer travels."},
        headers=HX,
    )
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="subscription"' in body and "at most 60 days" in body
    assert "<html" not in body and "Customer travels." in body
    assert queries.subscription_for(sub_sale).status == "active"


def test_change_date_over_http(client, login, world, sub_sale):
    login(world.search_clerk)
    day = (world.now + timedelta(days=4)).astimezone(NY).date()
    r = client.post(
        f"/transactions/{sub_sale.id}/subscription/date",
        data={"next_bill_on": day.isoformat(), "comment": "Customer asked to move it."},
    )
    assert (
        r.status_code == 303
        and r.headers["Location"] == f"/transactions/{sub_sale.id}#subscription"
    )
    page = client.get(f"/transactions/{sub_sale.id}").get_data(as_text=True)
    assert "Next bill date changed" in page and day.strftime("%B %d, %Y") in page
    assert "Customer asked to move it." in page  # the history on the page


@pytest.mark.parametrize(
    "who, status",
    [("search_clerk", 403), ("users_clerk", 403), ("refunds_clerk", 303), ("owner", 303)],
)
def test_only_refund_authority_may_cancel(client, login, world, sub_sale, who, status):
    login(getattr(world, who))
    r = client.post(
        f"/transactions/{sub_sale.id}/subscription/cancel", data={"comment": "Customer wants out."}
    )
    assert r.status_code == status
    expected = "cancelled" if status == 303 else "active"
    assert db.session.get(Subscription, queries.subscription_for(sub_sale).id).status == expected


def test_the_cancel_form_is_not_offered_without_refund_authority(client, login, world, sub_sale):
    login(world.search_clerk)
    page = client.get(f"/transactions/{sub_sale.id}").get_data(as_text=True)
    assert "subscription/pause" in page and "subscription/cancel" not in page
    assert "Cancelling needs Refund authority" in page


def test_a_sale_without_subscription_has_no_subscription_actions(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(world.owner)
    assert (
        client.post(
            f"/transactions/{sale.id}/subscription/cancel", data={"comment": "Customer wants out."}
        ).status_code
        == 404
    )


def test_with_htmx_the_card_comes_back_with_the_new_state(client, login, world, sub_sale):
    login(world.search_clerk)
    sub = queries.subscription_for(sub_sale)
    restart = (sub.next_bill_at + timedelta(days=3)).astimezone(NY).date()
    r = client.post(f"/transactions/{sub_sale.id}/subscription/pause",
                    data={"restart_on": restart.isoformat(), "comment": "Customer travels."}, headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="subscription"' in body and "<html" not in body
    assert "Subscription paused; the customer was told by email." in body
    assert 'data-testid="subscription-status">Paused' in body and "Resume now" in body
