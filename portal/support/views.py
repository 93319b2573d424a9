"""Pages reached without logging in (DOMAIN.md §7, §8; SECURITY.md S31).

* ``/s/v/<token>``: the vendor's mailed link. Opens that one ticket for a reply or to close it.
* ``/s/c/<token>``: the customer's mailed link. Their view of the ticket: reply, turn tech support
  into a refund (or cancellation), withdraw a request, close.
* ``/support``: the customer's order page of sandbox accounts, found with receipt + email.

A token is checked (signature, purpose, age, ticket, email) on the first GET, moved into the
session as a grant for that one ticket, and the browser is redirected to a URL without it. Every
response here carries ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``. Replies
are rate-limited per ticket and address; the lookup counts only failed attempts. Nothing here logs
anybody in, so clerk routes stay out of reach. Every use of the vendor link is audited.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address

from portal import audit
from portal.db_setup import writing
from portal.extensions import db, limiter
from portal.support import access, bp, i18n, links
from portal.support import services as support
from portal.tickets import services as ticket_services
from portal.tickets.lifecycle import Refused, TicketType
from portal.types import utcnow
from portal.web.decorators import public
from portal.web.errors import alert_fragment
from portal.web.htmx import is_fragment_request, redirect_to, render

REPLY_LIMIT = "20 per hour"
LOOKUP_LIMIT_PER_ADDRESS = "10 per 15 minutes"
LOOKUP_LIMIT_PER_RECEIPT = "20 per hour"
LINK_OPEN_LIMIT = "60 per minute"
MAX_COMMENT = 10_000
VENDOR_REFUSALS = {
    "invalid": ("This link does not work", (
        "The link is incomplete or was changed. Open it again from the ticket email, or log in to "
        "the portal to work on the ticket.")),
    "expired": ("This link has expired", (
        "Reply links work for 14 days. Log in to the portal to work on the ticket.")),
    "ended": ("Your access has ended", (
        "Access through the email link lasts two hours. Open the link from the email again, or "
        "log in to the portal.")),
    "closed": ("This ticket is closed", (
        "Reply links stop working when a ticket closes. Log in to the portal to see the ticket or "
        "to reopen it.")),
    "closed_since": ("This link no longer works", (
        "The ticket closed after this link was sent, and a reply link stays closed even when the "
        "ticket is reopened. Use the link in the newest email about the ticket, or log in to the "
        "portal.")),
}


@bp.after_request
def _private(response):
    """Pages whose URL once held a token, and pages with a customer's order: never leak the URL
    to other sites, never cache, never index."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.before_request
def _language_switch():
    """``?lang=de`` on any customer page picks the language, then the URL is clean again."""
    code = request.args.get("lang")
    if request.method != "GET" or code is None:
        return None
    if code in i18n.LOCALES:
        access.choose_locale(code)
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    here = url_for(request.endpoint, **(request.view_args or {}))  # never a foreign host
    return redirect(here + (f"?{urlencode(rest)}" if rest else ""), 303)


@bp.errorhandler(429)
def _too_many(error):
    t = i18n.translator(access.chosen_locale() or "en")
    if is_fragment_request():
        body = render_template("errors/_alert.html", status=429, title=t("err.rate_limited"), message="")
        return body, 429, {"HX-Retarget": "#page-alerts", "HX-Reswap": "afterbegin"}
    if request.endpoint == "support.find":
        return _find_page(t, error=t("find.too_many"), status=429)
    return render("support/message.html", t=t, title=t("err.rate_limited"), message=t("err.rate_limited"),
                  side="customer", status=429), 429


# --- helpers ------------------------------------------------------------------------------------

def _reply_key() -> str:
    return f"support-reply:{request.view_args.get('ticket_id')}:{get_remote_address()}"


def _receipt_key() -> str:
    return f"support-lookup:{(request.form.get('receipt') or '').strip().upper()[:40]}"


def _lookup_failed(response) -> bool:
    """Only failed lookups count (a found order redirects; a miss re-renders the form with 200)."""
    return response.status_code == 200


def _comment() -> str:
    return (request.form.get("comment") or "")[:MAX_COMMENT]


def _record(event: str, ticket=None, *, now, **details) -> None:
    """An audit row in its own short write transaction (GETs only read otherwise)."""
    db.session.commit()
    with writing():
        audit.record(
            event, now=now,
            master_account_id=ticket.linked_account.master_account_id if ticket is not None else None,
            ticket_id=ticket.id if ticket is not None else None,
            linked_account_id=ticket.linked_account_id if ticket is not None else None,
            **details,
        )
        db.session.commit()


def _customer_locale(default: str | None) -> i18n.Translator:
    return i18n.translator(access.chosen_locale() or default or request.accept_languages.best_match(i18n.LOCALES))


def _refused(side: str, reason: str, *, status: int, ticket=None):
    """The one clear page for a link that cannot be used."""
    t = _customer_locale(ticket.locale if ticket is not None else None) if side == "customer" else i18n.translator("en")
    if side == "customer":
        title, message = {
            "invalid": (t("link.invalid.title"), t("link.invalid")),
            "expired": (t("link.expired.title"), t("link.expired")),
            "ended": (t("link.ended.title"), t("link.ended")),
        }[reason]
    else:
        title, message = VENDOR_REFUSALS[reason]
    if is_fragment_request():  # an htmx call: a message in the page's alert area, as elsewhere
        return alert_fragment(status, title, message)
    return render("support/message.html", t=t, title=title, message=message, side=side, reason=reason,
                  status=status), status


# --- the vendor's link --------------------------------------------------------------------------

@bp.get("/s/v/<token>")
@public
@limiter.limit(LINK_OPEN_LIMIT)
def vendor_link(token: str):
    now = utcnow()
    try:
        data, expires_at = links.read_token(links.VENDOR, token, now=now)
    except links.LinkInvalid as exc:
        _record("support.link_refused", now=now, side="vendor", reason="expired" if exc.expired else "invalid")
        return _refused("vendor", "expired" if exc.expired else "invalid", status=410 if exc.expired else 404)
    ticket = support.load_ticket(data.get("t"))
    if not links.matches(links.VENDOR, data, ticket):
        _record("support.link_refused", now=now, side="vendor", reason="mismatch")
        return _refused("vendor", "invalid", status=404)
    if ticket.is_closed or links.closed_since(data, ticket):
        reason = "closed" if ticket.is_closed else "closed_since"
        _record("support.vendor_link.refused_closed", ticket, now=now, reason=reason)
        return _refused("vendor", reason, status=410)
    access.grant_ticket("vendor", ticket, now=now, token_expires_at=expires_at, closes=data.get("c", 0))
    _record("support.vendor_link.opened", ticket, now=now)
    return redirect(url_for("support.vendor_ticket", ticket_id=ticket.id), 303)


def _vendor_ticket(ticket_id: int, now):
    ticket = support.load_ticket(ticket_id)
    if ticket is None or not access.ticket_granted("vendor", ticket, now=now):
        return None, _refused("vendor", "ended", status=403)
    if ticket.is_closed or links.closed_since(access.granted_data("vendor", ticket.id), ticket):
        access.drop_grant("vendor", ticket.id)
        return None, _refused("vendor", "closed" if ticket.is_closed else "closed_since", status=410)
    return ticket, None


def _vendor_page(ticket, *, now, errors=None, form=None, status=200):
    from portal.tickets.lifecycle import Party, may_close

    state = ticket_services.state_of(ticket)
    needs_consent = (TicketType(ticket.ticket_type).is_money and ticket.refund_state == "requested"
                     and not ticket.vendor_initiated)
    closable = may_close(state, by=Party.VENDOR, now=now, customer_agreed=True)
    return render(
        "support/vendor_ticket.html", ticket=ticket, account=ticket.linked_account, order=ticket.transaction,
        t=i18n.translator("en"), side="vendor", errors=errors or {}, form=form or {}, now=now,
        needs_consent=needs_consent, closable=closable,
    ), status


@bp.get("/s/v/tickets/<int:ticket_id>")
@public
def vendor_ticket(ticket_id: int):
    now = utcnow()
    ticket, refusal = _vendor_ticket(ticket_id, now)
    if refusal:
        return refusal
    # The link is "audited on every use" (issue 7): reading the ticket through it is a use too,
    # one row per page view (a reload is another look at the customer's data).
    _record("support.vendor_link.viewed", ticket, now=now)
    return _vendor_page(ticket, now=now)


@bp.post("/s/v/tickets/<int:ticket_id>/reply")
@public
@limiter.limit(REPLY_LIMIT, key_func=_reply_key)
def vendor_reply(ticket_id: int):
    now = utcnow()
    ticket, refusal = _vendor_ticket(ticket_id, now)
    if refusal:
        return refusal
    comment = _comment()
    audit.record("support.vendor_link.replied", now=now, master_account_id=ticket.linked_account.master_account_id,
                 ticket_id=ticket.id, linked_account_id=ticket.linked_account_id)
    try:
        ticket_services.add_comment(ticket_services.Actor.vendor_link(ticket.linked_account), ticket, comment,
                                    now=now, expected_version=request.form.get("version"))
    except (Refused, ticket_services.Conflict, ticket_services.NotAllowed) as exc:
        db.session.rollback()
        ticket = support.load_ticket(ticket_id)
        _record("support.vendor_link.refused", ticket, now=now, action="reply", code=getattr(exc, "code", "conflict"))
        return _vendor_page(ticket, now=now, errors={"reply": _vendor_error(exc)}, form={"reply": comment})
    flash("Your reply was sent to the customer.", "success")
    return redirect_to(url_for("support.vendor_ticket", ticket_id=ticket.id))


@bp.post("/s/v/tickets/<int:ticket_id>/close")
@public
@limiter.limit(REPLY_LIMIT, key_func=_reply_key)
def vendor_close(ticket_id: int):
    now = utcnow()
    ticket, refusal = _vendor_ticket(ticket_id, now)
    if refusal:
        return refusal
    comment = _comment()
    agreed = request.form.get("customer_agreed") in ("y", "on", "1", "true")
    audit.record("support.vendor_link.closed", now=now, master_account_id=ticket.linked_account.master_account_id,
                 ticket_id=ticket.id, linked_account_id=ticket.linked_account_id, customer_agreed=agreed)
    try:
        ticket_services.close(ticket_services.Actor.vendor_link(ticket.linked_account), ticket, comment, now=now,
                              customer_agreed=agreed, expected_version=request.form.get("version"))
    except (Refused, ticket_services.Conflict, ticket_services.NotAllowed) as exc:
        db.session.rollback()
        ticket = support.load_ticket(ticket_id)
        _record("support.vendor_link.refused", ticket, now=now, action="close", code=getattr(exc, "code", "conflict"))
        return _vendor_page(ticket, now=now, errors={"close": _vendor_error(exc)},
                            form={"close": comment, "customer_agreed": agreed})
    access.drop_grant("vendor", ticket.id)
    return render("support/message.html", t=i18n.translator("en"), side="vendor", reason="done",
                  title=f"Ticket #{ticket.id} is closed",
                  message="The customer was notified by email. This link no longer works.")


def _vendor_error(exc: Exception) -> str:
    if isinstance(exc, ticket_services.Conflict):
        return "The ticket changed in the meantime (see below). Please check it and try again."
    if isinstance(exc, ticket_services.NotAllowed):
        return "This link cannot do that."
    return exc.message


# --- the customer's link ------------------------------------------------------------------------

@bp.get("/s/c/<token>")
@public
@limiter.limit(LINK_OPEN_LIMIT)
def customer_link(token: str):
    now = utcnow()
    try:
        data, expires_at = links.read_token(links.CUSTOMER, token, now=now)
    except links.LinkInvalid as exc:
        _record("support.link_refused", now=now, side="customer", reason="expired" if exc.expired else "invalid")
        return _refused("customer", "expired" if exc.expired else "invalid", status=410 if exc.expired else 404)
    ticket = support.load_ticket(data.get("t"))
    if not links.matches(links.CUSTOMER, data, ticket):
        _record("support.link_refused", now=now, side="customer", reason="mismatch")
        return _refused("customer", "invalid", status=404)
    access.grant_ticket("customer", ticket, now=now, token_expires_at=expires_at)
    _record("support.customer_link.opened", ticket, now=now)
    return redirect(url_for("support.customer_ticket", ticket_id=ticket.id), 303)


def _customer_may_see(ticket, now) -> bool:
    if ticket is None:
        return False
    if access.ticket_granted("customer", ticket, now=now):
        return True
    order = support.load_order(access.order_id(now=now))
    return (order is not None and access.order_matches(order)
            and ticket.linked_account_id == order.linked_account_id and ticket.receipt == order.sale_receipt)


def _customer_ticket(ticket_id: int, now):
    ticket = support.load_ticket(ticket_id)
    if not _customer_may_see(ticket, now):
        return None, _refused("customer", "ended", status=403, ticket=None)
    access.touch_order(now=now)
    return ticket, None


def _customer_page(ticket, *, now, errors=None, form=None, status=200):
    t = _customer_locale(ticket.locale)
    account = ticket.linked_account
    order_id = access.order_id(now=now)
    events = [e for e in ticket.events if e.kind in _visible_kinds()]
    return render(
        "support/customer_ticket.html", ticket=ticket, account=account, order=ticket.transaction, t=t,
        side="customer", events=events, options=support.customer_options(ticket, now=now), errors=errors or {},
        form=form or {}, now=now, next_line=_next_line(t, ticket),
        has_order=order_id is not None and order_id == ticket.transaction_id,
    ), status


def _visible_kinds():
    from portal.tickets.notify import CUSTOMER_VISIBLE

    return CUSTOMER_VISIBLE


def _next_line(t, ticket):
    from portal.tickets.notify import _next_sentence

    return _next_sentence(t, ticket, ticket.linked_account.timezone)


@bp.get("/s/c/tickets/<int:ticket_id>")
@public
def customer_ticket(ticket_id: int):
    now = utcnow()
    ticket, refusal = _customer_ticket(ticket_id, now)
    if refusal:
        return refusal
    return _customer_page(ticket, now=now)


def _customer_action(ticket_id: int, form_name: str, act):
    now = utcnow()
    ticket, refusal = _customer_ticket(ticket_id, now)
    if refusal:
        return refusal
    comment = _comment()
    t = _customer_locale(ticket.locale)
    try:
        message = act(ticket, comment, now, t)
    except (Refused, ticket_services.Conflict, ticket_services.NotAllowed, ValueError) as exc:
        db.session.rollback()
        ticket = support.load_ticket(ticket_id)
        return _customer_page(ticket, now=now, errors={form_name: support.customer_error(t, exc, ticket)},
                              form={form_name: comment, "to_type": request.form.get("to_type")})
    flash(message, "success")
    return redirect_to(url_for("support.customer_ticket", ticket_id=ticket_id))


@bp.post("/s/c/tickets/<int:ticket_id>/reply")
@public
@limiter.limit(REPLY_LIMIT, key_func=_reply_key)
def customer_reply(ticket_id: int):
    def act(ticket, comment, now, t):
        ticket_services.add_comment(ticket_services.Actor.customer(ticket), ticket, comment, now=now,
                                    expected_version=request.form.get("version"))
        return t("ticket.replied")

    return _customer_action(ticket_id, "reply", act)


@bp.post("/s/c/tickets/<int:ticket_id>/change-type")
@public
@limiter.limit(REPLY_LIMIT, key_func=_reply_key)
def customer_change_type(ticket_id: int):
    def act(ticket, comment, now, t):
        to_type = TicketType(request.form.get("to_type") or "")
        ticket_services.change_type(ticket_services.Actor.customer(ticket), ticket, to_type, comment, now=now,
                                    expected_version=request.form.get("version"))
        return t("ticket.changed", type=t.type(to_type.value))

    return _customer_action(ticket_id, "change", act)


@bp.post("/s/c/tickets/<int:ticket_id>/close")
@public
@limiter.limit(REPLY_LIMIT, key_func=_reply_key)
def customer_close(ticket_id: int):
    def act(ticket, comment, now, t):
        ticket_services.close(ticket_services.Actor.customer(ticket), ticket, comment, now=now,
                              expected_version=request.form.get("version"))
        return t("ticket.closed_ok")

    return _customer_action(ticket_id, "close", act)


# --- the order page -------------------------------------------------------------------------------

def _find_page(t, *, error=None, form=None, status=200):
    return render("support/find.html", t=t, side="customer", error=error, form=form or {}), status


@bp.route("/support", methods=["GET", "POST"])
@public
@limiter.limit(LOOKUP_LIMIT_PER_ADDRESS, methods=["POST"], deduct_when=_lookup_failed)
@limiter.limit(LOOKUP_LIMIT_PER_RECEIPT, methods=["POST"], key_func=_receipt_key, deduct_when=_lookup_failed)
def find():
    now = utcnow()
    t = _customer_locale(None)
    if request.method == "GET":
        if support.load_order(access.order_id(now=now)) is not None:
            return redirect(url_for("support.order"), 303)
        return _find_page(t)
    receipt = (request.form.get("receipt") or "")[:60]
    email = (request.form.get("email") or "")[:254]
    form = {"receipt": receipt, "email": email}
    if not receipt.strip() or not email.strip():
        return _find_page(t, error=t("find.required"), form=form)
    order = support.find_order(receipt, email)
    if order is None:
        return _find_page(t, error=t("find.not_found"), form=form)
    access.end_order()
    access.start_order(order, now=now)
    if access.chosen_locale() is None:
        access.choose_locale(i18n.normalize(order.locale))
    return redirect_to(url_for("support.order"))


def _current_order(now):
    order = support.load_order(access.order_id(now=now))
    if order is None or not access.order_matches(order):
        return None
    access.touch_order(now=now)
    return order


def _no_order():
    t = _customer_locale(None)
    if access.had_order_session():
        access.end_order()
    flash(t("session.ended"), "warning")
    return redirect_to(url_for("support.find"))


def _order_page(order, *, now, errors=None, form=None, status=200):
    t = _customer_locale(order.locale)
    view = support.order_view(order, now=now)
    return render("support/order.html", t=t, side="customer", view=view, order=order, account=view.account,
                  errors=errors or {}, form=form or {}, now=now,
                  next_lines={tk.id: _next_line(t, tk) for tk in view.tickets}), status


@bp.get("/support/order")
@public
def order():
    now = utcnow()
    order = _current_order(now)
    if order is None:
        return _no_order()
    return _order_page(order, now=now)


@bp.post("/support/order/request")
@public
@limiter.limit(REPLY_LIMIT, key_func=lambda: f"support-request:{get_remote_address()}")
def order_request():
    now = utcnow()
    order = _current_order(now)
    if order is None:
        return _no_order()
    t = _customer_locale(order.locale)
    kind = request.form.get("ticket_type") or ""
    comment = _comment()
    try:
        ticket = support.request_ticket(order, kind, comment, locale=t.locale, now=now)
    except (Refused, ticket_services.NotAllowed) as exc:
        db.session.rollback()
        key = f"request_{kind if kind in ('tech_support', 'refund', 'cancel') else 'other'}"
        return _order_page(order, now=now, errors={key: support.customer_error(t, exc, order)}, form={key: comment})
    flash(t("req.opened", id=ticket.id), "success")
    return redirect_to(url_for("support.customer_ticket", ticket_id=ticket.id))


@bp.post("/support/order/email")
@public
@limiter.limit("10 per hour", key_func=lambda: f"support-email:{get_remote_address()}")
def order_email():
    now = utcnow()
    order = _current_order(now)
    if order is None:
        return _no_order()
    t = _customer_locale(order.locale)
    new, confirm = request.form.get("email", "")[:254], request.form.get("confirm", "")[:254]
    try:
        email = support.change_order_email(order, new, confirm, locale=t.locale, now=now)
    except support.EmailRefused as exc:
        db.session.rollback()
        return _order_page(order, now=now, errors={"email": t(exc.key)}, form={"email": new, "confirm": confirm,
                                                                                "email_open": True})
    except (Refused, ticket_services.Conflict, ticket_services.NotAllowed) as exc:
        db.session.rollback()
        return _order_page(order, now=now, errors={"email": support.customer_error(t, exc, order)},
                           form={"email": new, "confirm": confirm, "email_open": True})
    access.follow_email(order)
    flash(t("email.changed", email=email), "success")
    return redirect_to(url_for("support.order"))


@bp.post("/support/order/invoice/email")
@public
@limiter.limit("5 per hour", key_func=lambda: f"support-invoice:{get_remote_address()}")
def order_invoice_email():
    now = utcnow()
    order = _current_order(now)
    if order is None:
        return _no_order()
    t = _customer_locale(order.locale)
    support.email_invoice(order, locale=t.locale, now=now)
    flash(t("act.invoice_sent", email=order.customer_email), "success")
    return redirect_to(url_for("support.order"))


@bp.get("/support/order/invoice")
@public
def order_invoice():
    now = utcnow()
    order = _current_order(now)
    if order is None:
        return _no_order()
    t = _customer_locale(order.locale)
    view = support.order_view(order, now=now)
    return render("support/invoice.html", t=t, side="customer", view=view, **support.invoice_context(view))


@bp.get("/support/order/invoice.pdf")
@public
@limiter.limit("60 per hour", key_func=lambda: f"support-invoice-pdf:{get_remote_address()}")
def order_invoice_pdf():
    """The invoice of the order as a PDF download (the same document a clerk downloads from the
    transaction page), for the visitor whose session found this order with receipt + email."""
    from flask import Response

    from portal.transactions import receipts

    now = utcnow()
    order = _current_order(now)
    if order is None:
        return _no_order()
    data = receipts.build(order)
    return Response(
        receipts.render_pdf(data),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{data.filename}"'},
    )


@bp.post("/support/leave")
@public
def leave():
    access.end_order()
    return redirect_to(url_for("support.find"))
