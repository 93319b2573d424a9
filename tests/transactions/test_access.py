"""Every route of the Transactions tab × every kind of user: who gets in and who gets 403,
including permission sets the authorization matrix has no principal for (Manage Users only;
Search Orders with Refund authority). A new route without a row here fails the last test.

Other tenants' objects and missing ids (404, or 403 where the coarse check refuses first), and
sales without a ticket (404 for Orders/Tickets-only clerks) are in the authorization matrix:
tests/authz/matrix/transactions.py."""

from __future__ import annotations

import re

import pytest

from tests.transactions.conftest import days_ago

ROLES = ["anonymous", "owner", "tickets_clerk", "search_clerk", "refunds_clerk", "users_clerk"]

# route -> (method, path template, {role: status}); {t} a transaction (tied to a ticket),
# {k} and {kp} refund tickets.
MATRIX = {
    "transactions.index": (
        "GET",
        "/transactions/",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.account_search": (
        "GET",
        "/accounts/ketovital/transactions",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.count": (
        "GET",
        "/transactions/count",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.export": (
        "GET",
        "/transactions/export.csv",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.account_export": (
        "GET",
        "/accounts/ketovital/transactions/export.csv",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.show": (
        "GET",
        "/transactions/{t}",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.receipt": (
        "GET",
        "/transactions/{t}/receipt",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.receipt_pdf": (
        "GET",
        "/transactions/{t}/receipt.pdf",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.email_receipt": (
        "POST",
        "/transactions/{t}/email-receipt",
        dict(owner=303, tickets_clerk=303, search_clerk=303, refunds_clerk=303, users_clerk=403),
    ),
    "transactions.open_ticket": (
        "POST",
        "/transactions/{t}/tickets",
        dict(owner=303, tickets_clerk=303, search_clerk=303, refunds_clerk=303, users_clerk=403),
    ),
    "transactions.subscription_cancel": (
        "POST",
        "/transactions/{t}/subscription/cancel",
        dict(owner=303, tickets_clerk=403, search_clerk=403, refunds_clerk=303, users_clerk=403),
    ),
    "transactions.subscription_pause": (
        "POST",
        "/transactions/{t}/subscription/pause",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.subscription_resume": (
        "POST",
        "/transactions/{t}/subscription/resume",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.subscription_date": (
        "POST",
        "/transactions/{t}/subscription/date",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.escalations": (
        "GET",
        "/transactions/escalations",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.record_return": (
        "POST",
        "/transactions/escalations/{k}/return",
        dict(owner=303, tickets_clerk=303, search_clerk=303, refunds_clerk=303, users_clerk=403),
    ),
    "transactions.hand_off": (
        "POST",
        "/transactions/escalations/{k}/handoff",
        dict(owner=200, tickets_clerk=200, search_clerk=200, refunds_clerk=200, users_clerk=403),
    ),
    "transactions.process_refund": (
        "POST",
        "/transactions/escalations/{kp}/process",
        dict(owner=303, tickets_clerk=403, search_clerk=403, refunds_clerk=303, users_clerk=403),
    ),
}
# What each POST sends: a valid action where the role may act (pause/resume/date/hand-off are
# sent in a state the rules refuse, so they answer 200 with the reason, and nothing changes).
FORMS = {
    "transactions.open_ticket": {"ticket_type": "tech_support", "comment": "Customer needs help."},
    "transactions.subscription_cancel": {"comment": "Customer wants out."},
    "transactions.subscription_pause": {"restart_on": "2000-01-02", "comment": "Customer travels."},
    "transactions.subscription_resume": {"comment": "Customer is back."},
    "transactions.subscription_date": {"next_bill_on": "2000-01-02", "comment": "Move the date."},
    "transactions.record_return": {"comment": "Label sent by email.", "step": "label_sent"},
    "transactions.hand_off": {"comment": "Over to the refund authority."},
    "transactions.process_refund": {"comment": "No return needed, refund."},
}


@pytest.fixture
def objects(make, world):
    t = make.sale(world.keto, at=days_ago(world, 20), recurring=True)
    make.ticket(t, now=days_ago(world, 1))
    refund_sale = make.sale(world.keto, at=days_ago(world, 5))
    k = make.ticket(refund_sale, ticket_type="refund", now=days_ago(world, 0, hours=1))
    other_refund = make.sale(world.keto, at=days_ago(world, 5))
    kp = make.ticket(other_refund, ticket_type="refund", now=days_ago(world, 0, hours=1))
    return {
        "t": t.id,
        "k": k.id,
        "kp": kp.id,
    }


def call(client, method, path, data=None):
    if method == "GET":
        return client.get(path)
    return client.post(path, data=data or {})


@pytest.mark.parametrize("role", ROLES)
def test_every_route_by_role(client, login, world, objects, role):
    """One role against every route (a list of mismatches, so one run shows them all)."""
    if role != "anonymous":
        login(getattr(world, role))
    wrong = []
    for endpoint, (method, template, expected) in sorted(MATRIX.items()):
        response = call(client, method, template.format(**objects), FORMS.get(endpoint))
        want = (302, 401) if role == "anonymous" else (expected[role],)
        if response.status_code not in want:
            text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
            wrong.append(f"{endpoint}: {response.status_code}, expected {want}: {text[-300:]}")
    assert wrong == []


def test_every_route_of_the_tab_is_in_the_matrix(app):
    routes = {
        r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("transactions.")
    }
    assert routes == set(MATRIX)
