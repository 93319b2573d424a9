"""Reports views."""
from portal.reports import bp
from portal.authz.permissions import Action
from portal.web.decorators import require
from portal.web.htmx import render


@bp.get("/")
@require(Action.TAB_REPORTS)
def index():
    return render("reports/index.html")
