"""Signed-link ticket pages (vendor reply link, customer ticket link) and the order page."""
from flask import abort

from portal.support import bp
from portal.web.decorators import public


@bp.get("/s/v/<token>")
@public
def vendor_link(token: str):
    abort(404)


@bp.get("/s/c/<token>")
@public
def customer_link(token: str):
    abort(404)
