"""Matrix entries of the Transactions tab. The transaction pages are still stubs answering 404
to everyone logged in: the transactions feature replaces these statuses with its own."""
from tests.authz.matrix import Case, each, logged_in, objs

STUB = logged_in(objs(404, 404, 404))


def _txn(suffix: str = ""):
    return lambda w, o: f"/transactions/{w.id('transaction', o)}{suffix}"


ROUTES = {
    # Only Search Orders opens the tab (owners hold every permission).
    "transactions.index": {"GET": Case("/transactions/", logged_in(
        200, **each(("clerk", "refunder"), 403)))},
    "transactions.show": {"GET": Case(_txn(), STUB)},
    "transactions.receipt": {"GET": Case(_txn("/receipt"), STUB)},
    "transactions.receipt_pdf": {"GET": Case(_txn("/receipt.pdf"), STUB)},
    "transactions.email_receipt": {"POST": Case(_txn("/email-receipt"), STUB)},
}
