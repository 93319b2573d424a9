"""The ticket queue: every active account's tickets (or one account's, removed ones included),
filters in the URL, keyset pages, and the inline "change customer email" of a row."""

from __future__ import annotations

from flask import abort, request, url_for
from flask_wtf.csrf import generate_csrf

from portal.accounts.models import AccountStatus, LinkedAccount
from portal.authz.permissions import Action
from portal.authz.policy import can
from portal.authz.scope import current_principal, load_or_404
from portal.extensions import db
from portal.tickets import bp, forms, presenters, queries
from portal.tickets.models import Ticket
from portal.types import utcnow
from portal.web.decorators import require
from portal.web.htmx import is_fragment_request, redirect_to, render
from portal.web.templating import viewer_zone


@bp.get("/")
@require(Action.TAB_TICKETS)
def index():
    """The cross-account queue; htmx asks for the results block only."""
    return _queue()


@require(Action.TAB_TICKETS)
def account_queue(nickname: str):
    """One linked account's queue (registered at /accounts/<nickname>/tickets)."""
    return _queue(nickname)


def _queue(nickname: str | None = None):
    principal = current_principal()
    accounts = queries.visible_accounts(principal.account_ids)
    account = None
    if nickname is not None:
        account = queries.account_by_nickname(accounts, nickname)
        if account is None:
            abort(404)
    # The owner reaches one account's queue from the Accounts tab: it carries that account's
    # header and sub-navigation there (clerks have no Accounts tab).
    account_page = None
    if account is not None and can(principal, Action.TAB_ACCOUNTS) and not is_fragment_request():
        account_page = db.session.get(LinkedAccount, account.id)
    form, filt = forms.queue_filter(request.args, accounts, fixed_account=account)
    # Removed accounts are read only and their timers stopped: the all-accounts queue leaves
    # them out; choosing one (vendor filter, its own queue) or a search still reaches them.
    page = queries.search(
        principal.account_ids,
        filt,
        cursor=request.args.get("after"),
        active_ids=principal.active_account_ids,
    )
    by_id = {a.id: a for a in accounts}
    removed_accounts = [a for a in accounts if a.status == AccountStatus.REMOVED]
    chosen = by_id.get(filt.account_id) if filt.account_id is not None else None
    links = row_links()
    now, zone = utcnow(), viewer_tz()
    rows = [present(t, by_id[t.linked_account_id], links, now=now, zone=zone) for t in page.tickets]
    endpoint = "tickets.account_queue" if account else "tickets.index"
    here = {"nickname": account.nickname} if account else {}
    args = _filter_args()
    return render(
        "tickets/index.html",
        block="results",
        form=form,
        filt=filt,
        page=page,
        account=account,
        account_page=account_page,
        account_list=accounts,
        active_count=len(accounts) - len(removed_accounts),
        removed_accounts=removed_accounts,
        chosen_removed=chosen if chosen and chosen.status == AccountStatus.REMOVED else None,
        rows=rows,
        sort_labels=queries.SORT_LABELS,
        action_url=url_for(endpoint, **here),
        next_url=url_for(endpoint, **here, **args, after=page.next_cursor)
        if page.next_cursor
        else None,
        first_url=url_for(endpoint, **here, **args)
        if page.cursor and not is_fragment_request()
        else None,
        links=links,
        csrf=generate_csrf(),
        all_statuses_url=url_for(
            endpoint, **here, **{**args, "status": ["open", "reopened", "closed"]}
        ),
    )


def _filter_args() -> dict[str, list[str]]:
    """The filters of this request without the page cursor (for the next and first page links)."""
    kept = {}
    for key in ("q", "type", "product", "status", "vendor", "sort", "f"):
        values = [v for v in request.args.getlist(key) if v]
        if values:
            kept[key] = values
    return kept


_ID = 987654321
MAX_ID = 2**31 - 1  # ids are INTEGER columns; a larger number is a 404, not a database error


def load_ticket(ticket_id: int, action: Action) -> Ticket:
    """The ticket in the user's accounts (404 outside them, 403 without ``action``)."""
    if not 0 < ticket_id <= MAX_ID:
        abort(404)
    return load_or_404(Ticket, ticket_id, action)


def viewer_tz() -> str:
    """The zone the viewer reads times in (the ``local`` filter's default)."""
    return viewer_zone().key


def row_links() -> dict[str, str]:
    """The links of a queue row as ``%d`` templates: one ``url_for`` per link and page instead of
    per link and row (on a page of 50 rows that was most of the rendering time)."""

    def template(endpoint: str, key: str, **kw) -> str:
        return url_for(endpoint, **{key: _ID}, **kw).replace(str(_ID), "%d")

    return {
        "show": template("tickets.show", "ticket_id"),
        "email_anchor": template("tickets.show", "ticket_id", _anchor="change-email"),
        "email_form": template("tickets.email_form", "ticket_id"),
        "change_email": template("tickets.change_email", "ticket_id"),
        "row": template("tickets.row", "ticket_id"),
        "order": template("transactions.show", "txn_id"),
        "pdf": template("transactions.receipt_pdf", "txn_id"),
        "receipt_anchor": template("tickets.show", "ticket_id", _anchor="ticket-receipt"),
        "receipt_form": template("tickets.receipt_form", "ticket_id"),
        "email_receipt": template("tickets.email_receipt", "ticket_id"),
        "queue": url_for("tickets.index"),
    }


STOPPED = presenters.Expiration(
    "Stopped",
    "none",
    title="The account was removed: the portal no longer runs this ticket's timers",
)


def present(ticket: Ticket, account, links: dict[str, str], *, now=None, zone: str | None = None):
    """A ticket as the queue prints it (``presenters.row``), with this user's permissions. A
    removed account's timers no longer run (the sweep skips it): no countdown to a step that
    never comes."""
    principal = current_principal()
    row = presenters.row(
        ticket,
        account,
        now=now or utcnow(),
        viewer_tz=zone or viewer_tz(),
        url=links["show"] % ticket.id,
        may_see_order=can(principal, Action.TRANSACTION_VIEW, ticket),
        may_work=can(principal, Action.TICKET_WORK, ticket),
    )
    if account.status == AccountStatus.REMOVED and row.expiration.at is not None:
        row.expiration = STOPPED
    return row


def row_context(ticket: Ticket, **extra) -> dict:
    """What the ``ticket_row`` block needs when it is rendered alone."""
    links = row_links()
    return {
        "row": present(ticket, ticket.linked_account, links),
        "links": links,
        "csrf": generate_csrf(),
        **extra,
    }


@bp.get("/<int:ticket_id>/row")
@require(Action.TICKET_VIEW)
def row(ticket_id: int):
    """One queue row (the inline email form's Cancel)."""
    ticket = load_ticket(ticket_id, Action.TICKET_VIEW)
    if not is_fragment_request():
        return redirect_to(url_for("tickets.show", ticket_id=ticket.id))
    return render("tickets/index.html", block="ticket_row", **row_context(ticket))


@bp.get("/<int:ticket_id>/email")
@require(Action.TICKET_WORK)
def email_form(ticket_id: int):
    """The queue row with its "change customer email" form open (without JavaScript: the
    ticket page's form)."""
    return _row_form(ticket_id, "email", "change-email")


@bp.get("/<int:ticket_id>/email-receipt")
@require(Action.TICKET_WORK)
def receipt_form(ticket_id: int):
    """The queue row with its "email receipt" form open: emailing the receipt is a ticket
    action, so it asks for the comment the history records (without JavaScript: the ticket
    page's Receipt card)."""
    return _row_form(ticket_id, "receipt", "ticket-receipt")


def _row_form(ticket_id: int, kind: str, anchor: str):
    ticket = load_ticket(ticket_id, Action.TICKET_WORK)
    if not is_fragment_request():
        return redirect_to(url_for("tickets.show", ticket_id=ticket.id, _anchor=anchor))
    form = forms.ActionForm(formdata=None, version=ticket.version, ctx="row")
    return render(
        "tickets/index.html", block="ticket_row", **row_context(ticket, edit_form=form, edit_kind=kind)
    )
