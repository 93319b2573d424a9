"""The Accounts list: every column, the search box (htmx rows only), pending and removed rows."""

from __future__ import annotations

from datetime import timedelta

from bs4 import BeautifulSoup

from portal.accounts import services
from portal.auth.models import OneTimeToken
from portal.extensions import db
from portal.types import utcnow
from tests.conftest import HX


def _rows(html: str) -> dict[str, BeautifulSoup]:
    soup = BeautifulSoup(html, "html.parser")
    return {tr["data-account"]: tr for tr in soup.select("tr[data-account]")}


def test_the_list_shows_every_column(owner_client, owner, make):
    make.account(
        owner,
        "alpha",
        timezone_name="Europe/Berlin",
        cs_email="help@alpha.example",
        colour="#123456",
    )
    rows = _rows(owner_client.get("/accounts/").get_data(as_text=True))
    text = " ".join(rows["alpha"].get_text(" ").split())
    for expected in (
        "alpha",
        "Sandbox",
        "Linked",
        "Berlin",
        "alpha@vendor.test",
        "help@alpha.example",
        "live (sandbox)",
    ):
        assert expected in text
    assert "#123456" in rows["alpha"].select_one(".account-swatch")["style"]
    assert rows["alpha"].select_one('[data-col="open-tickets"]')["data-count"] == "0"


def test_search_filters_as_you_type_and_htmx_gets_only_the_rows(owner_client, owner, make):
    make.account(owner, "ketoshop")
    make.account(owner, "mindful", cs_email="care@keto-help.example")
    make.account(owner, "fitness")
    fragment = owner_client.get("/accounts/?q=keto", headers=HX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body
    assert set(_rows(body)) == {"ketoshop", "mindful"}  # nickname or either email
    nothing = owner_client.get("/accounts/?q=zzz", headers=HX).get_data(as_text=True)
    assert "No account matches “zzz”." in nothing
    assert (
        set(_rows(owner_client.get("/accounts/?q=%25").get_data(as_text=True))) == set()
    )  # % is literal


def test_pending_rows_offer_resend_and_cancel_and_say_when_the_link_expired(owner_client, owner):
    services.start_link(
        owner, nickname="waiting", account_email="w@vendor.test", password="secret1", now=utcnow()
    )
    row = _rows(owner_client.get("/accounts/").get_data(as_text=True))["waiting"]
    assert "Pending confirmation" in row.get_text() and "link expires in" in row.get_text()
    assert row.select_one('form[action="/accounts/waiting/resend"]') and row.select_one(
        'form[action="/accounts/waiting/cancel"]'
    )
    db.session.execute(
        OneTimeToken.__table__.update().values(expires_at=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()
    row = _rows(owner_client.get("/accounts/").get_data(as_text=True))["waiting"]
    assert "the link expired" in row.get_text()


def test_removed_accounts_are_listed_apart_with_link_again(owner_client, owner, make):
    account = make.account(owner, "oldshop")
    services.remove(owner, account, now=utcnow())
    soup = BeautifulSoup(owner_client.get("/accounts/").get_data(as_text=True), "html.parser")
    assert soup.select_one('[data-testid="accounts-table"] tr[data-account="oldshop"]') is None
    removed = soup.select_one('[data-testid="removed-table"] tr[data-account="oldshop"]')
    assert removed.select_one('a[href="/accounts/new?nickname=oldshop"]')
    form = owner_client.get("/accounts/new?nickname=oldshop").get_data(as_text=True)
    assert 'value="oldshop"' in form and 'value="oldshop@vendor.test"' in form
