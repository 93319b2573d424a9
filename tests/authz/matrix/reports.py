"""Matrix entries of the Reports tab (DOMAIN.md §10): the owner and clerks with Manage Users.
Affiliate performance is sales data, so it also needs Search Orders (the owner always has it).
Each owner's reports count their own accounts only; the clerk filter lists their own people."""
from tests.authz.matrix import Case, each, logged_in

# Manage Users alone is enough (``manager``); every other clerk is refused.
READERS = logged_in(200, **each(("clerk", "searcher", "refunder", "search_only", "refund_only",
                                 "api_reader"), 403))


def _no_foreign_accounts(w, who, obj, response):
    """Nothing of another Master Account's accounts: not in the account filter, the per-account
    tables, the comments or the drill-down lists."""
    if response.status_code != 200:
        return None
    theirs = ("matrixa1", "matrixa2") if who == "other_owner" else ("matrixb1",)
    if shown := [n for n in theirs if n in response.get_data(as_text=True)]:
        return f"shows another Master Account's {shown}"
    return None


ROUTES = {
    "reports.index": {"GET": Case("/reports/", READERS)},
    "reports.show": {
        "GET": Case("/reports/comments?period=90d", READERS, check=_no_foreign_accounts),
    },
    "reports.export": {
        "GET": Case("/reports/creation/export.csv?period=90d", READERS, check=_no_foreign_accounts),
    },
    "reports.drill": {
        "GET": Case("/reports/clerk-types/tickets?period=90d&col=total", READERS,
                    check=_no_foreign_accounts),
    },
}
