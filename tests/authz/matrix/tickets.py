"""Matrix entries of the Tickets tab.

Every A clerk holds Orders/Tickets on A1: they see and work A1's tickets; A2's and B's are 404.
Actions answer 303 (Post/Redirect/Get) when done. Turning a ticket into a refund needs Refund
authority (403 for the other clerks). The account queue is scoped like its tickets.
"""

from datetime import timedelta

from sqlalchemy import select

from portal.auth.models import User
from portal.extensions import db
from portal.tickets import services
from portal.types import utcnow
from tests.authz.matrix import CLERKS, OWNERS, SINGLES, Case, each, logged_in, scoped
from tests.factories import T0

WORKERS = OWNERS + CLERKS
COMMENT = {"comment": "Matrix check: a comment long enough."}


def _ticket(suffix: str = "", collection: str = "ticket", fresh: bool = True):
    def url(w, o):
        ticket_id = w.fresh(collection, o) if fresh else w.id(collection, o)
        return f"/tickets/{ticket_id}{suffix}"

    return url


def _closed_ticket(world, obj):
    """A tech-support ticket its account's owner closed (to reopen)."""
    sale = world.make.sale(world.account(obj), at=T0)
    ticket = world.make.ticket(sale, now=T0 + timedelta(days=1))
    account = world.account(obj)
    owner = db.session.scalar(
        select(User).where(
            User.master_account_id == account.master_account_id, User.role == "owner"
        )
    )
    from portal.authz.scope import principal_for

    actor = services.Actor.for_user(owner, principal_for(owner))
    services.close(actor, ticket, "Closed for the matrix.", now=T0 + timedelta(days=2))
    return ticket.id


def _old_ticket(world, obj):
    """A tech-support ticket about a sale older than the vendor refund window (to escalate)."""
    sale = world.make.sale(world.account(obj), at=utcnow() - timedelta(days=120))
    return world.make.ticket(sale, now=utcnow() - timedelta(days=119)).id


BUILDERS = {"closed_ticket": _closed_ticket, "old_ticket": _old_ticket}

ROUTES = {
    # Without Orders/Tickets there is no Tickets tab (Search Orders alone included).
    "tickets.index": {"GET": Case("/tickets/", logged_in(200, **each(SINGLES, 403)))},
    "tickets.account_queue": {
        "GET": Case(
            lambda w, o: f"/accounts/{w.id('account', o)}/tickets",
            scoped(200, allowed=WORKERS, coarse=SINGLES),
        )
    },
    "tickets.show": {"GET": Case(_ticket(fresh=False), scoped(200, allowed=WORKERS, coarse=SINGLES))},
    # Without htmx the row and its email form lead to the ticket page (303).
    "tickets.row": {"GET": Case(_ticket("/row", fresh=False), scoped(303, allowed=WORKERS, coarse=SINGLES))},
    "tickets.email_form": {
        "GET": Case(_ticket("/email", fresh=False), scoped(303, allowed=WORKERS, coarse=SINGLES))
    },
    "tickets.receipt_form": {
        "GET": Case(_ticket("/email-receipt", fresh=False), scoped(303, allowed=WORKERS, coarse=SINGLES))
    },
    "tickets.comment": {
        "POST": Case(_ticket("/comment"), scoped(303, allowed=WORKERS, coarse=SINGLES), data=COMMENT)
    },
    "tickets.close": {"POST": Case(_ticket("/close"), scoped(303, allowed=WORKERS, coarse=SINGLES), data=COMMENT)},
    "tickets.change_type": {
        "POST": Case(
            _ticket("/type"),
            scoped(303, allowed=OWNERS + ("refunder",), coarse=SINGLES),
            data={**COMMENT, "to_type": "refund"},
        )
    },
    "tickets.reopen": {
        "POST": Case(
            _ticket("/reopen", "closed_ticket"), scoped(303, allowed=WORKERS, coarse=SINGLES), data=COMMENT
        )
    },
    "tickets.escalate": {
        "POST": Case(_ticket("/escalate", "old_ticket"), scoped(303, allowed=WORKERS, coarse=SINGLES), data=COMMENT)
    },
    # Emailing the receipt from the ticket page is a ticket action (a comment, a history event).
    "tickets.email_receipt": {
        "POST": Case(_ticket("/email-receipt"), scoped(303, allowed=WORKERS, coarse=SINGLES), data=COMMENT)
    },
    "tickets.change_email": {
        "POST": Case(
            _ticket("/email"),
            scoped(303, allowed=WORKERS, coarse=SINGLES),
            data={**COMMENT, "new_email": "changed@matrix.test"},
        )
    },
}
