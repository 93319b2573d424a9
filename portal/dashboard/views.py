"""Dashboard views."""
from portal.authz.permissions import Action
from portal.dashboard import bp
from portal.web.decorators import require
from portal.web.htmx import render


@bp.get("/")
@require(Action.TAB_DASHBOARD)
def index():
    return render("dashboard/index.html")
