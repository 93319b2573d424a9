"""Accounts views. (Issue 4's work; ``show`` exists so other pages can link to an account.)"""
from flask import abort

from portal.accounts import bp
from portal.authz.permissions import Action
from portal.web.decorators import require
from portal.web.htmx import render


@bp.get("/")
@require(Action.TAB_ACCOUNTS)
def index():
    return render("accounts/index.html")


@bp.get("/<nickname>/")
@require(Action.TAB_ACCOUNTS)
def show(nickname: str):
    abort(404)
