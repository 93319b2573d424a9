"""Two clerks on one subscription: a form sent after the subscription changed (another clerk,
a rebill, a refund) is refused with the new state and keeps the comment. Plus the wording of a
bill date that has passed, and the customer's mail in the order's language."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.authz.scope import principal_for
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.tickets.services import Actor
from portal.transactions import billing, queries, subscriptions
from portal.transactions.models import Subscription, SubscriptionEvent
from tests.conftest import HX
from tests.transactions.conftest import days_ago

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def sub_sale(make, world):
    return make.sale(world.keto, at=days_ago(world, 20), recurring=True, email="sub@example.com")


def fresh(sale) -> Subscription:
    sub = queries.subscription_for(sale)
    db.session.refresh(sub)
    return sub


def version_on_page(html: str) -> str:
    return re.search(r'name="expected_version" value="(\d+)"', html).group(1)


def day(world, days: int, tz=NY) -> str:
    return (world.now + timedelta(days=days)).astimezone(tz).date().isoformat()


def test_every_subscription_form_carries_the_version(client, login, world, sub_sale):
    login(world.owner)
    html = client.get(f"/transactions/{sub_sale.id}").get_data(as_text=True)
    assert html.count('name="expected_version" value="1"') == 3  # date, pause, cancel


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_a_stale_date_change_is_refused_with_the_new_state_and_keeps_the_comment(
    client, login, world, sub_sale, headers
):
    login(world.search_clerk)
    seen = version_on_page(client.get(f"/transactions/{sub_sale.id}").get_data(as_text=True))
    # Meanwhile a colleague moves the date.
    first = client.post(
        f"/transactions/{sub_sale.id}/subscription/date",
        data={"next_bill_on": day(world, 5), "comment": "Colleague moved it first.",
              "expected_version": seen},
    )
    assert first.status_code == 303
    r = client.post(
        f"/transactions/{sub_sale.id}/subscription/date",
        data={"next_bill_on": day(world, 9), "comment": "My own reason to move it.",
              "expected_version": seen},
        headers=headers,
    )
    body = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "This subscription changed while you were writing" in body
    assert f"next bill on {day(world, 5)}" in body  # the new state
    assert "My own reason to move it." in body  # the comment is kept
    assert version_on_page(body) == "2"  # sending again applies to the new state
    assert ("<html" in body) == (headers == {})
    sub = fresh(sub_sale)
    assert sub.next_bill_at.astimezone(NY).date().isoformat() == day(world, 5)
    assert [e.comment for e in db.session.scalars(select(SubscriptionEvent))] == [
        "Colleague moved it first."
    ]
    again = client.post(
        f"/transactions/{sub_sale.id}/subscription/date",
        data={"next_bill_on": day(world, 9), "comment": "My own reason to move it.",
              "expected_version": "2"},
    )
    assert again.status_code == 303
    assert fresh(sub_sale).next_bill_at.astimezone(NY).date().isoformat() == day(world, 9)


@pytest.mark.parametrize("what, data", [
    ("pause", {"restart_on": 40}),
    ("cancel", {}),
])
def test_pause_and_cancel_check_the_version_too(client, login, world, sub_sale, what, data):
    login(world.refunds_clerk)
    form = {k: day(world, v) for k, v in data.items()}
    sub = fresh(sub_sale)
    sub.next_bill_at = world.now + timedelta(days=3)  # someone else changed it: version 2
    db.session.commit()
    r = client.post(
        f"/transactions/{sub_sale.id}/subscription/{what}",
        data={**form, "comment": "Customer called about it.", "expected_version": "1"},
        headers=HX,
    )
    assert r.status_code == 409 and "This subscription changed" in r.get_data(as_text=True)
    assert fresh(sub_sale).status == "active"


def test_a_stale_resume_is_refused(client, login, world, sub_sale):
    login(world.search_clerk)
    r = client.post(
        f"/transactions/{sub_sale.id}/subscription/pause",
        data={"restart_on": day(world, 40), "comment": "Customer travels.", "expected_version": "1"},
    )
    assert r.status_code == 303 and fresh(sub_sale).version == 2
    r = client.post(
        f"/transactions/{sub_sale.id}/subscription/resume",
        data={"comment": "Customer is back early.", "expected_version": "1"},
        headers=HX,
    )
    assert r.status_code == 409 and "it is now paused" in r.get_data(as_text=True)
    assert fresh(sub_sale).status == "paused"


def test_a_rebill_between_reading_and_sending_makes_the_form_stale(
    client, login, make, world
):
    sale = make.sale(world.keto, at=days_ago(world, 31), recurring=True)  # due a day ago
    login(world.search_clerk)
    html = client.get(f"/transactions/{sale.id}").get_data(as_text=True)
    seen = version_on_page(html)
    assert "due now; the sandbox biller charges it within a minute" in html
    assert "in due now" not in html
    assert billing.bill_due(world.now) == {"billed": 1}
    r = client.post(
        f"/transactions/{sale.id}/subscription/date",
        data={"next_bill_on": day(world, 3), "comment": "Customer asked to move it.",
              "expected_version": seen},
        headers=HX,
    )
    body = r.get_data(as_text=True)
    assert r.status_code == 409 and "2 payments made" in body
    assert "Customer asked to move it." in body


def test_a_form_without_a_version_still_works(client, login, world, sub_sale):
    """Old pages (or scripts) that send no version are not refused for it."""
    login(world.search_clerk)
    r = client.post(
        f"/transactions/{sub_sale.id}/subscription/date",
        data={"next_bill_on": day(world, 6), "comment": "Customer asked to move it."},
    )
    assert r.status_code == 303


def test_a_garbage_version_is_a_conflict_not_an_error(client, login, world, sub_sale):
    login(world.search_clerk)
    r = client.post(
        f"/transactions/{sub_sale.id}/subscription/date",
        data={"next_bill_on": day(world, 6), "comment": "Customer asked to move it.",
              "expected_version": "9" * 40},
    )
    assert r.status_code == 409
    assert fresh(sub_sale).version == 1


def test_a_concurrent_writer_is_caught_at_flush(make, world, sub_sale):
    """Two sessions read version 1; the second to write gets Conflict, not a silent overwrite."""
    sub = queries.subscription_for(sub_sale)
    db.session.execute(
        Subscription.__table__.update().where(Subscription.id == sub.id).values(version=2)
    )  # another process committed a change after we loaded the row
    actor = Actor.for_user(world.owner, principal_for(world.owner))
    with pytest.raises(subscriptions.Conflict):
        subscriptions.change_date(
            actor, sub, queries.access_of(sub_sale),
            (world.now + timedelta(days=8)).astimezone(NY).date(), "Move it a week.",
            now=world.now,
        )


def test_a_clickbank_subscription_past_its_date_waits_for_clickbank(client, login, make, world):
    cb = make.account(world.owner, "cbacct", source="clickbank")
    sale = make.sale(cb, at=days_ago(world, 31), recurring=True)
    login(world.owner)
    html = client.get(f"/transactions/{sale.id}").get_data(as_text=True)
    assert "due; ClickBank reports the payment once it has charged it" in html
    assert "in due now" not in html


# --- the customer's language ---------------------------------------------------------------------


def mail(kind) -> OutboxMessage:
    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == kind))


@pytest.mark.parametrize("locale, words", [
    ("de", ["Ihr Abonnement für Test Product wurde auf den", "verschoben (bisher:",
            "Details zum Abonnement", "Nächste Zahlung", "47,00\u00a0$ alle 30 Tage",
            "Nachricht von mindshift"]),
    ("es", ["El próximo pago de su suscripción a Test Product se ha movido al",
            "Detalles de la suscripción", "47,00\u00a0$ cada 30 días"]),
    ("en", ["The next payment for your subscription to Test Product moved to",
            "Subscription details", "$47.00 every 30 days"]),
])
def test_subscription_mail_speaks_the_order_s_language(make, world, locale, words):
    sale = make.sale(world.mind, at=days_ago(world, 20), recurring=True, locale=locale)
    sub = queries.subscription_for(sale)
    actor = Actor.for_user(world.owner, principal_for(world.owner))
    subscriptions.change_date(
        actor, sub, queries.access_of(sale), (world.now + timedelta(days=4)).astimezone(BERLIN).date(),
        "Customer asked to move it.", now=world.now,
    )
    message = mail("subscription_date_changed")
    for text in words:
        assert text in message.payload["text"], text
        assert text in message.payload["html"], text
    expected = {"de": "Die nächste Zahlung für Test Product wurde verschoben",
                "es": "El próximo pago de Test Product ha cambiado de fecha",
                "en": "The next payment for Test Product moved"}[locale]
    assert message.subject == expected
    assert f'lang="{locale}"' in message.payload["html"]


@pytest.mark.parametrize("what, subject, notice", [
    ("cancel", "Ihr Abonnement für Test Product wurde gekündigt", "Es wird nichts mehr abgebucht"),
    ("pause", "Ihr Abonnement für Test Product ist pausiert", "Die Abrechnung beginnt wieder am"),
])
def test_german_cancel_and_pause_mails(make, world, what, subject, notice):
    sale = make.sale(world.keto, at=days_ago(world, 20), recurring=True, locale="de")
    sub = queries.subscription_for(sale)
    actor = Actor.for_user(world.owner, principal_for(world.owner))
    if what == "cancel":
        subscriptions.cancel(actor, sub, queries.access_of(sale), "Kunde will kündigen.", now=world.now)
    else:
        restart = (sub.next_bill_at + timedelta(days=5)).astimezone(NY).date()
        subscriptions.pause(actor, sub, queries.access_of(sale), restart, "Kunde verreist.", now=world.now)
    message = mail("subscription_cancelled" if what == "cancel" else "subscription_paused")
    assert message.subject == subject and notice in message.payload["text"]
    assert "Your subscription" not in message.payload["text"]


def test_a_form_sent_back_for_its_errors_keeps_the_version_the_clerk_saw(
    client, login, world, sub_sale
):
    """A too-short comment re-renders the form; the subscription changed meanwhile, so the
    corrected form is still told so instead of overwriting."""
    login(world.search_clerk)
    sub = fresh(sub_sale)
    sub.next_bill_at = world.now + timedelta(days=3)  # a colleague: version 2
    db.session.commit()
    r = client.post(
        f"/transactions/{sub_sale.id}/subscription/date",
        data={"next_bill_on": day(world, 8), "comment": "ok", "expected_version": "1"},
        headers=HX,
    )
    assert r.status_code == 200 and version_on_page(r.get_data(as_text=True)) == "1"
    r = client.post(
        f"/transactions/{sub_sale.id}/subscription/date",
        data={"next_bill_on": day(world, 8), "comment": "Customer asked to move it.",
              "expected_version": "1"},
        headers=HX,
    )
    assert r.status_code == 409
