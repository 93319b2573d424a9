"""Matrix entries of the Dashboard tab (owner only; DOMAIN.md §2)."""
from tests.authz.matrix import CLERKS, Case, each, logged_in

ROUTES = {
    "dashboard.index": {"GET": Case("/dashboard/", logged_in(200, **each(CLERKS, 403)))},
}
