"""Purchase receipts: one :class:`Receipt` built from a transaction, shown as a page, a PDF
(fpdf2: text and lines drawn locally, nothing fetched) and an email through the outbox.

What the customer gets (the PDF and the mail) speaks the order's language (``Transaction.locale``:
English, German, Spanish; the words come from ``portal.support.i18n``, like the ticket mail and
the order page's invoice). The receipt page inside the portal is for the vendor and stays in
English (``build(txn, locale="en")``)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF

from portal import audit
from portal.accounts.models import LinkedAccount
from portal.extensions import db
from portal.notifications.mail import queue_email
from portal.support import i18n
from portal.transactions.models import Transaction
from portal.web.templating import ZERO_DECIMAL, local, money

TITLE_KINDS = ("SALE", "BILL", "RFND", "CGBK", "FEE")
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/local/share/fonts",
)


@dataclass
class Line:
    title: str
    sku: str
    quantity: int
    amount_cents: int


@dataclass
class Receipt:
    number: str
    title: str
    is_test: bool
    is_reversal: bool
    vendor: str
    support_email: str
    issued_at: datetime
    timezone: str
    customer_name: str
    customer_email: str
    customer_country: str
    customer_postal_code: str
    payment_method: str
    currency: str
    subtotal_cents: int
    shipping_cents: int
    tax_cents: int
    total_cents: int
    lines: list[Line] = field(default_factory=list)
    sale_receipt: str = ""
    locale: str = "en"

    @property
    def t(self) -> i18n.Translator:
        """The words of the receipt in its language (``t("rcpt.number")``, ``t.money(...)``)."""
        return i18n.translator(self.locale)

    @property
    def issued_local(self) -> str:
        if self.locale == "en":
            return local(self.issued_at, self.timezone, "%B %d, %Y %H:%M %Z")
        return i18n.datetime_(self.issued_at, self.timezone, self.locale)

    def money(self, cents: int) -> str:
        """An amount as the customer reads it ($47.00; 47,00 $ in German and Spanish)."""
        if self.locale == "en":
            return money(cents, self.currency)
        return i18n.money(cents, self.currency, self.locale)

    @property
    def filename(self) -> str:
        """A server-chosen file name: only letters, digits and dashes from the receipt."""
        return "receipt-" + (re.sub(r"[^A-Za-z0-9-]", "", self.number) or "order") + ".pdf"


def build(txn: Transaction, *, locale: str | None = None) -> Receipt:
    """The receipt of ``txn`` in ``locale`` (default: the order's language)."""
    account: LinkedAccount = txn.linked_account
    kind = txn.base_type.value
    code = i18n.normalize(locale or txn.locale)
    t = i18n.translator(code)
    lines = [Line(i.title, i.sku, i.quantity, i.amount_cents) for i in txn.items]
    extras = (txn.shipping_cents or 0) + (txn.tax_cents or 0)
    if not lines:
        lines = [
            Line(
                txn.product_title or "Order",
                txn.sku or "",
                txn.quantity or 1,
                txn.amount_cents - extras,
            )
        ]
    return Receipt(
        number=txn.receipt,
        title=t(f"rcpt.title.{kind if kind in TITLE_KINDS else 'SALE'}"),
        is_test=txn.is_test,
        is_reversal=kind in ("RFND", "CGBK"),
        vendor=account.nickname,
        support_email=account.notification_email,
        issued_at=txn.occurred_at,
        timezone=account.timezone,
        customer_name=txn.customer_name,
        customer_email=txn.customer_email,
        customer_country=txn.customer_country or "",
        customer_postal_code=txn.customer_postal_code or "",
        payment_method=txn.payment_method or "",
        currency=txn.currency,
        subtotal_cents=txn.amount_cents - extras,
        shipping_cents=txn.shipping_cents or 0,
        tax_cents=txn.tax_cents or 0,
        total_cents=txn.amount_cents,
        lines=lines,
        sale_receipt=txn.sale_receipt,
        locale=code,
    )


# ---------------------------------------------------------------------------------------------
# PDF


@lru_cache(maxsize=1)
def _unicode_fonts() -> tuple[str, str] | None:
    """DejaVu Sans (regular, bold) when the system has it, so any name prints correctly."""
    for folder in FONT_DIRS:
        regular, bold = Path(folder, "DejaVuSans.ttf"), Path(folder, "DejaVuSans-Bold.ttf")
        if regular.is_file() and bold.is_file():
            return str(regular), str(bold)
    return None


# Latin letters that Unicode does not decompose into a base letter and a mark.
UNDECOMPOSABLE = {
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Œ": "OE",
    "œ": "oe",
    "ı": "i",
    "Ħ": "H",
    "ħ": "h",
    "Ŧ": "T",
    "ŧ": "t",
    "€": "EUR",
    "–": "-",
    "—": "-",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "…": "...",
}


def _latin1(text: str) -> str:
    """For the built-in PDF font: keep Latin-1, simplify the rest (Ł → L, ă → a), else '?'."""
    out = []
    for ch in text:
        try:
            ch.encode("latin-1")
            out.append(ch)
        except UnicodeEncodeError:
            base = UNDECOMPOSABLE.get(ch) or unicodedata.normalize("NFKD", ch).encode(
                "latin-1", "ignore"
            ).decode("latin-1")
            out.append(base or "?")
    return "".join(out)


class _ReceiptPDF(FPDF):
    def __init__(self, unicode_fonts: tuple[str, str] | None):
        super().__init__(format="A4", unit="mm")
        if unicode_fonts:
            self.add_font("body", "", unicode_fonts[0])
            self.add_font("body", "B", unicode_fonts[1])
            self.family, self.clean = "body", (lambda s: s)
        else:
            self.family, self.clean = "Helvetica", _latin1
        self.set_auto_page_break(True, margin=18)
        self.set_margins(18, 18, 18)

    def font(self, size: float, bold: bool = False, grey: bool = False):
        self.set_font(self.family, "B" if bold else "", size)
        self.set_text_color(*((107, 114, 128) if grey else (17, 24, 39)))

    def line_text(self, text: str, size=10, bold=False, grey=False, align="L", h=5.5):
        self.font(size, bold, grey)
        self.cell(0, h, self.clean(text), new_x="LMARGIN", new_y="NEXT", align=align)


def pdf_money(cents: int, currency: str, unicode_ok: bool, locale: str = "en") -> str:
    if unicode_ok:
        return money(cents, currency) if locale == "en" else i18n.money(cents, currency, locale)
    units = cents if currency in ZERO_DECIMAL else cents / 100
    text = f"{units:,.{0 if currency in ZERO_DECIMAL else 2}f}"
    if locale != "en":  # 1.234,50 in German and Spanish
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return f"{text} {currency}"


def render_pdf(receipt: Receipt, *, force_builtin_font: bool = False) -> bytes:
    """The receipt as a one-page A4 PDF."""
    fonts = None if force_builtin_font else _unicode_fonts()
    pdf = _ReceiptPDF(fonts)
    uni = fonts is not None

    t = receipt.t

    def m(cents):
        return pdf_money(cents, receipt.currency, uni, receipt.locale)

    pdf.set_title(pdf.clean(f"{receipt.title} {receipt.number}"))
    pdf.set_author(pdf.clean(receipt.vendor))
    pdf.set_creator("Master Account Portal")
    pdf.add_page()
    pdf.set_fill_color(67, 56, 202)
    pdf.rect(0, 0, 210, 6, style="F")
    test = f" ({t('rcpt.test')})" if receipt.is_test else ""
    pdf.line_text(receipt.title + test, size=20, bold=True, h=10)
    pdf.line_text(f"{t('rcpt.number')}: {receipt.number}", size=12, bold=True, h=7)
    if receipt.sale_receipt and receipt.sale_receipt != receipt.number:
        pdf.line_text(f"{t('rcpt.order')}: {receipt.sale_receipt}", grey=True)
    pdf.line_text(f"{t('rcpt.date')}: {receipt.issued_local}", grey=True)
    pdf.ln(4)

    top = pdf.get_y()
    pdf.font(9, bold=True, grey=True)
    pdf.cell(87, 5, pdf.clean(t("rcpt.sold_by").upper()), new_x="RIGHT", new_y="TOP")
    pdf.cell(0, 5, pdf.clean(t("rcpt.billed_to").upper()), new_x="LMARGIN", new_y="NEXT")
    left = [receipt.vendor, t("rcpt.through"), receipt.support_email]
    right = [
        receipt.customer_name,
        receipt.customer_email,
        " ".join(p for p in (receipt.customer_postal_code, receipt.customer_country) if p),
    ]
    for a, b in zip(left, right):
        pdf.font(10)
        pdf.cell(87, 5.5, pdf.clean(a), new_x="RIGHT", new_y="TOP")
        pdf.cell(0, 5.5, pdf.clean(b), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), top + 22) + 4)

    pdf.set_draw_color(228, 230, 239)
    pdf.font(9, bold=True, grey=True)
    widths = (92, 38, 14, 30)
    heads = [t(key).upper() for key in ("rcpt.item", "rcpt.sku", "rcpt.qty", "rcpt.amount")]
    for width, head, align in zip(widths, heads, "LLRR"):
        pdf.cell(width, 7, pdf.clean(head), border="B", align=align, new_x="RIGHT", new_y="TOP")
    pdf.ln(7)
    for line in receipt.lines:
        pdf.font(10)
        pdf.cell(widths[0], 7, pdf.clean(line.title)[:60], border="B", new_x="RIGHT", new_y="TOP")
        pdf.cell(widths[1], 7, pdf.clean(line.sku)[:24], border="B", new_x="RIGHT", new_y="TOP")
        pdf.cell(
            widths[2], 7, str(line.quantity), border="B", align="R", new_x="RIGHT", new_y="TOP"
        )
        pdf.cell(
            widths[3], 7, m(line.amount_cents), border="B", align="R", new_x="LMARGIN", new_y="NEXT"
        )
    pdf.ln(2)
    totals = [(t("invoice.subtotal"), receipt.subtotal_cents)]
    if receipt.shipping_cents:
        totals.append((t("invoice.shipping"), receipt.shipping_cents))
    if receipt.tax_cents:
        totals.append((t("invoice.tax"), receipt.tax_cents))
    for label, cents in totals:
        pdf.font(10, grey=True)
        pdf.cell(sum(widths[:3]), 6, pdf.clean(label), align="R", new_x="RIGHT", new_y="TOP")
        pdf.font(10)
        pdf.cell(widths[3], 6, m(cents), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.font(12, bold=True)
    total_label = t("rcpt.total_refunded") if receipt.is_reversal else t("invoice.total")
    pdf.cell(sum(widths[:3]), 8, pdf.clean(total_label), align="R", new_x="RIGHT", new_y="TOP")
    pdf.cell(widths[3], 8, m(receipt.total_cents), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    if receipt.payment_method:
        pdf.line_text(t("rcpt.payment_method", method=receipt.payment_method), grey=True)
    pdf.ln(6)
    pdf.font(9, grey=True)
    pdf.multi_cell(
        0,
        4.5,
        pdf.clean(
            t("rcpt.retailer") + " "
            + t("rcpt.contact", vendor=receipt.vendor, email=receipt.support_email)
        ),
    )
    return bytes(pdf.output())


# ---------------------------------------------------------------------------------------------
# Email


def queue_receipt(
    txn: Transaction,
    *,
    now: datetime,
    user=None,
    ticket_id: int | None = None,
    next_bill_at: datetime | None = None,
    plan_finished: bool = False,
    dedupe: str | None = None,
) -> Receipt:
    """Queue the receipt mail of ``txn`` to its customer, in the order's language. A rebill's
    mail also says when the next payment is (``next_bill_at``) or that the plan is finished.
    A receipt a person sends (``user``: the ticket page's action, with its comment, and the
    Transactions tab) gets a ``receipt.emailed`` audit row; the biller's rebill receipts do not.
    The caller records any ticket event and commits."""
    receipt = build(txn)
    account = txn.linked_account
    t = receipt.t
    # "Your receipt from …" in English; German and Spanish start with the title itself.
    title = receipt.title.lower() if receipt.locale == "en" else receipt.title
    subject = t("rcpt.subject", title=title, vendor=receipt.vendor, number=receipt.number)
    note = None
    if next_bill_at is not None and txn.subscription is not None:
        sub = txn.subscription
        note = t(
            "rcpt.next_payment",
            amount=receipt.money(sub.rebill_cents),
            date=t.date(next_bill_at, account.timezone),
        )
    elif plan_finished:
        note = t("rcpt.plan_finished")
    queue_email(
        "receipt",
        to=txn.customer_email,
        subject=subject,
        context={"receipt": receipt, "account": account, "t": t, "lang": t.locale, "note": note},
        now=now,
        linked_account_id=account.id,
        master_account_id=account.master_account_id,
        ticket_id=ticket_id,
        dedupe=dedupe,
    )
    if user is not None:
        details = {"ticket_id": ticket_id} if ticket_id is not None else {}
        audit.record(
            "receipt.emailed",
            actor=user,
            master_account_id=account.master_account_id,
            now=now,
            transaction_id=txn.id,
            receipt=receipt.number,
            **details,
        )
    return receipt


def email_receipt(user, txn: Transaction, *, now: datetime) -> str:
    """Queue the receipt to the customer from the Transactions tab and commit. Returns the
    address it went to. The caller checked permissions. (From a ticket, the ticket action
    ``tickets.services.email_receipt`` sends it and records it in the history.)"""
    queue_receipt(txn, now=now, user=user)
    db.session.commit()
    return txn.customer_email
