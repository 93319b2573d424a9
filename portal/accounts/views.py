"""Accounts views."""
from portal.accounts import bp
from portal.authz.permissions import Action
from portal.web.decorators import require
from portal.web.htmx import render


@bp.get("/")
@require(Action.TAB_ACCOUNTS)
def index():
    return render("accounts/index.html")
