"""Matrix entries of the Reports tab (owner and Manage-Users clerks)."""
from tests.authz.matrix import Case, each, logged_in

ROUTES = {
    "reports.index": {"GET": Case("/reports/", logged_in(
        200, **each(("clerk", "searcher", "refunder"), 403)))},
}
