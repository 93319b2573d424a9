"""Who reaches what without dead ends.

- Orders/Tickets alone (issue 5): only the Tickets tab; the search of the orders tied to their
  tickets and the refund escalations are reached from the Tickets queue, and on those pages the
  Tickets tab is the highlighted one, with a way back to it.
- Search Orders without Orders/Tickets (DOMAIN.md §11): works any transaction but may not view
  tickets, so nothing on the transaction pages sends them into a 403 on a ticket.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.authz.scope import principal_for
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.tickets import services as ticket_services
from portal.tickets.models import Ticket
from tests.conftest import HX
from tests.transactions.conftest import days_ago


def tabs(html: str) -> list[str]:
    bar = html.split('data-testid="tabs"')[1].split("</ul>")[0]
    return [t.strip() for t in re.findall(r'class="nav-link[^"]*"[^>]*>([^<]+)</a>', bar)]


def active_tab(html: str) -> str | None:
    bar = html.split('data-testid="tabs"')[1].split("</ul>")[0]
    found = re.search(r'class="nav-link active"[^>]*>([^<]+)</a>', bar)
    return found.group(1).strip() if found else None


def page(client, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code)
    return r.get_data(as_text=True)


# --- Orders/Tickets alone: the Tickets tab only ------------------------------------------------


def test_an_orders_tickets_clerk_has_only_the_tickets_tab_and_searches_from_it(
    client, login, make, world
):
    tied = make.sale(world.keto, at=days_ago(world, 5), receipt="TIED0001")
    make.ticket(tied, now=days_ago(world, 4))
    make.sale(world.keto, at=days_ago(world, 5), receipt="FREE0001")  # no ticket
    login(world.tickets_clerk)

    queue = page(client, "/tickets/")
    assert tabs(queue) == ["Tickets"] and active_tab(queue) == "Tickets"
    links = queue.split('data-testid="ticket-order-links"')[1].split("</nav>")[0]
    assert 'href="/transactions/"' in links and "Orders on tickets" in links
    assert 'href="/transactions/escalations"' in links

    # The search answers (ticket-tied orders only), under the Tickets tab, with a way back.
    found = page(client, "/transactions/?q=TIED&field=receipt")
    assert tabs(found) == ["Tickets"] and active_tab(found) == "Tickets"
    assert "TIED0001" in found and 'data-testid="back-to-tickets"' in found
    assert "<title>Orders on tickets" in found
    assert "FREE0001" not in page(client, "/transactions/?q=FREE&field=receipt")
    # As you type (htmx) and the count and CSV, too.
    assert "TIED0001" in client.get("/transactions/?q=TIED&field=receipt", headers=HX).get_data(
        as_text=True
    )
    assert client.get("/transactions/count?q=TIED&field=receipt", headers=HX).status_code == 200
    csv = client.get("/transactions/export.csv?q=TIED&field=receipt")
    assert csv.status_code == 200 and "TIED0001" in csv.get_data(as_text=True)
    assert page(client, "/accounts/ketovital/transactions").count("Orders on tickets") >= 1

    # The order page: Tickets highlighted, breadcrumb back to Tickets and the search.
    order = page(client, f"/transactions/{tied.id}")
    assert active_tab(order) == "Tickets"
    crumbs = order.split('aria-label="breadcrumb"')[1].split("</ol>")[0]
    assert 'href="/tickets/"' in crumbs and 'href="/transactions/"' in crumbs
    assert "All orders of this customer" in order

    escalations = page(client, "/transactions/escalations")
    assert active_tab(escalations) == "Tickets" and 'data-testid="back-to-tickets"' in escalations


def test_search_orders_clerks_keep_the_transactions_tab(client, login, make, world):
    for clerk in (world.search_clerk, make.clerk(world.owner, perms=("search_orders",),
                                                 accounts=[world.keto])):
        login(clerk)
        found = page(client, "/transactions/")
        assert "Transactions" in tabs(found) and active_tab(found) == "Transactions"
        assert "back-to-tickets" not in found and "<title>Transactions" in found
        if "Tickets" in tabs(found):
            assert 'data-testid="ticket-order-links"' not in page(client, "/tickets/")
        client.post("/auth/logout")


def test_single_permissions_without_orders_still_cannot_search(client, login, make, world):
    login(world.users_clerk)
    for url in ("/transactions/", "/transactions/count", "/transactions/export.csv",
                "/accounts/ketovital/transactions"):
        assert client.get(url).status_code == 403, url


# --- Search Orders without Orders/Tickets: no 403 dead ends on tickets -------------------------


@pytest.fixture
def cashier(make, world):
    """Search Orders + Refund authority, without Orders/Tickets: may open and process refunds
    on any order but may not look at tickets."""
    return make.clerk(world.owner, perms=("search_orders", "refund_authority"),
                      accounts=[world.keto], email="cashier@shop.test")


def test_opening_a_refund_ticket_returns_to_the_order_when_tickets_are_not_viewable(
    client, login, make, world, cashier
):
    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="CASH0001")
    login(cashier)
    r = client.post(f"/transactions/{sale.id}/tickets",
                    data={"ticket_type": "refund", "comment": "Customer asked for a refund."})
    ticket = db.session.scalar(select(Ticket))
    assert ticket is not None and ticket.ticket_type == "refund"
    assert r.status_code == 303 and r.headers["Location"] == f"/transactions/{sale.id}"

    landed = page(client, r.headers["Location"])
    assert f"Ticket #{ticket.id} opened" in landed  # the flash names it
    assert client.get(f"/tickets/{ticket.id}").status_code == 403  # the rule stays
    card = landed.split('data-testid="tickets"')[1].split("</ul>")[0]
    assert f"#{ticket.id}" in card and "/tickets/" not in card  # plain text, not a link
    panel = landed.split('data-testid="handoff-panel"')[1].split("</section>")[0]
    assert f"ticket #{ticket.id}" in panel and f'href="/tickets/{ticket.id}"' not in panel

    # From htmx: HX-Redirect to the order as well.
    other = make.sale(world.keto, at=days_ago(world, 3))
    r = client.post(f"/transactions/{other.id}/tickets", headers=HX,
                    data={"ticket_type": "tech_support", "comment": "Customer needs help."})
    assert r.status_code == 403  # tech support is ticket work: Orders/Tickets
    r = client.post(f"/transactions/{other.id}/tickets", headers=HX,
                    data={"ticket_type": "refund", "comment": "Customer asked for a refund."})
    assert r.headers["HX-Redirect"] == f"/transactions/{other.id}"


def test_a_clerk_who_may_view_tickets_still_lands_on_the_ticket(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3))
    login(world.refunds_clerk)
    r = client.post(f"/transactions/{sale.id}/tickets",
                    data={"ticket_type": "refund", "comment": "Customer asked for a refund."})
    ticket = db.session.scalar(select(Ticket))
    assert r.headers["Location"] == f"/tickets/{ticket.id}"
    card = page(client, f"/transactions/{sale.id}").split('data-testid="tickets"')[1]
    assert f'href="/tickets/{ticket.id}"' in card.split("</ul>")[0]


def _held_refund(make, world, receipt):
    """A refund ticket whose return is received and handed off to the refund authority."""
    sale = make.sale(world.keto, at=days_ago(world, 10), receipt=receipt)
    ticket = make.ticket(sale, ticket_type="refund", now=days_ago(world, 1))
    actor = ticket_services.Actor.for_user(world.tickets_clerk, principal_for(world.tickets_clerk))
    for step in ("label_sent", "in_transit", "received"):
        ticket_services.record_return(actor, ticket, step, "Return step recorded.", now=world.now)
    ticket_services.hand_off(actor, ticket, "Back at the warehouse, please refund.", now=world.now)
    db.session.commit()
    return sale, ticket


def test_escalations_and_processing_lead_nowhere_forbidden(client, login, make, world, cashier):
    sale, ticket = _held_refund(make, world, "HELD0001")
    login(cashier)
    listing = page(client, "/transactions/escalations")
    assert active_tab(listing) == "Transactions"
    row = listing.split(f'id="escalation-{ticket.id}"')[1].split("</tr>")[0]
    assert f"#{ticket.id}" in row and "/tickets/" not in row
    assert f'href="/transactions/{sale.id}"' in row  # the order is theirs to open
    panel = listing.split(f'id="handoff-panel-{ticket.id}"')[1].split("</section>")[0]
    assert f'href="/tickets/{ticket.id}"' not in panel and 'value="/tickets/' not in panel

    # Without JavaScript and without a "next", a success goes to the order, not the ticket.
    r = client.post(f"/transactions/escalations/{ticket.id}/process",
                    data={"comment": "Goods back, refunding.", "expected_version":
                          str(db.session.get(Ticket, ticket.id).version)})
    assert r.status_code == 303 and r.headers["Location"] == f"/transactions/{sale.id}"
    assert "Refund approved" in page(client, r.headers["Location"])


def test_the_no_javascript_error_page_points_back_to_the_order(client, login, make, world, cashier):
    sale, ticket = _held_refund(make, world, "HELD0002")
    login(cashier)
    r = client.post(f"/transactions/escalations/{ticket.id}/process", data={"comment": "no"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "at least 6 characters" in html
    assert f'href="/transactions/{sale.id}"' in html and "Back to order HELD0002" in html
    assert f'href="/tickets/{ticket.id}"' not in html


def test_the_escalation_mail_links_each_reader_to_a_page_they_may_open(make, world, cashier):
    sale, ticket = _held_refund(make, world, "HELD0003")
    mails = {m.recipient: m.payload["text"] for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "refund_handoff"))}
    assert set(mails) == {"owner@shop.test", "refunds@shop.test", "cashier@shop.test"}
    assert f"/tickets/{ticket.id}" in mails["refunds@shop.test"]
    assert f"/tickets/{ticket.id}" not in mails["cashier@shop.test"]
    assert f"/transactions/{sale.id}" in mails["cashier@shop.test"]
