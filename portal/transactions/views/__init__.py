"""Views of the Transactions tab, one module per page."""

from portal.transactions.views import detail, handoff, search, subscription  # noqa: F401
