"""Transactions views."""
from portal.transactions import bp
from portal.authz.permissions import Action
from portal.web.decorators import require
from portal.web.htmx import render


@bp.get("/")
@require(Action.TAB_TRANSACTIONS)
def index():
    return render("transactions/index.html")
