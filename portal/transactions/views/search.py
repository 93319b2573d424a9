"""The search page (all accounts, or one account under its own URL), its count and the CSV."""

from __future__ import annotations

import csv
import io
import logging
import re
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Response, abort, request, stream_with_context, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from portal.accounts.models import AccountStatus, LinkedAccount
from portal.authz.permissions import Action
from portal.authz.policy import can
from portal.authz.scope import current_principal
from portal.extensions import db, limiter
from portal.transactions import bp, queries
from portal.transactions import search as finder
from portal.transactions.forms import SearchForm, choice
from portal.types import utcnow
from portal.web.decorators import require
from portal.web.htmx import is_fragment_request, render
from portal.web.templating import ZERO_DECIMAL, viewer_zone

log = logging.getLogger(__name__)
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def _user_key() -> str:
    return f"user:{getattr(current_user, 'id', None) or request.remote_addr}"


def _account_by_nickname(nickname: str) -> LinkedAccount:
    """One of the user's accounts by nickname (a linked one before a removed namesake)."""
    principal = current_principal()
    account = db.session.scalar(
        select(LinkedAccount)
        .where(LinkedAccount.nickname == nickname[:32], LinkedAccount.id.in_(principal.account_ids))
        .order_by((LinkedAccount.status == AccountStatus.LINKED).desc(), LinkedAccount.id.desc())
        .limit(1)
    )
    if account is None:
        abort(404)
    return account


def _form(fixed: LinkedAccount | None) -> tuple[SearchForm, finder.Filters, list[LinkedAccount]]:
    """The filter form with its choices, and the filters it gives."""
    principal = current_principal()
    form = SearchForm(request.args)
    accounts = queries.accounts_for(principal)
    form.account.choices = [choice("", "All accounts")] + [
        choice(str(a.id), a.nickname) for a in accounts
    ]
    if fixed is not None:
        scope = [fixed.id]
    elif (
        form.account.data
        and form.account.data.isdigit()
        and int(form.account.data) in principal.account_ids
    ):
        scope = [int(form.account.data)]
    else:
        scope = list(principal.account_ids)
    if is_fragment_request():
        # The form is not drawn, only checked: confirm the one product and currency asked for
        # instead of listing them all (this keeps typing fast).
        sku, currency = form.sku.data or "", form.currency.data or ""
        form.sku.choices = [choice("", "All products")] + (
            [choice(sku, sku)] if sku and queries.sku_exists(scope, sku) else []
        )
        form.currency.choices = [choice("", "Any")] + (
            [choice(currency, currency)] if CURRENCY_RE.match(currency) else []
        )
    else:
        names = {a.id: a.nickname for a in accounts}
        seen, products = set(), []
        for p in queries.products_for(scope):
            if p.sku not in seen:
                seen.add(p.sku)
                suffix = "" if len(scope) == 1 else f" ({names.get(p.linked_account_id, '')})"
                products.append(choice(p.sku, f"{p.sku} — {p.title}{suffix}"))
        form.sku.choices = [choice("", "All products")] + products
        form.currency.choices = [choice("", "Any")] + [
            choice(c, c) for c in queries.currencies_for(scope)
        ]
        if can(principal, Action.TRANSACTION_SEARCH_ALL):
            form.affiliate_choices = queries.affiliates_for(scope)
    form.validate()
    return form, form.to_filters(viewer_zone(), fixed.id if fixed else None), accounts


def _args_without(*names: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.args.items(multi=True) if k not in names and v != ""]


def _page(fixed: LinkedAccount | None):
    principal = current_principal()
    form, filters, accounts = _form(fixed)
    page = finder.search_page(principal, filters, request.args.get("after"))
    base = request.path
    query = _args_without("after")
    export_endpoint = (
        ("transactions.account_export", {"nickname": fixed.nickname})
        if fixed
        else ("transactions.export", {})
    )
    ctx = dict(
        form=form,
        filters=filters,
        page=page,
        fixed_account=fixed,
        accounts={a.id: a for a in accounts},
        type_labels=queries.TYPE_LABELS,
        reversals=queries.REVERSALS,
        base_url=base,
        first_url=base + ("?" + urlencode(query) if query else ""),
        next_url=base + "?" + urlencode(query + [("after", page.next_cursor)])
        if page.next_cursor
        else None,
        is_first_page=not request.args.get("after"),
        count_url=_count_url(fixed, query),
        row_urls=_row_urls(),
        export_url=url_for(export_endpoint[0], **export_endpoint[1])
        + ("?" + urlencode(query) if query else ""),
    )
    return render("transactions/index.html", block="results", **ctx)


def _row_urls() -> dict[str, str]:
    """Each row's links as patterns ("/transactions/%s"): built once, not 200 times a page."""
    return {
        name: url_for(endpoint, txn_id=987654321).replace("987654321", "%s")
        for name, endpoint in (
            ("show", "transactions.show"),
            ("receipt", "transactions.receipt"),
            ("pdf", "transactions.receipt_pdf"),
        )
    }


def _count_url(fixed: LinkedAccount | None, query: list[tuple[str, str]]) -> str:
    pairs = [(k, v) for k, v in query if not (fixed and k == "account")]
    if fixed:
        pairs.append(("account", str(fixed.id)))
    return url_for("transactions.count") + ("?" + urlencode(pairs) if pairs else "")


@bp.get("/")
@require(Action.TRANSACTION_SEARCH)
def index():
    """Search across every account the user may see; the results block updates as they type."""
    return _page(None)


@require(Action.TRANSACTION_SEARCH)
def account_search(nickname: str):
    """The same search, fixed to one account (its own URL, so windows do not interfere)."""
    return _page(_account_by_nickname(nickname))


@bp.get("/count")
@require(Action.TRANSACTION_SEARCH)
def count():
    """How many match (capped, within a time budget), loaded after the rows."""
    _, filters, _ = _form(None)
    result = finder.count(current_principal(), filters)
    # Only ever a fragment (the page asks for it after the rows arrive).
    return render_block("transactions/index.html", "count", result=result)


# ---------------------------------------------------------------------------------------------
# CSV export

CSV_HEADER = [
    "Date (UTC)",
    "Account",
    "Receipt",
    "Order receipt",
    "Type",
    "SKU",
    "Product",
    "Quantity",
    "Amount",
    "Shipping",
    "Tax",
    "Currency",
    "First name",
    "Last name",
    "Email",
    "Country",
    "Affiliate",
    "Payment method",
    "Tracking ID",
    "Transaction ID",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
FORMULA_CHARS = frozenset("=+-@\t\r\n")


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def _amount(cents, currency: str, sign: int = 1) -> str:
    """``cents`` as a plain decimal, negated when ``sign`` is -1 (money going back out)."""
    if cents is None:
        return ""
    cents *= sign
    if currency in ZERO_DECIMAL:
        return str(cents)
    minus = "-" if cents < 0 else ""
    return f"{minus}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _text(value):
    """:func:`safe_cell` for the text columns, inlined for speed (100,000s of cells)."""
    if value.__class__ is str and value and value[0] in FORMULA_CHARS:
        return "'" + value
    return value


def csv_lines(rows, nicknames: dict[int, str], tz: ZoneInfo):
    """The CSV text in pieces of a few hundred rows (a generator: nothing is held). Text cells
    are escaped; dates, amounts and ids are written by us and cannot start a formula. Refunds
    and chargebacks are negative, as on the page, so a spreadsheet's sum is the net. Each date
    is written in UTC and, as the page shows it, in the viewer's zone ``tz``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # so spreadsheet programs read the file as UTF-8
    writer.writerow([CSV_HEADER[0], f"Date ({tz.key})", *CSV_HEADER[1:]])
    for n, (
        occurred_at,
        account_id,
        receipt,
        sale_receipt,
        txn_type,
        sku,
        title,
        quantity,
        amount,
        shipping,
        tax,
        currency,
        first,
        last,
        email,
        country,
        affiliate,
        method,
        tracking,
        txn_id,
    ) in enumerate(rows, 1):  # the order of search.EXPORT_COLUMNS
        sign = -1 if txn_type in queries.REVERSALS else 1
        writer.writerow(
            (
                occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                occurred_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                _text(nicknames.get(account_id, "")),
                _text(receipt),
                _text(sale_receipt),
                _text(txn_type),
                _text(sku),
                _text(title),
                quantity,
                _amount(amount, currency, sign),
                _amount(shipping, currency, sign),
                _amount(tax, currency, sign),
                _text(currency),
                _text(first),
                _text(last),
                _text(email),
                _text(country),
                _text(affiliate),
                _text(method),
                _text(tracking),
                txn_id,
            )
        )
        if n % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _export(fixed: LinkedAccount | None):
    principal = current_principal()
    _, filters, accounts = _form(fixed)
    nicknames = {a.id: a.nickname for a in accounts}
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    scope = re.sub(r"[^a-z0-9-]", "", fixed.nickname.lower()) if fixed else "all-accounts"
    filename = f"transactions-{scope or 'account'}-{stamp}.csv"
    log.info("CSV export of transactions by user %s (%s)", principal.user_id, scope)
    rows = finder.export_rows(principal, filters)
    return Response(
        stream_with_context(csv_lines(rows, nicknames, filters.tz)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.get("/export.csv")
@require(Action.TRANSACTION_SEARCH)
@limiter.limit("20 per minute", key_func=_user_key)
def export():
    """The whole result as CSV, streamed row chunk by row chunk."""
    return _export(None)


@require(Action.TRANSACTION_SEARCH)
@limiter.limit("20 per minute", key_func=_user_key)
def account_export(nickname: str):
    return _export(_account_by_nickname(nickname))
