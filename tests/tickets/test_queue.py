"""The ticket queue (/tickets/ and /accounts/<nickname>/tickets): scope, each filter, search,
order, keyset pages, the count, full page vs htmx fragment, and a fixed number of queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.tickets import queries, services
from portal.tickets.models import Ticket
from portal.tickets.queries import QueueFilter
from tests.conftest import HX, HX_BOOSTED
from tests.tickets.conftest import actor_of


def numbers(html: str) -> list[int]:
    """Ticket numbers of the queue rows, in page order."""
    return [int(n) for n in re.findall(r'<tbody id="ticket-(\d+)"', html)]


def queue(client, url="/tickets/", **kw):
    response = client.get(url, **kw)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


# --- scope -----------------------------------------------------------------------------------


def test_owner_sees_every_accounts_open_tickets_and_not_the_closed_ones(
    client, login, desk, ticket_for
):
    """The queue spans all linked accounts; closed tickets stay out unless asked for."""
    a = ticket_for(desk.keto)
    b = ticket_for(desk.mind)
    closed = ticket_for(desk.keto)
    services.close(actor_of(desk.owner), closed, "Solved on the phone.", now=desk.clock)
    login(desk.owner)
    html = queue(client)
    assert set(numbers(html)) == {a.id, b.id}
    assert "ketovital" in html and "mindshift" in html
    assert re.search(r"<strong>2</strong>\s*tickets", html)


def test_clerk_sees_only_granted_accounts(client, login, desk, ticket_for):
    mine = ticket_for(desk.keto)
    ticket_for(desk.mind)
    login(desk.clerk)
    assert numbers(queue(client)) == [mine.id]


def test_another_master_accounts_tickets_never_show(client, login, make, desk, ticket_for):
    stranger = make.owner()
    theirs = make.account(stranger, "elsewhere")
    ticket_for(theirs, email="same@example.com")
    ours = ticket_for(desk.keto, email="same@example.com")
    login(desk.owner)
    assert numbers(
        queue(client, "/tickets/?q=same@example.com&status=open&status=reopened&status=closed")
    ) == [ours.id]


def test_queue_needs_the_orders_tickets_permission(client, login, make, desk):
    searcher = make.clerk(desk.owner, perms=("search_orders",), accounts=[desk.keto])
    login(searcher)
    assert client.get("/tickets/").status_code == 403


def test_queue_needs_login(client):
    response = client.get("/tickets/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


# --- removed accounts ------------------------------------------------------------------------


def count_of(html: str) -> int:
    return int(re.search(r"<strong>([\d,]+)</strong>", html).group(1).replace(",", ""))


def test_removed_accounts_leave_the_queue_and_stay_readable_under_their_vendor(
    client, login, desk, mixed
):
    """A removed account's tickets are read only and its timers stopped: the all-accounts queue
    (any status) leaves them out, with counts that agree; choosing it under Vendor, its own
    queue and a search still show them, marked removed and not workable."""
    desk.mind.status = "removed"
    db.session.commit()
    keto = {"tech", "refund", "reopened"}
    login(desk.owner)
    for query, expected in [
        ("", keto),
        ("status=open", {"tech", "refund"}),
        ("status=reopened", {"reopened"}),
        ("status=closed", set()),
        ("f=1", keto),  # any status
        ("status=open&status=closed&sort=closed", {"tech", "refund"}),
    ]:
        html = queue(client, "/tickets/?" + query)
        assert set(numbers(html)) == {mixed[k].id for k in expected}, query
        assert count_of(html) == len(expected), query
    html = queue(client)
    assert "Customer-support tickets of 1 account," in html
    assert 'data-testid="removed-accounts-hint"' in html and "(mindshift)" in html
    assert '<option value="mindshift">mindshift (removed)</option>' in html
    assert 'data-testid="removed-badge"' not in html

    chosen = queue(client, "/tickets/?vendor=mindshift&f=1")
    assert set(numbers(chosen)) == {mixed[k].id for k in ("cancel", "tech_recurring", "closed")}
    assert count_of(chosen) == 3
    assert '<option value="mindshift" selected>mindshift (removed)</option>' in chosen
    assert "“mindshift” was removed from your Master Account" in chosen
    assert chosen.count('data-testid="removed-badge"') == 3
    assert "Change customer email" not in chosen  # read only: no action on its rows
    assert 'data-countdown="' not in chosen and "Stopped" in chosen  # its timers no longer run
    fragment = queue(client, "/tickets/?vendor=mindshift", headers=HX)
    assert set(numbers(fragment)) == {mixed["cancel"].id, mixed["tech_recurring"].id}
    assert "was removed from your Master Account" in fragment
    own = queue(client, "/accounts/mindshift/tickets")
    assert set(numbers(own)) == {mixed["cancel"].id, mixed["tech_recurring"].id}

    # A search is a look-up: it finds the removed account's ticket too.
    email = mixed["cancel"].customer_email
    found = queue(client, "/tickets/", query_string={"q": email})
    assert numbers(found) == [mixed["cancel"].id] and count_of(found) == 1
    assert 'data-testid="removed-badge"' in found


def test_a_clerk_never_sees_a_removed_accounts_tickets(client, login, desk, make, ticket_for):
    mine = ticket_for(desk.keto)
    gone = make.account(desk.owner, "goneacct")
    theirs = ticket_for(gone)
    both = make.clerk(desk.owner, accounts=[desk.keto, gone])
    gone.status = "removed"
    db.session.commit()
    login(both)
    assert numbers(queue(client)) == [mine.id]
    assert numbers(queue(client, "/tickets/", query_string={"q": theirs.customer_email})) == []
    assert "goneacct" not in queue(client)
    assert client.get("/accounts/goneacct/tickets").status_code == 404


@pytest.mark.parametrize("dense", [False, True])
def test_active_scope_pages_and_counts_agree(desk, ticket_for, monkeypatch, dense):
    """With ``active_ids`` the rows of every page and the count leave the removed account out,
    on both plans (ordered index walk and filter index)."""
    monkeypatch.setattr(queries, "DENSE", 1 if dense else 10_000)
    kept = [ticket_for(desk.keto, hours=n + 1).id for n in range(4)]
    for n in range(3):
        ticket_for(desk.mind, hours=n + 1)
    visible, active = {desk.keto.id, desk.mind.id}, {desk.keto.id}
    seen, cursor = [], None
    while True:
        page = queries.search(visible, QueueFilter(), cursor=cursor, limit=3, active_ids=active)
        assert page.total == 4 and not page.total_capped
        seen += [t.id for t in page.tickets]
        if not (cursor := page.next_cursor):
            break
    assert sorted(seen) == sorted(kept)
    # Choosing the removed account, or searching, reaches it; without active_ids nothing changes.
    chosen = queries.search(visible, QueueFilter(account_id=desk.mind.id), active_ids=active)
    assert chosen.total == 3 and {t.linked_account_id for t in chosen.tickets} == {desk.mind.id}
    assert queries.search(visible, QueueFilter()).total == 7


# --- filters ---------------------------------------------------------------------------------


@pytest.fixture
def mixed(desk, ticket_for):
    """One ticket of each kind across both accounts."""
    t = {
        "tech": ticket_for(desk.keto, "tech_support"),
        "refund": ticket_for(desk.keto, "refund"),
        "cancel": ticket_for(desk.mind, "cancel", recurring=True),
        "tech_recurring": ticket_for(desk.mind, "tech_support", recurring=True),
        "closed": ticket_for(desk.mind, "tech_support"),
        "reopened": ticket_for(desk.keto, "tech_support"),
    }
    owner = actor_of(desk.owner)
    services.close(owner, t["closed"], "Customer is happy now.", now=desk.ago(hours=1))
    services.close(owner, t["reopened"], "Customer is happy now.", now=desk.ago(hours=1))
    services.reopen(owner, t["reopened"], "The problem came back.", now=desk.ago(minutes=30))
    return t


@pytest.mark.parametrize(
    "query, expected",
    [
        ("type=tech_support", {"tech", "tech_recurring", "reopened"}),
        ("type=refund", {"refund"}),
        ("type=cancel", {"cancel"}),
        ("product=recurring", {"cancel", "tech_recurring"}),
        ("product=standard", {"tech", "refund", "reopened"}),
        ("product=", {"tech", "refund", "cancel", "tech_recurring", "reopened"}),
        ("status=reopened", {"reopened"}),
        ("status=closed", {"closed"}),
        ("status=open&status=closed", {"tech", "refund", "cancel", "tech_recurring", "closed"}),
        (
            "f=1",
            {"tech", "refund", "cancel", "tech_recurring", "closed", "reopened"},
        ),  # none ticked
        ("vendor=mindshift", {"cancel", "tech_recurring"}),
        ("vendor=ketovital&type=tech_support", {"tech", "reopened"}),
        ("type=tech_support&product=recurring&vendor=mindshift&status=open", {"tech_recurring"}),
    ],
)
def test_each_filter(client, login, desk, mixed, query, expected):
    login(desk.owner)
    html = queue(client, "/tickets/?" + query)
    assert set(numbers(html)) == {mixed[k].id for k in expected}
    count = int(re.search(r"<strong>([\d,]+)</strong>", html).group(1).replace(",", ""))
    assert count == len(expected)


def test_filters_show_in_the_form_so_a_bookmark_reopens_the_same_view(client, login, desk, mixed):
    login(desk.owner)
    html = queue(client, "/tickets/?type=refund&product=standard&status=closed&vendor=mindshift")
    assert '<option value="refund" selected>' in html
    assert '<option value="standard" selected>' in html
    assert '<option value="mindshift" selected>' in html
    assert re.search(r'value="closed" id="queue-status-closed" autocomplete="off" checked', html)
    assert not re.search(r'value="open" id="queue-status-open" autocomplete="off" checked', html)


def test_unknown_or_ungranted_vendor_matches_nothing_and_says_so(client, login, desk, mixed):
    login(desk.clerk)
    html = queue(client, "/tickets/?vendor=mindshift")  # exists, but not granted to this clerk
    assert numbers(html) == [] and "None of your accounts has this nickname." in html
    html2 = queue(client, "/tickets/?vendor=nosuchaccount")
    assert numbers(html2) == [] and "None of your accounts has this nickname." in html2


def test_bad_filter_values_fall_back_instead_of_failing(client, login, desk, mixed):
    login(desk.owner)
    html = queue(
        client,
        "/tickets/?type=bogus&product=%7F&status=weird&sort=drop&after=junk.1.2&q=" + "x" * 600,
    )
    assert "<html" in html  # a page, not an error
    html = queue(client, "/tickets/?type=bogus&status=weird&after=0.t99999999999999999999.5")
    assert set(numbers(html)) >= {mixed["tech"].id, mixed["refund"].id}


# --- search ----------------------------------------------------------------------------------


@pytest.fixture
def findable(desk, ticket_for):
    return {
        "ann": ticket_for(desk.keto, email="ann.smith@example.com", receipt="ABCD1234"),
        "anna": ticket_for(desk.mind, email="anna.jones@example.com", receipt="ABXY7777"),
        "bob": ticket_for(desk.keto, email="bob@example.org", receipt="ZZZZ0001"),
    }


@pytest.mark.parametrize(
    "q, expected",
    [
        ("ann.smith@example.com", {"ann"}),  # exact email
        ("ANN.Smith@Example.com", {"ann"}),  # case-insensitive
        ("  ann.smith@example.com ", {"ann"}),  # spaces around
        ("ann", {"ann", "anna"}),  # email prefix
        ("anna.", {"anna"}),
        ("ABCD1234", {"ann"}),  # exact receipt
        ("abcd1234", {"ann"}),  # receipts are upper case; the search is not fussy
        ("ABX", {"anna"}),  # receipt prefix
        ("zz", set()),  # under 3 characters: exact only
        ("nobody@example.com", set()),
    ],
)
def test_search_by_email_or_receipt(client, login, desk, findable, q, expected):
    login(desk.owner)
    html = queue(client, "/tickets/", query_string={"q": q})
    assert set(numbers(html)) == {findable[k].id for k in expected}


def test_search_by_ticket_number_exact_and_prefix(client, login, desk, ticket_for, app):
    login(desk.owner)
    t = ticket_for(desk.keto)
    assert numbers(queue(client, "/tickets/", query_string={"q": str(t.id)})) == [t.id]
    assert numbers(queue(client, "/tickets/", query_string={"q": f"#{t.id}"})) == [t.id]
    # Numbers starting with the typed digits (from 3 digits on): a copy of the ticket as #12345.
    columns = {c.key: getattr(t, c.key) for c in Ticket.__table__.columns if c.key != "id"}
    db.session.add(Ticket(id=12345, **columns))
    db.session.commit()
    assert numbers(queue(client, "/tickets/", query_string={"q": "123"})) == [12345]
    assert numbers(queue(client, "/tickets/", query_string={"q": "12"})) == []  # exact only
    assert numbers(queue(client, "/tickets/", query_string={"q": "#99999999999999999999"})) == []
    assert numbers(queue(client, "/tickets/", query_string={"q": "0123"})) == []


def test_search_says_when_tickets_with_other_statuses_match(client, login, desk, ticket_for):
    shown = ticket_for(desk.keto, email="carla@example.com")
    hidden = ticket_for(desk.keto, email="carla@example.com")
    services.close(actor_of(desk.owner), hidden, "Solved, closing it.", now=desk.clock)
    login(desk.owner)
    html = queue(client, "/tickets/", query_string={"q": "carla@example.com"})
    assert numbers(html) == [shown.id]
    assert "1 more ticket with another status also matches." in html
    every = re.search(r'href="([^"]+)" class="alert-link">Show every status', html).group(1)
    assert set(numbers(queue(client, every.replace("&amp;", "&")))) == {shown.id, hidden.id}


def test_a_broad_search_is_answered_without_an_exact_count(
    client, login, desk, ticket_for, monkeypatch
):
    monkeypatch.setattr(queries, "SEARCH_CAP", 2)
    for n in range(4):
        ticket_for(desk.keto, email=f"same{n}@example.com")
    login(desk.owner)
    html = queue(client, "/tickets/", query_string={"q": "same"})
    assert len(numbers(html)) == 4
    assert re.search(r"<strong>2\+</strong>", html)
    assert "More than 2 tickets start with “same”" in html


# --- order and pages -------------------------------------------------------------------------


def test_soonest_expiration_first_then_no_timer_then_closed(desk, ticket_for, make):
    """Refunds about to be processed come first; tickets without a timer after; closed last."""
    tech = ticket_for(desk.keto, "tech_support", hours=1)  # warning in ~47 h
    refund = ticket_for(desk.keto, "refund", hours=20)  # processed in ~4 h (weekend may move it)
    held = ticket_for(desk.keto, "refund", hours=3)
    services.record_return(
        actor_of(desk.owner), held, "label_sent", "Return label sent.", now=desk.clock
    )
    closed_early = ticket_for(desk.keto, "tech_support")
    closed_late = ticket_for(desk.keto, "tech_support")
    owner = actor_of(desk.owner)
    services.close(owner, closed_early, "Done, closing it.", now=desk.ago(minutes=50))
    services.close(owner, closed_late, "Done, closing it.", now=desk.ago(minutes=10))
    everything = QueueFilter(statuses=queries.ALL_STATUSES)
    got = [t.id for t in queries.search({desk.keto.id}, everything).tickets]
    timed = sorted([tech, refund], key=lambda t: t.next_action_at)
    assert got == [timed[0].id, timed[1].id, held.id, closed_late.id, closed_early.id]
    # Closed only: most recently closed first; "recently closed" first when asked.
    closed = QueueFilter(statuses=("closed",))
    assert [t.id for t in queries.search({desk.keto.id}, closed).tickets] == [
        closed_late.id,
        closed_early.id,
    ]
    first_closed = QueueFilter(statuses=queries.ALL_STATUSES, sort="closed")
    assert [t.id for t in queries.search({desk.keto.id}, first_closed).tickets][:2] == [
        closed_late.id,
        closed_early.id,
    ]


@pytest.mark.parametrize("dense", [False, True])
def test_keyset_pages_walk_every_ticket_once_in_order(desk, make, monkeypatch, dense):
    """Pages of 3 over timed, untimed and closed tickets: nothing skipped, nothing twice; the
    same with the ordered-index plan (dense) and the filter-index plan."""
    monkeypatch.setattr(queries, "DENSE", 1 if dense else 10_000)
    owner = actor_of(desk.owner)
    expected_timed, untimed, closed = [], [], []
    base = desk.ago(days=5)
    for n in range(11):
        sale = make.sale(desk.keto if n % 2 else desk.mind, at=desk.ago(days=10))
        t = services.open_ticket(
            services.Actor.customer(sale),
            sale,
            "tech_support",
            comment="Please help me with this.",
            now=base + timedelta(hours=n),
        )
        if n % 4 == 0:
            services.close(owner, t, "Closing this one.", now=base + timedelta(hours=20 + n))
            closed.append(t)
        elif n % 5 == 0:
            t.next_action_at = None  # e.g. a ClickBank account's ticket: no timer here
            t.next_action = None
            db.session.commit()
            untimed.append(t)
        else:
            expected_timed.append(t)
    # Two tickets due at the same moment: the ticket number breaks the tie.
    expected_timed[1].next_action_at = expected_timed[0].next_action_at
    db.session.commit()
    expected = (
        sorted(expected_timed, key=lambda t: (t.next_action_at, t.id))
        + sorted(untimed, key=lambda t: -t.id)
        + sorted(closed, key=lambda t: (t.closed_at, t.id), reverse=True)
    )
    f = QueueFilter(statuses=queries.ALL_STATUSES)
    seen, cursor, pages = [], None, 0
    while True:
        page = queries.search({desk.keto.id, desk.mind.id}, f, cursor=cursor, limit=3)
        seen += [t.id for t in page.tickets]
        pages += 1
        assert page.total == 11
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == [t.id for t in expected]
    assert pages == 4


def test_pages_in_the_browser_have_a_show_more_link_and_no_offset(
    client, login, desk, ticket_for, monkeypatch, queries_run
):
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    made = [ticket_for(desk.keto, hours=h) for h in (1, 2, 3)]
    login(desk.owner)
    first = queue(client, "/tickets/?type=tech_support")
    assert len(numbers(first)) == 2
    more = (
        re.search(r'<a class="btn btn-outline-primary" href="([^"]+)"', first)
        .group(1)
        .replace("&amp;", "&")
    )
    assert "type=tech_support" in more and "after=" in more
    del queries_run[:]
    second = queue(client, more, headers=HX)
    assert len(numbers(second)) == 1
    assert set(numbers(first) + numbers(second)) == {t.id for t in made}
    assert not any(re.search(r"OFFSET\s+[1-9]", q) for q in queries_run)
    # Without JavaScript the next page is a whole page, with a way back to the first one.
    full = queue(client, more)
    assert "Back to the first page" in full


# --- page vs fragment, the count, queries ----------------------------------------------------


def test_full_page_without_htmx_and_only_the_results_for_htmx(client, login, desk, ticket_for):
    ticket_for(desk.keto)
    login(desk.owner)
    full = client.get("/tickets/?type=tech_support")
    fragment = client.get("/tickets/?type=tech_support", headers=HX)
    boosted = client.get("/tickets/?type=tech_support", headers=HX_BOOSTED)
    assert "<html" in full.get_data(as_text=True) and 'id="queue-filters"' in full.get_data(
        as_text=True
    )
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<section id="queue-results"')
    assert 'id="queue-filters"' not in body
    assert "<html" in boosted.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]


def test_the_filter_form_updates_as_you_type_and_keeps_the_url(client, login, desk):
    login(desk.owner)
    html = queue(client)
    form = re.search(r'<form id="queue-filters"[^>]*>', html, re.S).group(0)
    assert 'hx-trigger="input delay:300ms, submit"' in form
    assert 'hx-push-url="true"' in form and 'hx-target="#queue-results"' in form
    assert 'method="get"' in form  # works without JavaScript too
    assert 'hx-history="false"' in html  # Back asks the server for the URL's filters


def test_queue_runs_a_fixed_number_of_queries(client, login, desk, ticket_for, queries_run):
    """No N+1: three tickets or thirty, the same queries (accounts are read once, not per row)."""

    def measured() -> tuple[list[str], str]:
        queue(client)  # hands the mail of new tickets to the worker (after that request)
        db.session.remove()  # a fresh session, as in a real request
        del queries_run[:]
        html = queue(client)
        return [q for q in queries_run if q != "BEGIN"], html

    for _ in range(3):
        ticket_for(desk.keto)
        ticket_for(desk.mind)
    login(desk.owner)
    few, _ = measured()
    desk.keto, desk.mind = db.session.merge(desk.keto), db.session.merge(desk.mind)
    for _ in range(12):
        ticket_for(desk.keto)
        ticket_for(desk.mind)
    many, html = measured()
    assert len(numbers(html)) == 30
    assert len(many) == len(few), "\n".join(q[:90] for q in few + ["-----"] + many)
    assert len(many) <= 8, many


def test_expiration_counts_down_when_due_within_a_day(client, login, desk, ticket_for):
    soon = ticket_for(desk.keto, "refund", hours=20)  # processed 24 h after opening
    later = ticket_for(desk.keto, "tech_support", hours=1)  # first warning after 48 h
    login(desk.owner)
    html = queue(client)
    row_soon = re.search(rf'<tbody id="ticket-{soon.id}".*?</tbody>', html, re.S).group(0)
    row_later = re.search(rf'<tbody id="ticket-{later.id}".*?</tbody>', html, re.S).group(0)
    due_within_a_day = soon.next_action_at - desk.clock < timedelta(days=1)  # a weekend moves it
    assert ("data-countdown=" in row_soon) is due_within_a_day
    assert "data-countdown=" not in row_later
    assert "account time" in row_soon and ("EST" in row_soon or "EDT" in row_soon)


# --- one account's queue ---------------------------------------------------------------------


def test_account_queue_shows_that_account_only(client, login, desk, ticket_for, app):
    mine = ticket_for(desk.keto)
    ticket_for(desk.mind)
    login(desk.owner)
    with app.test_request_context():
        from flask import url_for

        url = url_for("tickets.account_queue", nickname="ketovital")
    assert url == "/accounts/ketovital/tickets"
    html = queue(client, url)
    assert numbers(html) == [mine.id]
    assert 'name="vendor"' not in html  # the account is the page's, not a filter
    assert 'data-testid="account-head"' in html  # the owner's account window: its header
    assert 'data-testid="account-head"' not in client.get(url, headers=HX).get_data(as_text=True)
    fragment = client.get(url + "?type=tech_support", headers=HX).get_data(as_text=True)
    assert numbers(fragment) == [mine.id] and "<html" not in fragment


def test_account_queue_of_an_account_not_granted_is_404(client, login, desk, make):
    login(desk.clerk)
    mine = queue(client, "/accounts/ketovital/tickets")
    assert "ketovital" in mine and 'data-testid="account-head"' not in mine  # no Accounts tab
    assert client.get("/accounts/mindshift/tickets").status_code == 404
    assert client.get("/accounts/nosuch/tickets").status_code == 404
    stranger = make.owner()
    make.account(stranger, "theirs")
    assert client.get("/accounts/theirs/tickets").status_code == 404


# --- plans -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f",
    [
        QueueFilter(),
        QueueFilter(statuses=("closed",)),
        QueueFilter(statuses=queries.ALL_STATUSES, ticket_type="refund", product="standard"),
        QueueFilter(statuses=("reopened", "closed"), sort="closed"),
        QueueFilter(q="buyer"),
    ],
)
@pytest.mark.parametrize("dense", [False, True])
def test_no_query_of_the_queue_reads_the_whole_tickets_table(
    app, desk, ticket_for, queries_run, monkeypatch, f, dense
):
    """Every statement the queue runs reads an index (SQLite: INDEXED BY pins it)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    monkeypatch.setattr(queries, "DENSE", 1 if dense else 10_000)
    monkeypatch.setattr(queries, "SEARCH_CAP", 1 if dense else 2_000)  # dense: a broad search
    for n in range(3):
        ticket_for(desk.keto, email=f"buyer{n}@example.com")
    del queries_run[:]
    page = queries.search({desk.keto.id, desk.mind.id}, f, limit=2)
    if page.next_cursor:
        queries.search({desk.keto.id, desk.mind.id}, f, cursor=page.next_cursor, limit=2)
    assert queries_run
    for statement in queries_run:
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        explained = db.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, statement.params
        )
        plan = [row[3] for row in explained]
        full_scans = [p for p in plan if re.match(r"SCAN (tickets|t_ix_\w+)$", p)]
        assert not full_scans, (statement, plan)


def test_search_by_a_rebill_receipt_finds_the_orders_ticket(client, login, desk, ticket_for, make):
    """Customers quote their latest charge (``SALE-n``); the ticket names the order's first sale."""
    ticket = ticket_for(desk.keto, recurring=True, receipt="RBLL0001", sale_days=40)
    other = ticket_for(desk.mind, recurring=True, receipt="RBLL0002", sale_days=40)
    make.rebill(ticket.transaction, at=desk.ago(days=10))
    make.rebill(other.transaction, at=desk.ago(days=10))
    login(desk.owner)
    assert numbers(queue(client, "/tickets/", query_string={"q": "rbll0001-1"})) == [ticket.id]
    assert numbers(queue(client, "/tickets/", query_string={"q": "RBLL0001-"})) == [ticket.id]
    assert numbers(queue(client, "/tickets/", query_string={"q": "RBLL0001-7"})) == []
    # The account filter still applies to what a rebill receipt finds.
    found = queue(client, "/tickets/", query_string={"q": "RBLL0002-1", "vendor": desk.keto.nickname})
    assert numbers(found) == []
