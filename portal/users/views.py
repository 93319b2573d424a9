"""Users views."""
from portal.users import bp
from portal.authz.permissions import Action
from portal.web.decorators import require
from portal.web.htmx import render


@bp.get("/")
@require(Action.TAB_USERS)
def index():
    return render("users/index.html")
