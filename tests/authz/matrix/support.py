"""Matrix entries of the pages reached without a login (the support feature): the vendor's and
the customer's signed ticket links, and the customer's order page.

None of them depends on who is logged in: a portal login neither opens them nor is needed, so
every principal gets the same answer. Signed links open (303 to a token-free URL) for tickets of
any account -- the token is the authority -- and a token naming no ticket is refused (404). The
token-free ticket pages answer 403 without the grant a link puts in the session, whether the
ticket exists or not (no way to probe ticket numbers). The order page without an order found by
receipt + email sends the visitor back to the lookup (303). The real flows, tampered and expired
tokens, limits and scoping are in tests/customer_support/.
"""
from datetime import timedelta

from tests.authz.matrix import Case, objs, public


def _ticket_token(purpose):
    def build(world, obj):
        from portal.extensions import db
        from portal.support import links
        from portal.tickets.models import Ticket

        sale = world.make.sale(world.account(obj), at=_recent())
        ticket = world.make.ticket(sale, now=_recent() + timedelta(hours=1))
        return links.make_token(purpose, db.session.get(Ticket, ticket.id))

    return build


def _recent():
    from portal.types import utcnow

    return utcnow() - timedelta(days=3)


def _order(world, obj):
    sale = world.make.sale(world.account(obj), at=_recent(), email=f"matrix{world.serial()}@buyer.test")
    return {"receipt": sale.receipt, "email": sale.customer_email}


BUILDERS = {
    "vendor_token": _ticket_token("vendor-ticket-link"),
    "customer_token": _ticket_token("customer-ticket-link"),
    "support_order": _order,
}

LINK = public(objs(303, 303, 303, 404))  # any ticket's signed link opens; no ticket, no page
NO_GRANT = public(objs(403, 403, 403, 403))  # without the link's grant: refused, even for a missing id
BACK_TO_LOOKUP = public(303)
COMMENT = {"comment": "Matrix comment long enough."}


def _ticket(suffix=""):
    return lambda side: (lambda w, o: f"/s/{side}/tickets/{w.id('ticket', o)}{suffix}")


ROUTES = {
    # The signed links themselves.
    "support.vendor_link": {"GET": Case(lambda w, o: f"/s/v/{w.id('vendor_token', o)}", LINK)},
    "support.customer_link": {"GET": Case(lambda w, o: f"/s/c/{w.id('customer_token', o)}", LINK)},
    # The token-free ticket pages and their actions need the grant in the session.
    "support.vendor_ticket": {"GET": Case(_ticket()("v"), NO_GRANT)},
    "support.vendor_reply": {"POST": Case(_ticket("/reply")("v"), NO_GRANT, data=COMMENT)},
    "support.vendor_close": {"POST": Case(_ticket("/close")("v"), NO_GRANT, data=COMMENT)},
    "support.customer_ticket": {"GET": Case(_ticket()("c"), NO_GRANT)},
    "support.customer_reply": {"POST": Case(_ticket("/reply")("c"), NO_GRANT, data=COMMENT)},
    "support.customer_change_type": {"POST": Case(_ticket("/change-type")("c"), NO_GRANT,
                                                  data={**COMMENT, "to_type": "refund"})},
    "support.customer_close": {"POST": Case(_ticket("/close")("c"), NO_GRANT, data=COMMENT)},
    # The order page: the lookup is for everybody; a right pair opens the order (303).
    "support.find": {
        "GET": Case("/support", public(200)),
        "POST": Case("/support", public(303), data=lambda w, who, o: w.id("support_order", "own")),
    },
    "support.leave": {"POST": Case("/support/leave", BACK_TO_LOOKUP)},
    # Without an order found in this session (each cell has a session of its own, so the lookup
    # above cannot leak into these): back to the lookup.
    "support.order": {"GET": Case("/support/order", BACK_TO_LOOKUP, fresh_session=True)},
    "support.order_invoice": {"GET": Case("/support/order/invoice", BACK_TO_LOOKUP, fresh_session=True)},
    "support.order_invoice_pdf": {"GET": Case("/support/order/invoice.pdf", BACK_TO_LOOKUP, fresh_session=True)},
    "support.order_invoice_email": {"POST": Case("/support/order/invoice/email", BACK_TO_LOOKUP,
                                                 fresh_session=True)},
    "support.order_email": {"POST": Case("/support/order/email", BACK_TO_LOOKUP, fresh_session=True,
                                         data={"email": "x@example.com", "confirm": "x@example.com"})},
    "support.order_request": {"POST": Case("/support/order/request", BACK_TO_LOOKUP, fresh_session=True,
                                           data={**COMMENT, "ticket_type": "tech_support"})},
}

