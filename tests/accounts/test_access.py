"""Who may use the Accounts and Dashboard tabs: the owner only. Clerks (even with every
permission) get 403, other Master Accounts' owners 404, anonymous visitors the login page."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from portal.authz.permissions import Perm
from portal.extensions import db
from tests.conftest import HX

PAGES = [
    "/dashboard/",
    "/dashboard/?period=7d",
    "/dashboard/daily?period=7d",
    "/accounts/",
    "/accounts/new",
    "/accounts/{nick}/",
    "/accounts/{nick}/settings",
    "/accounts/{nick}/remove",
]
POSTS = [
    "/accounts/new",
    "/accounts/{nick}/settings",
    "/accounts/{nick}/ins-secret",
    "/accounts/{nick}/ins-secret/reveal",
    "/accounts/{nick}/credentials",
    "/accounts/{nick}/remove",
    "/accounts/{nick}/resend",
    "/accounts/{nick}/cancel",
]


@pytest.fixture
def world(make):
    owner = make.owner()
    account = make.account(owner, "ownacct")
    every = make.clerk(owner, perms=tuple(p.value for p in Perm), accounts=[account])
    tickets_only = make.clerk(owner, perms=("orders_tickets",), accounts=[account])
    stranger = make.owner()
    make.account(stranger, "theiracct")
    return {
        "owner": owner,
        "account": account,
        "every": every,
        "tickets": tickets_only,
        "stranger": stranger,
    }


@pytest.mark.parametrize("url", PAGES)
def test_the_owner_opens_every_page(client, login, world, url):
    login(world["owner"])
    assert client.get(url.format(nick="ownacct")).status_code == 200


@pytest.mark.parametrize("who", ["every", "tickets"])
@pytest.mark.parametrize("url", PAGES)
def test_clerks_never_see_dashboard_or_accounts(client, login, world, who, url):
    login(world[who])
    response = client.get(url.format(nick="ownacct"))
    assert response.status_code == 403
    assert "ownacct@vendor.test" not in response.get_data(as_text=True)


@pytest.mark.parametrize("url", POSTS)
def test_clerks_cannot_change_accounts(client, login, world, url):
    login(world["every"])
    response = client.post(
        url.format(nick="ownacct"),
        data={"stepup": "Tr1cky!!Pass#99", "confirm_nickname": "ownacct"},
    )
    assert response.status_code == 403
    db.session.refresh(world["account"])
    assert world["account"].status == "linked"


@pytest.mark.parametrize("url", PAGES[3:] + POSTS)
def test_anonymous_visitors_are_sent_to_log_in(client, world, url):
    method = client.post if url in POSTS and url not in PAGES else client.get
    response = method(url.format(nick="ownacct"))
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    htmx = method(url.format(nick="ownacct"), headers=HX)
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/auth/login")


@pytest.mark.parametrize("url", [u for u in PAGES + POSTS if "{nick}" in u])
def test_another_master_accounts_account_is_not_found(client, login, world, url):
    """Same answer as a nickname that does not exist (no way to probe other tenants)."""
    login(world["owner"])
    foreign = (
        client.post(url.format(nick="theiracct"))
        if url in POSTS
        else client.get(url.format(nick="theiracct"))
    )
    missing = (
        client.post(url.format(nick="nosuchacct"))
        if url in POSTS
        else client.get(url.format(nick="nosuchacct"))
    )
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_data() == missing.get_data()


def test_the_dashboard_shows_only_the_owners_own_accounts(client, login, world, make):
    make.sale(world["account"], amount_cents=1234)
    stranger_account = (
        db.session.query(type(world["account"])).filter_by(nickname="theiracct").one()
    )
    make.sale(stranger_account, amount_cents=999999)
    login(world["owner"])
    body = client.get("/dashboard/?period=custom&from=2026-10-01&to=2026-11-30").get_data(
        as_text=True
    )
    assert "ownacct" in body and "theiracct" not in body and "$9,999.99" not in body


def test_the_list_counts_open_tickets_with_one_grouped_query(client, login, make, now):
    owner = make.owner()
    accounts = [make.account(owner, f"count{i}") for i in range(6)]
    for i, account in enumerate(accounts[:3]):
        for _ in range(i + 1):
            make.ticket(make.sale(account), now=now)
    closed = make.ticket(make.sale(accounts[0]), now=now)
    closed.status = "closed"
    db.session.commit()
    login(owner)

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        body = client.get("/accounts/").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    ticket_queries = [s for s in statements if "FROM tickets" in s]
    assert len(ticket_queries) == 1 and "GROUP BY" in ticket_queries[0]
    for i, expected in enumerate([1, 2, 3, 0, 0, 0]):
        row = body[body.index(f'data-account="count{i}"') :]
        assert row.index(f'data-count="{expected}"') < row.index("</tr>")
