"""Transactions views. (The search page and transaction pages are issue 8's work; the routes
below exist so other pages can link to them.)"""
from flask import abort

from portal.authz.permissions import Action
from portal.transactions import bp
from portal.web.decorators import require
from portal.web.htmx import render


@bp.get("/")
@require(Action.TAB_TRANSACTIONS)
def index():
    return render("transactions/index.html")


@bp.get("/<int:txn_id>")
def show(txn_id: int):
    abort(404)


@bp.get("/<int:txn_id>/receipt")
def receipt(txn_id: int):
    abort(404)


@bp.get("/<int:txn_id>/receipt.pdf")
def receipt_pdf(txn_id: int):
    abort(404)


@bp.post("/<int:txn_id>/email-receipt")
def email_receipt(txn_id: int):
    abort(404)
