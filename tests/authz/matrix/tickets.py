"""Matrix entries of the Tickets tab."""
from tests.authz.matrix import CLERKS, OWNERS, Case, logged_in, scoped

ROUTES = {
    "tickets.index": {"GET": Case("/tickets/", logged_in(200))},
    # Every A clerk holds Orders/Tickets on A1: they see A1's ticket, and A2's and B's are 404.
    "tickets.show": {"GET": Case(lambda w, o: f"/tickets/{w.id('ticket', o)}",
                                 scoped(200, allowed=OWNERS + CLERKS))},
}
