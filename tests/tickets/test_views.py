"""The ticket page and its actions: every field, the history, each action with and without htmx,
each refusal, permissions (403) and account scope (404), and two clerks on one ticket."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.tickets import services
from portal.tickets.models import Ticket, TicketEvent
from portal.transactions.models import Transaction
from tests.conftest import HX, HX_BOOSTED
from tests.tickets.conftest import actor_of


def events_of(ticket) -> list[TicketEvent]:
    return list(
        db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    )


def fresh(ticket) -> Ticket:
    db.session.expire_all()
    return db.session.get(Ticket, ticket.id)


def post(client, ticket, verb, headers=None, **data):
    data.setdefault("version", str(ticket.version))
    return client.post(f"/tickets/{ticket.id}/{verb}", data=data, headers=headers or {})


def page(client, ticket) -> str:
    response = client.get(f"/tickets/{ticket.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- the page --------------------------------------------------------------------------------


def test_ticket_page_shows_every_field_the_order_and_the_history(
    client, login, desk, ticket_for, make
):
    ticket = ticket_for(
        desk.keto,
        "tech_support",
        recurring=True,
        email="dana@example.com",
        receipt="RCPT0001",
        amount_cents=4999,
        locale="de",
    )
    make.rebill(ticket.transaction, at=desk.ago(days=3))
    services.add_comment(
        actor_of(desk.clerk), ticket, "Here is a fresh download link.", now=desk.ago(hours=1)
    )
    login(desk.owner)
    html = page(client, ticket)
    for label in (
        "Status",
        "Expiration",
        "Opened",
        "Type",
        "Source",
        "Locale",
        "Transaction",
        "Vendor / affiliate",
        "Sale status",
        "Purchase",
        "Payment method",
        "Product type",
        "Customer",
        "Email",
        "Description",
        "Notes and history",
    ):
        assert f">{label}<" in html, label
    assert "Tech support" in html and "Open" in html and "Customer" in html
    assert "Deutsch" in html and "RCPT0001" in html and "ketovital" in html
    assert "$49.99" in html and "VISA" in html and "Recurring" in html
    assert "Chris Customer" in html and "dana@example.com" in html
    assert "Please help me with my order." in html
    assert re.search(r'data-testid="sale-status">\s*<span[^>]*>Active<', html)
    assert "RCPT0001-1" in html and "Rebill" in html  # the order summary lists every transaction
    # History: oldest first, who and when, in the viewer's zone (London) and the account's (NY).
    opened_at = html.index("opened the ticket")
    commented_at = html.index("Here is a fresh download link.")
    assert opened_at < commented_at
    assert "Casey" in html and ">Clerk<" in html
    assert re.search(r"\d\d:\d\d (GMT|BST)", html) and re.search(
        r"\d\d:\d\d E[SD]T account time", html
    )


def test_sale_status_follows_the_orders_transactions(client, login, desk, ticket_for, make):
    ticket = ticket_for(desk.keto, "tech_support")
    sale = ticket.transaction
    make.sale(desk.keto, receipt=None)  # an unrelated order does not count
    db.session.add(
        Transaction(
            linked_account_id=desk.keto.id,
            receipt=sale.receipt,
            sale_receipt=sale.receipt,
            txn_type="CGBK",
            occurred_at=desk.ago(days=1),
            amount_cents=sale.amount_cents,
            customer_email=sale.customer_email,
        )
    )
    db.session.commit()
    login(desk.owner)
    assert re.search(r'data-testid="sale-status">\s*<span[^>]*>Charged back<', page(client, ticket))


def test_user_text_is_escaped(client, login, desk, make):
    sale = make.sale(desk.keto, at=desk.ago(days=3))
    ticket = services.open_ticket(
        services.Actor.customer(sale),
        sale,
        "tech_support",
        comment='<script>alert(1)</script><b hx-get="/x">hi</b>',
        now=desk.ago(hours=1),
    )
    login(desk.owner)
    html = page(client, ticket)
    assert "<script>alert(1)" not in html and 'hx-get="/x"' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_ticket_of_an_account_not_granted_is_404_and_without_the_permission_403(
    client, login, desk, ticket_for, make
):
    other = ticket_for(desk.mind)
    login(desk.clerk)
    assert client.get(f"/tickets/{other.id}").status_code == 404
    assert post(client, other, "comment", comment="Trying to sneak in.").status_code == 404
    assert client.get("/tickets/999999").status_code == 404
    assert client.get("/tickets/99999999999999999999").status_code == 404
    assert client.get(f"/tickets/{2**40}").status_code == 404  # past a 32-bit id column
    assert (
        client.post(f"/tickets/{2**40}/close", data={"comment": "Closing a ghost."}).status_code
        == 404
    )
    client.post("/auth/logout")
    searcher = make.clerk(
        desk.owner, perms=("search_orders",), accounts=[desk.keto], email="s@example.test"
    )
    mine = ticket_for(desk.keto)
    login(searcher)
    assert client.get(f"/tickets/{mine.id}").status_code == 403
    assert post(client, mine, "comment", comment="Not my job really.").status_code == 403
    assert len(events_of(mine)) == 1


def test_removed_account_tickets_are_read_only(client, login, desk, ticket_for):
    ticket = ticket_for(desk.mind)
    desk.mind.status = "removed"
    db.session.commit()
    login(desk.owner)
    html = page(client, ticket)
    assert "read only" in html and 'id="ticket-actions"' not in html
    assert post(client, ticket, "comment", comment="Should not be possible.").status_code == 403
    assert len(events_of(ticket)) == 1


def test_a_removed_accounts_ticket_page_says_so_and_counts_down_nothing(
    client, login, desk, ticket_for
):
    """The sweep no longer runs a removed account's timers: the page says the account was
    removed and the ticket is read only, and shows no countdown to a step that never comes."""
    ticket = ticket_for(desk.mind, "refund", hours=20)  # processed within ~4 h while linked
    login(desk.owner)
    before = page(client, ticket)
    assert "expiration-box" in before and 'data-testid="account-removed"' not in before
    desk.mind.status = "removed"
    desk.mind.removed_at = desk.clock
    db.session.commit()
    html = page(client, ticket)
    notice = re.search(r'data-testid="account-removed".*?</div>\s*</div>', html, re.S).group(0)
    assert "“mindshift” was removed on" in notice and "this ticket is read only" in notice
    assert "timers no longer run" in notice and "Link the account again" in notice
    assert "expiration-box" not in html
    fields = re.search(r'<dl class="ticket-fields.*?</dl>', html, re.S).group(0)
    assert "Stopped" in fields and 'data-countdown="' not in fields
    fragment = client.get(f"/tickets/{ticket.id}", headers=HX).get_data(as_text=True)
    assert 'data-testid="account-removed"' in fragment


# --- comment: success, refusal, htmx ---------------------------------------------------------


def test_comment_without_htmx_redirects_to_the_ticket_with_a_message(
    client, login, desk, ticket_for
):
    ticket = ticket_for(desk.keto)
    login(desk.clerk)
    response = post(client, ticket, "comment", comment="Here is your new link.")
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/tickets/{ticket.id}"
    )
    last = events_of(ticket)[-1]
    assert (last.kind, last.comment, last.actor_user_id) == (
        "commented",
        "Here is your new link.",
        desk.clerk.id,
    )
    assert "Comment added." in page(client, ticket)


def test_comment_with_htmx_returns_the_ticket_fragment_and_a_trigger(
    client, login, desk, ticket_for
):
    ticket = ticket_for(desk.keto)
    login(desk.clerk)
    response = post(client, ticket, "comment", headers=HX, comment="Here is your new link.")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="ticket-main"')
    assert response.headers["HX-Trigger"] == "ticket-changed"
    assert "Comment added." in body and "Here is your new link." in body
    assert re.search(
        r'<textarea id="comment"[^>]*></textarea>', body
    )  # an empty box for the next one
    boosted = post(
        client, fresh(ticket), "comment", headers=HX_BOOSTED, comment="A boosted form post."
    )
    assert boosted.status_code == 303


@pytest.mark.parametrize(
    "verb, extra",
    [
        ("comment", {}),
        ("close", {}),
        ("type", {"to_type": "refund"}),
        ("escalate", {}),
        ("email", {"new_email": "new@example.com"}),
    ],
)
def test_every_action_needs_a_comment_of_six_characters(
    client, login, desk, ticket_for, verb, extra
):
    ticket = ticket_for(desk.keto)
    login(desk.owner)
    response = post(client, ticket, verb, headers=HX, comment="  ok   ", **extra)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Please write a comment of at least 6 characters." in body
    assert (
        re.search(r'<textarea id="comment"[^>]*>  ok   </textarea>', body)
        or ">ok</textarea>" in body
    )
    assert len(events_of(ticket)) == 1


def test_a_refused_action_keeps_the_users_text(client, login, desk, ticket_for):
    ticket = ticket_for(desk.keto, "tech_support")  # a standard product: no cancellation
    login(desk.owner)
    response = post(
        client, ticket, "type", headers=HX, to_type="cancel", comment="Customer wants to cancel."
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "only possible for a recurring product" in body
    assert "Customer wants to cancel.</textarea>" in body
    assert fresh(ticket).ticket_type == "tech_support"


# --- change type -----------------------------------------------------------------------------


def test_changing_a_customers_refund_needs_and_records_the_customers_agreement(
    client, login, desk, ticket_for
):
    ticket = ticket_for(desk.keto, "refund")
    login(desk.owner)
    html = page(client, ticket)
    assert 'name="customer_agreed"' in html
    refused = post(
        client,
        ticket,
        "type",
        headers=HX,
        to_type="tech_support",
        comment="Trying the new version.",
    )
    assert "Customer agreed" in refused.get_data(as_text=True)
    assert fresh(ticket).ticket_type == "refund"
    done = post(
        client,
        fresh(ticket),
        "type",
        headers=HX,
        to_type="tech_support",
        customer_agreed="y",
        comment="Customer agreed to try the new version.",
    )
    assert done.status_code == 200 and "Type changed to Tech support." in done.get_data(
        as_text=True
    )
    ticket = fresh(ticket)
    assert ticket.ticket_type == "tech_support" and ticket.refund_state is None
    last = events_of(ticket)[-1]
    assert (last.kind, last.from_value, last.to_value, last.customer_agreed) == (
        "type_changed",
        "refund",
        "tech_support",
        True,
    )


def test_cancellation_is_offered_only_for_recurring_products(client, login, desk, ticket_for):
    standard = ticket_for(desk.keto, "tech_support")
    recurring = ticket_for(desk.keto, "tech_support", recurring=True)
    login(desk.owner)
    assert '<option value="cancel"' not in page(client, standard)
    assert '<option value="cancel"' in page(client, recurring)
    response = post(
        client, recurring, "type", to_type="cancel", comment="Customer asked to cancel."
    )
    assert response.status_code == 303 and fresh(recurring).ticket_type == "cancel"


def test_turning_tech_support_into_a_refund_needs_refund_authority(
    client, login, desk, ticket_for, make
):
    ticket = ticket_for(desk.keto, "tech_support")
    login(desk.clerk)
    assert '<option value="refund"' not in page(client, ticket)
    assert (
        post(
            client, ticket, "type", to_type="refund", comment="Customer wants money back."
        ).status_code
        == 403
    )
    client.post("/auth/logout")
    refunds = make.clerk(
        desk.owner,
        perms=("orders_tickets", "refund_authority"),
        accounts=[desk.keto],
        email="refunds@example.test",
    )
    login(refunds)
    assert '<option value="refund"' in page(client, ticket)
    assert (
        post(
            client, fresh(ticket), "type", to_type="refund", comment="Customer wants money back."
        ).status_code
        == 303
    )
    assert fresh(ticket).ticket_type == "refund" and fresh(ticket).refund_state == "requested"


def test_change_type_without_a_type_says_so(client, login, desk, ticket_for):
    ticket = ticket_for(desk.keto)
    login(desk.owner)
    body = post(
        client, ticket, "type", headers=HX, to_type="", comment="Changing the type now."
    ).get_data(as_text=True)
    assert "Choose the new type." in body


# --- close and reopen ------------------------------------------------------------------------


def test_close_and_reopen(client, login, desk, ticket_for):
    ticket = ticket_for(desk.keto, "tech_support")
    login(desk.clerk)
    assert post(client, ticket, "close", comment="Solved on the phone.").status_code == 303
    ticket = fresh(ticket)
    assert ticket.status == "closed" and ticket.closed_at is not None
    html = page(client, ticket)
    assert 'data-testid="action-reopen"' in html and 'data-testid="action-close"' not in html
    assert (
        post(client, ticket, "reopen", headers=HX, comment="The problem came back.").status_code
        == 200
    )
    ticket = fresh(ticket)
    assert ticket.status == "reopened" and ticket.next_action_at is not None
    assert [e.kind for e in events_of(ticket)] == ["opened", "closed", "reopened"]


def test_closing_a_refund_that_is_being_processed_is_refused(client, login, desk, ticket_for):
    ticket = ticket_for(desk.keto, "refund")
    services.run_due(ticket, now=ticket.next_action_at)  # its time came: the refund is processing
    ticket = fresh(ticket)
    assert ticket.refund_state == "processing"
    login(desk.owner)
    html = page(client, ticket)
    assert 'data-testid="action-close"' not in html
    assert "already being processed" in html  # the page says why instead
    response = post(
        client, ticket, "close", headers=HX, customer_agreed="y", comment="Customer is happy now."
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The refund is already being processed; the ticket cannot be closed now." in body
    assert "Customer is happy now.</textarea>" in body
    assert fresh(ticket).status == "open"


def test_closing_a_customers_refund_request_needs_their_agreement(client, login, desk, ticket_for):
    ticket = ticket_for(desk.keto, "refund")
    login(desk.owner)
    post(client, ticket, "close", comment="Customer is happy now.")
    assert fresh(ticket).status == "open"
    post(client, fresh(ticket), "close", customer_agreed="y", comment="Customer is happy now.")
    ticket = fresh(ticket)
    assert ticket.status == "closed" and ticket.refund_state == "withdrawn"
    assert events_of(ticket)[-1].customer_agreed is True


# --- escalate and change email ---------------------------------------------------------------


def test_escalate_only_sales_older_than_the_vendor_window(client, login, desk, ticket_for):
    recent = ticket_for(desk.keto, "tech_support", sale_days=10)
    old = ticket_for(desk.keto, "tech_support", sale_days=120)
    login(desk.owner)
    assert 'data-testid="action-escalate"' not in page(client, recent)
    assert "Escalation is only needed" in post(
        client, recent, "escalate", headers=HX, comment="Please escalate this."
    ).get_data(as_text=True)
    assert 'data-testid="action-escalate"' in page(client, old)
    assert post(client, old, "escalate", comment="Refund past 90 days, please.").status_code == 303
    assert fresh(old).escalated is True
    assert events_of(old)[-1].kind == "escalated"


def test_change_customer_email_on_the_ticket_and_the_order(client, login, desk, ticket_for):
    ticket = ticket_for(desk.keto, email="old@example.com")
    login(desk.clerk)
    bad = post(
        client,
        ticket,
        "email",
        headers=HX,
        new_email="not-an-email",
        comment="Customer has a new address.",
    )
    assert "Please enter a valid email address." in bad.get_data(as_text=True)
    response = post(
        client,
        fresh(ticket),
        "email",
        headers=HX,
        new_email="New@Example.com",
        comment="Customer has a new address.",
    )
    assert "Customer email changed to new@example.com." in response.get_data(as_text=True)
    assert fresh(ticket).customer_email == "new@example.com"
    emails = set(
        db.session.scalars(
            select(Transaction.customer_email).where(Transaction.sale_receipt == ticket.receipt)
        )
    )
    assert emails == {"new@example.com"}


def test_change_email_from_a_queue_row(client, login, desk, ticket_for):
    ticket = ticket_for(desk.keto, email="old@example.com")
    login(desk.owner)
    form = client.get(f"/tickets/{ticket.id}/email", headers=HX).get_data(as_text=True)
    assert (
        form.lstrip().startswith(f'<tbody id="ticket-{ticket.id}"') and 'name="new_email"' in form
    )
    assert 'name="ctx" value="row"' in form
    short = post(
        client, ticket, "email", headers=HX, ctx="row", new_email="new@example.com", comment="new"
    )
    body = short.get_data(as_text=True)
    assert body.lstrip().startswith(f'<tbody id="ticket-{ticket.id}"')
    assert "at least 6 characters" in body and 'value="new@example.com"' in body
    done = post(
        client,
        ticket,
        "email",
        headers=HX,
        ctx="row",
        new_email="new@example.com",
        comment="Customer wrote from a new address.",
    )
    body = done.get_data(as_text=True)
    assert body.lstrip().startswith(f'<tbody id="ticket-{ticket.id}"') and "new@example.com" in body
    assert 'name="new_email"' not in body and done.headers["HX-Trigger"] == "ticket-changed"
    cancel = client.get(f"/tickets/{ticket.id}/row", headers=HX).get_data(as_text=True)
    assert 'name="new_email"' not in cancel
    # Without JavaScript the row's link leads to the ticket page's form.
    assert (
        client.get(f"/tickets/{ticket.id}/email")
        .headers["Location"]
        .endswith(f"/tickets/{ticket.id}#change-email")
    )


# --- two clerks, one ticket ------------------------------------------------------------------


def test_second_clerk_is_told_the_ticket_changed_and_keeps_their_comment(
    client, login, desk, ticket_for, make
):
    ticket = ticket_for(desk.keto, "tech_support")
    seen_version = ticket.version
    other = make.clerk(
        desk.owner, accounts=[desk.keto], email="other@example.test", first_name="Olga"
    )
    services.close(actor_of(other), ticket, "Closed it on the phone.", now=desk.clock)  # meanwhile
    login(desk.clerk)
    response = post(
        client,
        ticket,
        "comment",
        headers=HX,
        version=str(seen_version),
        comment="My long careful answer to the customer.",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "This ticket changed while you were writing" in body
    assert "your comment is still in the box" in body
    assert "My long careful answer to the customer.</textarea>" in body
    assert "Closed it on the phone." in body  # the new state, with the other clerk's note
    assert f'name="version" value="{fresh(ticket).version}"' in body
    assert [e.kind for e in events_of(ticket)] == ["opened", "closed"]  # nothing of ours written
    # Without htmx the same answer comes as a whole page.
    full = post(
        client, ticket, "comment", version=str(seen_version), comment="My long careful answer."
    )
    assert full.status_code == 409 and "<html" in full.get_data(as_text=True)


def test_version_check_also_guards_against_a_race_at_write_time(
    client, login, desk, ticket_for, monkeypatch
):
    """Both clerks loaded the same version; the other one's write lands between our read and our
    write: the version column catches it at flush."""
    ticket = ticket_for(desk.keto, "tech_support")
    login(desk.clerk)
    real_apply = services._apply

    def racing_apply(t, state, now):
        db.session.execute(
            db.text("UPDATE tickets SET version = version + 1 WHERE id = :id"), {"id": t.id}
        )
        real_apply(t, state, now)

    monkeypatch.setattr(services, "_apply", racing_apply)
    response = post(
        client, ticket, "comment", headers=HX, comment="Answer written at the same time."
    )
    assert response.status_code == 409
    assert "Answer written at the same time.</textarea>" in response.get_data(as_text=True)
    monkeypatch.undo()
    assert db.session.scalar(select(func.count()).where(TicketEvent.ticket_id == ticket.id)) == 1


# --- what the page offers --------------------------------------------------------------------


def test_page_offers_only_what_the_user_may_do(client, login, desk, ticket_for):
    ticket = ticket_for(desk.keto, "refund")
    login(desk.clerk)  # Orders/Tickets only: may work tickets, not turn them into refunds
    html = page(client, ticket)
    assert 'data-testid="action-comment"' in html and 'data-testid="action-close"' in html
    assert 'data-testid="action-reopen"' not in html
    assert '<option value="tech_support"' in html and '<option value="cancel"' not in html
    assert "transactions/" in html  # order details and receipts (ticket-tied order)
    assert 'id="comment"' in html and 'data-enter-clicks="action-email-button"' in html


def test_finalized_ticket_offers_nothing_and_says_why(client, login, desk, ticket_for):
    ticket = ticket_for(desk.keto, "refund")
    services.run_due(ticket, now=ticket.next_action_at)  # processed …
    services.run_due(ticket, now=fresh(ticket).next_action_at)  # … and settled (both on weekdays)
    ticket = fresh(ticket)
    assert ticket.status == "closed" and ticket.refund_state == "finalized"
    login(desk.owner)
    html = page(client, ticket)
    assert 'id="ticket-actions"' not in html
    assert "already carried out" in html
    assert (
        post(client, ticket, "reopen", comment="Please reopen this.", headers=HX).status_code == 200
    )
    assert fresh(ticket).status == "closed"


def test_actions_notify_the_customer_and_the_vendor(client, login, desk, ticket_for):
    from portal.notifications.models import OutboxMessage

    ticket = ticket_for(desk.keto, email="erin@example.com")
    before = db.session.scalar(select(func.count(OutboxMessage.id)))
    login(desk.clerk)
    post(client, ticket, "comment", comment="Here is your new link.")
    recipients = sorted(
        db.session.scalars(
            select(OutboxMessage.recipient).order_by(OutboxMessage.id).offset(before)
        )
    )
    assert recipients == ["erin@example.com", "ketovital@vendor.test"]


def test_the_forms_carry_a_working_csrf_token(app, client, login, desk, ticket_for):
    """With CSRF on (as in production), the page's own token works and a missing one is refused."""
    ticket = ticket_for(desk.keto)
    login(desk.clerk)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        html = page(client, ticket)
        form = re.search(r'<form id="ticket-actions".*?</form>', html, re.S).group(0)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        refused = post(client, ticket, "comment", comment="No token with this one.")
        assert refused.status_code == 400
        ok = post(client, ticket, "comment", comment="Token from the page.", csrf_token=token)
        assert ok.status_code == 303
        header = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)  # what htmx sends
        ok_htmx = post(
            client,
            fresh(ticket),
            "comment",
            headers={**HX, "X-CSRFToken": header},
            comment="Token from the htmx header.",
        )
        assert ok_htmx.status_code == 200
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert [e.comment for e in events_of(ticket)][-2:] == [
        "Token from the page.",
        "Token from the htmx header.",
    ]


def test_a_queue_row_edit_that_crossed_another_change_keeps_the_input(
    client, login, desk, ticket_for
):
    ticket = ticket_for(desk.keto, email="old@example.com")
    seen = ticket.version
    services.add_comment(actor_of(desk.owner), ticket, "Owner answered meanwhile.", now=desk.clock)
    login(desk.clerk)
    response = post(
        client,
        ticket,
        "email",
        headers=HX,
        ctx="row",
        version=str(seen),
        new_email="new@example.com",
        comment="Customer wrote from a new address.",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert body.lstrip().startswith(f'<tbody id="ticket-{ticket.id}"')
    assert "This ticket changed while you were writing" in body
    assert (
        'value="new@example.com"' in body and 'value="Customer wrote from a new address."' in body
    )
    assert f'name="version" value="{fresh(ticket).version}"' in body
    assert fresh(ticket).customer_email == "old@example.com"


# --- email the receipt (issue 6 item 6: an action from the ticket needs a comment) ------------


def _receipt_mails(ticket):
    from portal.notifications.models import OutboxMessage

    return list(
        db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == "receipt", OutboxMessage.ticket_id == ticket.id
            )
        )
    )


def test_the_ticket_page_emails_the_receipt_as_a_ticket_action(client, login, desk, ticket_for):
    ticket = ticket_for(desk.keto, email="erin@example.com")
    login(desk.clerk)
    html = page(client, ticket)
    form = re.search(r'<form[^>]*id="email-receipt-form".*?</form>', html, re.S).group(0)
    assert f'action="/tickets/{ticket.id}/email-receipt"' in form
    assert 'name="comment"' in form and 'name="version"' in form
    assert "transactions/" not in form  # not the transaction route any more
    response = post(client, ticket, "email-receipt", comment="Customer lost the receipt mail.")
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/tickets/{ticket.id}"
    )
    [mail] = _receipt_mails(ticket)
    assert mail.recipient == "erin@example.com" and ticket.receipt in mail.subject
    last = events_of(ticket)[-1]
    assert (last.kind, last.comment, last.actor_user_id, last.to_value) == (
        "receipt_emailed",
        "Customer lost the receipt mail.",
        desk.clerk.id,
        "erin@example.com",
    )
    assert last.actor_kind == "clerk" and last.data == {"receipt": mail.subject.rsplit(" ", 1)[1]}
    html = page(client, ticket)
    assert f"Receipt {ticket.receipt} emailed to erin@example.com." in html
    assert "emailed the receipt to the customer" in html and "Customer lost the receipt mail." in html
    from portal.audit import AuditEvent

    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "receipt.emailed"))
    assert audit.actor_id == desk.clerk.id and audit.details["ticket_id"] == ticket.id


@pytest.mark.parametrize("comment", ["", "  ok   "])
def test_emailing_the_receipt_needs_a_comment_and_keeps_it_on_error(
    client, login, desk, ticket_for, comment
):
    ticket = ticket_for(desk.keto)
    login(desk.owner)
    response = post(client, ticket, "email-receipt", headers=HX, comment=comment)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    receipt_form = re.search(r'<form[^>]*id="email-receipt-form".*?</form>', body, re.S).group(0)
    assert "Please write a comment of at least 6 characters." in receipt_form
    assert re.search(r'<textarea id="receipt-comment"[^>]*>' + re.escape(comment) + "</textarea>", receipt_form)
    main = re.search(r'<form id="ticket-actions".*?</form>', body, re.S).group(0)
    assert "at least 6 characters.</div>" not in main  # the error sits with the receipt form
    assert _receipt_mails(ticket) == [] and len(events_of(ticket)) == 1
    plain = post(client, ticket, "email-receipt", comment=comment)  # without htmx: the page again
    assert plain.status_code == 200 and "<html" in plain.get_data(as_text=True)
    assert _receipt_mails(ticket) == []


def test_emailing_the_receipt_with_htmx_answers_the_ticket_fragment(client, login, desk, ticket_for):
    ticket = ticket_for(desk.keto, email="erin@example.com")
    login(desk.owner)
    response = post(client, ticket, "email-receipt", headers=HX, comment="Receipt sent again.")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<div id="ticket-main"')
    assert response.headers["HX-Trigger"] == "ticket-changed"
    assert "emailed to erin@example.com" in body
    assert re.search(r'<textarea id="receipt-comment"[^>]*></textarea>', body)
    assert len(_receipt_mails(ticket)) == 1


def test_emailing_the_receipt_after_the_ticket_changed_keeps_the_comment(
    client, login, desk, ticket_for
):
    ticket = ticket_for(desk.keto, email="old@example.com")
    seen = ticket.version
    services.change_email(
        actor_of(desk.owner), ticket, "new@example.com", "Customer has a new address.",
        now=desk.clock,
    )
    login(desk.clerk)
    response = post(
        client, ticket, "email-receipt", headers=HX, version=str(seen), comment="Sending the receipt."
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "Sending the receipt.</textarea>" in body
    assert "new@example.com" in body and _receipt_mails(ticket) == []


def test_emailing_the_receipt_is_for_those_who_work_the_ticket(client, login, desk, ticket_for, make):
    ticket = ticket_for(desk.keto)
    other = ticket_for(desk.mind)
    viewer = make.clerk(desk.owner, perms=("search_orders",), accounts=[desk.keto])
    login(desk.clerk)  # ketovital only
    assert post(client, other, "email-receipt", comment="Not my account.").status_code == 404
    client.post("/auth/logout")
    login(viewer)
    refused = post(client, ticket, "email-receipt", comment="I may only look.")
    assert refused.status_code in (403, 404)
    assert _receipt_mails(ticket) == [] and _receipt_mails(other) == []
    desk.mind.status = "removed"
    db.session.commit()
    client.post("/auth/logout")
    login(desk.owner)
    assert post(client, other, "email-receipt", comment="Removed account.").status_code == 403
    assert 'id="email-receipt-form"' not in page(client, other)


def test_a_queue_row_emails_the_receipt_with_a_comment(client, login, desk, ticket_for):
    """The row's menu opens a small form in the row: the same ticket action as on the ticket
    page (a comment, a history event, the version bumped), not a mail without a word."""
    ticket = ticket_for(desk.keto, email="erin@example.com")
    version = ticket.version
    login(desk.clerk)
    queue = client.get("/tickets/").get_data(as_text=True)
    row = re.search(rf'<tbody id="ticket-{ticket.id}".*?</tbody>', queue, re.S).group(0)
    assert f'hx-get="/tickets/{ticket.id}/email-receipt"' in row
    assert "/transactions/" not in row.split("PDF receipt")[1]  # no comment-less mail any more
    form = client.get(f"/tickets/{ticket.id}/email-receipt", headers=HX).get_data(as_text=True)
    assert form.lstrip().startswith(f'<tbody id="ticket-{ticket.id}"')
    assert f'hx-post="/tickets/{ticket.id}/email-receipt"' in form and 'name="ctx" value="row"' in form
    assert "erin@example.com" in form
    short = post(client, ticket, "email-receipt", headers=HX, ctx="row", comment="ok")
    body = short.get_data(as_text=True)
    assert body.lstrip().startswith(f'<tbody id="ticket-{ticket.id}"')
    assert "at least 6 characters" in body and 'value="ok"' in body
    assert _receipt_mails(ticket) == [] and len(events_of(ticket)) == 1
    done = post(client, ticket, "email-receipt", headers=HX, ctx="row", comment="Customer asked again.")
    body = done.get_data(as_text=True)
    assert body.lstrip().startswith(f'<tbody id="ticket-{ticket.id}"') and 'name="comment"' not in body
    assert f"Receipt {ticket.receipt} emailed to erin@example.com." in body
    assert done.headers["HX-Trigger"] == "ticket-changed"
    [mail] = _receipt_mails(ticket)
    assert mail.recipient == "erin@example.com"
    last = events_of(ticket)[-1]
    assert (last.kind, last.comment, last.actor_user_id) == (
        "receipt_emailed", "Customer asked again.", desk.clerk.id)
    # The version check holds here too: after a change the clerk did not see, the row says so
    # and keeps the comment, and nothing is sent.
    services.change_email(actor_of(desk.owner), ticket, "new@example.com", "Customer moved house.",
                          now=desk.clock)
    stale = post(client, ticket, "email-receipt", headers=HX, ctx="row", version=str(version),
                 comment="Sending it again.")
    body = stale.get_data(as_text=True)
    assert stale.status_code == 409 and body.lstrip().startswith(f'<tbody id="ticket-{ticket.id}"')
    assert 'value="Sending it again."' in body and "new@example.com" in body
    assert len(_receipt_mails(ticket)) == 1
    # Without JavaScript the row's link leads to the ticket page's Receipt card.
    assert (
        client.get(f"/tickets/{ticket.id}/email-receipt")
        .headers["Location"]
        .endswith(f"/tickets/{ticket.id}#ticket-receipt")
    )

def test_link_actors_may_not_email_the_receipt(desk, ticket_for):
    ticket = ticket_for(desk.keto)
    for actor in (services.Actor.customer(ticket), services.Actor.vendor_link(desk.keto)):
        with pytest.raises(services.NotAllowed):
            services.email_receipt(actor, ticket, "Please send it again.", now=desk.clock)
    with pytest.raises(services.Refused):
        services.email_receipt(actor_of(desk.owner), ticket, "short", now=desk.clock)
    assert _receipt_mails(ticket) == []
