"""Account pages and settings: time zone (re-counts the daily totals), customer-service email,
colour, refund windows, settle hours, switches; the INS secret key (encrypted, masked, shown only
after the re-check); the account password (never shown)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from portal.audit import AuditEvent
from portal.crypto import decrypt, encrypt
from portal.extensions import db
from portal.transactions.models import DailySales
from tests.conftest import HX
from tests.factories import PIN

GOOD = {
    "timezone": "America/New_York",
    "cs_email": "Help@Shop.example",
    "colour": "#FF8800",
    "customer_refund_days": "45",
    "vendor_refund_days": "80",
    "settle_hours": "48",
    "include_test_transactions": "y",
}


@pytest.fixture
def account(make, owner):
    return make.account(owner, "shop")


def test_overview_shows_the_account_and_links_only_existing_pages(owner_client, account, make, now):
    make.sale(account, at=now, amount_cents=2500)
    body = owner_client.get("/accounts/shop/").get_data(as_text=True)
    assert 'data-testid="account-nickname">shop<' in body
    assert "$25.00" in body  # last 30 days from the daily totals
    assert "/accounts/shop/settings" in body
    # The Tickets/Transactions helpers add these routes; until then the links are not shown.
    from flask import current_app

    for endpoint, path in (
        ("tickets.account_queue", "/accounts/shop/tickets"),
        ("transactions.account_search", "/accounts/shop/transactions"),
    ):
        assert (path in body) == (endpoint in current_app.view_functions)


def test_settings_are_saved_and_audited(owner_client, account):
    response = owner_client.post("/accounts/shop/settings", data=GOOD)
    assert response.status_code == 303
    db.session.refresh(account)
    assert account.cs_email == "help@shop.example" and account.colour == "#ff8800"
    assert (account.customer_refund_days, account.vendor_refund_days, account.settle_hours) == (
        45,
        80,
        48,
    )
    assert account.include_test_transactions is True and account.capture_abandoned_orders is False
    audit = db.session.scalar(
        select(AuditEvent).where(AuditEvent.event == "account.settings_changed")
    )
    assert audit.details["changes"]["customer_refund_days"] == [60, 45]
    assert "timezone" not in audit.details["changes"]
    assert "Saved:" in owner_client.get("/accounts/shop/settings").get_data(as_text=True)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("customer_refund_days", "0", "Between 1 and 365 days."),
        ("vendor_refund_days", "99999999999999999999", "Between 1 and 365 days."),
        ("vendor_refund_days", "ninety", "Not a valid integer value."),
        ("settle_hours", "-1", "Between 0 and 168 hours."),
        ("colour", "red", "Pick a colour."),
        ("cs_email", "nope", "valid email address"),
        ("timezone", "Atlantis/Capital", "Not a valid choice"),
    ],
)
def test_bad_settings_are_refused_with_the_input_kept(owner_client, account, field, value, message):
    response = owner_client.post("/accounts/shop/settings", data={**GOOD, field: value})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert message in body
    db.session.refresh(account)
    assert account.customer_refund_days == 60 and account.cs_email is None


def test_a_new_time_zone_recounts_the_daily_totals_in_it(owner_client, account, make):
    # 03:00 UTC on Nov 18 is still Nov 17 in New York, already Nov 18 in Berlin.
    make.sale(account, at=datetime(2026, 11, 18, 3, 0, tzinfo=UTC), amount_cents=1000)
    make.sale(account, at=datetime(2026, 11, 18, 15, 0, tzinfo=UTC), amount_cents=500)
    days = lambda: {
        (r.day, r.sales_count, r.sales_cents) for r in db.session.scalars(select(DailySales))
    }
    assert days() == {(date(2026, 11, 17), 1, 1000), (date(2026, 11, 18), 1, 500)}
    owner_client.post("/accounts/shop/settings", data={**GOOD, "timezone": "Europe/Berlin"})
    assert days() == {(date(2026, 11, 18), 2, 1500)}


def test_the_ins_secret_is_stored_encrypted_and_shown_only_after_the_pin(owner_client, account):
    response = owner_client.post(
        "/accounts/shop/ins-secret", data={"secret": "abcd1234efgh", "stepup": "0000"}
    )
    assert response.status_code == 200 and "That PIN is not right." in response.get_data(
        as_text=True
    )
    db.session.refresh(account)
    assert account.ins_secret_enc is None

    response = owner_client.post(
        "/accounts/shop/ins-secret", data={"secret": "abcd1234efgh", "stepup": PIN}
    )
    assert response.status_code == 200
    db.session.refresh(account)
    assert (
        "ABCD1234EFGH" not in account.ins_secret_enc
        and decrypt(account.ins_secret_enc) == "ABCD1234EFGH"
    )
    assert "ABCD1234EFGH" in response.get_data(as_text=True)  # shown once right after saving
    # The answer comes from /ins-secret; the address bar goes back to the settings page, and a
    # reload of the form's own URL lands there too.
    assert response.headers["HX-Push-Url"] == "/accounts/shop/settings"
    reload = owner_client.get("/accounts/shop/ins-secret")
    assert reload.status_code == 303 and reload.headers["Location"].endswith("/accounts/shop/settings")

    page = owner_client.get("/accounts/shop/settings").get_data(as_text=True)
    assert "ABCD1234EFGH" not in page and "A key is stored" in page


def test_revealing_the_secret_needs_a_fresh_pin_and_is_audited(client, login, owner, make):
    make.account(owner, "shop", ins_secret_enc=encrypt("SECRETKEY16CHARS"))
    login(owner)
    wrong = client.post("/accounts/shop/ins-secret/reveal", data={"stepup": "9999"}, headers=HX)
    assert wrong.status_code == 200 and "SECRETKEY16CHARS" not in wrong.get_data(as_text=True)
    assert "<html" not in wrong.get_data(as_text=True)
    right = client.post("/accounts/shop/ins-secret/reveal", data={"stepup": PIN}, headers=HX)
    body = right.get_data(as_text=True)
    assert "SECRETKEY16CHARS" in body and "<html" not in body
    assert 'hx-history="false"' in body  # never kept in htmx's localStorage history
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.event == "account.ins_secret_revealed")
    )


def test_a_strong_key_can_be_generated_and_the_key_removed(owner_client, account):
    owner_client.post("/accounts/shop/ins-secret", data={"generate": "y", "stepup": PIN})
    db.session.refresh(account)
    key = decrypt(account.ins_secret_enc)
    assert len(key) == 16 and key.isalnum() and key.upper() == key
    owner_client.post("/accounts/shop/ins-secret", data={"clear": "1"})
    db.session.refresh(account)
    assert account.ins_secret_enc is None


def test_a_bad_key_is_refused(owner_client, account):
    response = owner_client.post(
        "/accounts/shop/ins-secret", data={"secret": "has spaces!", "stepup": PIN}
    )
    assert "capital letters and digits" in response.get_data(as_text=True)


def test_the_account_password_can_be_replaced_and_is_never_shown(owner_client, account):
    owner_client.post("/accounts/shop/credentials", data={"password": "new-pass-99", "stepup": PIN})
    db.session.refresh(account)
    assert decrypt(account.credentials_enc) == "new-pass-99"
    assert "new-pass-99" not in owner_client.get("/accounts/shop/settings").get_data(as_text=True)
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.event == "account.credentials_replaced")
    )


def test_account_urls_carry_the_account_not_the_session(owner_client, owner, make):
    """Two accounts open at once: each URL shows its own account whatever was opened last."""
    make.account(owner, "first")
    make.account(owner, "second")
    a = owner_client.get("/accounts/first/settings").get_data(as_text=True)
    b = owner_client.get("/accounts/second/settings").get_data(as_text=True)
    owner_client.post("/accounts/first/settings", data={**GOOD, "cs_email": "one@first.example"})
    with owner_client.session_transaction() as session:
        assert not any("first" in str(v) or "second" in str(v) for v in session.values())
    assert 'data-account="first"' in a and 'data-account="second"' in b
    again = owner_client.get("/accounts/second/settings").get_data(as_text=True)
    assert "one@first.example" not in again and 'data-account="second"' in again


@pytest.mark.parametrize(
    "values",
    [
        {"colour": "red; background:url(//evil)"},
        {"timezone": "Nowhere/Land"},
        {"customer_refund_days": 0},
        {"settle_hours": 10_000},
    ],
)
def test_the_service_refuses_what_the_form_would(account, owner, values):
    """Defence in depth: other callers (API, CLI) get the same limits as the form."""
    from portal.accounts import services
    from portal.types import utcnow

    with pytest.raises(services.AccountError):
        services.update_settings(owner, account, values, now=utcnow())
    db.session.refresh(account)
    assert account.colour == "#0d6efd" and account.customer_refund_days == 60
