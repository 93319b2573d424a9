"""Forms of the Transactions tab: the search filters (read from the URL) and the actions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    Form,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.tickets.lifecycle import MIN_COMMENT_LENGTH
from portal.transactions.filters import Filters
from portal.transactions.queries import TYPE_LABELS
from portal.web.templating import ZERO_DECIMAL

try:  # WTForms 3.3 deprecates plain tuples as choices
    from wtforms.fields.choices import SelectChoice as _Choice
except ImportError:  # pragma: no cover - older WTForms
    from collections import namedtuple

    _Choice = namedtuple("_Choice", "value label")


def choice(value: str, label: str):
    """One option of a select, radio or checkbox group (``.value``, ``.label``)."""
    return _Choice(value, label)


MAX_AMOUNT = Decimal("10000000")  # 10 million in major units: far above any order


class Comment:
    """Every action needs a comment of at least 6 characters (spaces around it not counted)."""

    def __call__(self, form, field):
        if len((field.data or "").strip()) < MIN_COMMENT_LENGTH:
            raise ValidationError(
                f"Please write a comment of at least {MIN_COMMENT_LENGTH} characters."
            )


def comment_field(label="Comment"):
    return TextAreaField(label, validators=[Comment(), Length(max=5000)])


class SaneDate:
    """Dates a person could mean (years 2000–2100), so nothing overflows further down."""

    def __call__(self, form, field):
        if field.data is not None and not (date(2000, 1, 1) <= field.data <= date(2100, 12, 31)):
            raise ValidationError("Please enter a date between 2000 and 2100.")


class Amount(StringField):
    """A money amount in major units ("12.50"); ``data`` is a Decimal or None."""

    def process_formdata(self, valuelist):
        self.data = None
        raw = (valuelist[0] if valuelist else "").strip().replace(",", "")
        if not raw:
            return
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ValueError("Please enter an amount like 19.95.") from None
        if not value.is_finite() or value < 0 or value > MAX_AMOUNT:
            raise ValueError("Please enter an amount between 0 and 10,000,000.")
        self.data = value.quantize(Decimal("0.01"))

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


TYPE_CHOICES = [choice(value, label) for value, label in TYPE_LABELS.items()]
FIELD_CHOICES = [
    choice("auto", "Anything"),
    choice("receipt", "Receipt"),
    choice("email", "Customer email"),
    choice("name", "Customer name"),
]


class SearchForm(Form):
    """The filters. Read from the query string, so every search is a URL (no CSRF: it changes
    nothing). Choices for account, product and currency are set by the view."""

    q = StringField("Search", validators=[Optional(), Length(max=120)])
    field = SelectField("Search in", choices=FIELD_CHOICES, default="auto")
    date_from = DateField("From", validators=[Optional(), SaneDate()])
    date_to = DateField("To", validators=[Optional(), SaneDate()])
    types = MultiCheckboxField("Type", choices=TYPE_CHOICES)
    account = SelectField("Account", choices=[choice("", "All accounts")], default="")
    sku = SelectField("Product", choices=[choice("", "All products")], default="")
    affiliate = StringField("Affiliate", validators=[Optional(), Length(max=34)])  # 32 + quotes
    currency = SelectField("Currency", choices=[choice("", "Any")], default="")
    amount_min = Amount("Amount from")
    amount_max = Amount("to")
    include_test = BooleanField("Include test transactions")

    affiliate_choices: list[str] = []  # suggestions (the full page only), set by the view

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The end date is before the start date.")

    def validate_amount_max(self, field):
        if (
            field.data is not None
            and self.amount_min.data is not None
            and field.data < self.amount_min.data
        ):
            raise ValidationError("The upper amount is below the lower one.")

    def to_filters(self, tz: ZoneInfo, fixed_account: int | None = None) -> Filters:
        """The valid parts of the form as :class:`Filters` (a field with an error is left out,
        and the error is shown beside it)."""

        def ok(f):
            return not f.errors

        currency = self.currency.data if ok(self.currency) else ""
        factor = 1 if currency in ZERO_DECIMAL else 100

        def cents(f):
            return int(f.data * factor) if ok(f) and f.data is not None else None

        account_ids: tuple[int, ...] = ()
        if fixed_account is not None:
            account_ids = (fixed_account,)
        elif ok(self.account) and self.account.data:
            account_ids = (int(self.account.data),)
        return Filters(
            q=(self.q.data or "").strip() if ok(self.q) else "",
            field=self.field.data if ok(self.field) else "auto",
            date_from=self.date_from.data if ok(self.date_from) else None,
            date_to=self.date_to.data if ok(self.date_to) else None,
            types=tuple(self.types.data or ()) if ok(self.types) else (),
            sku=self.sku.data if ok(self.sku) else "",
            account_ids=account_ids,
            affiliate=(self.affiliate.data or "").strip().lower() if ok(self.affiliate) else "",
            currency=currency or "",
            amount_min=cents(self.amount_min),
            amount_max=cents(self.amount_max),
            include_test=bool(self.include_test.data),
            tz=tz,
        )

    @property
    def has_advanced(self) -> bool:
        return any(
            [
                self.date_from.data,
                self.date_to.data,
                self.types.data,
                self.sku.data,
                self.affiliate.data,
                self.currency.data,
                self.amount_min.data is not None,
                self.amount_max.data is not None,
                self.include_test.data,
                self.field.data not in (None, "", "auto"),
                self.account.data,
            ]
        )


# ---------------------------------------------------------------------------------------------
# Actions


class OpenTicketForm(FlaskForm):
    ticket_type = RadioField(
        "Ticket type",
        choices=[
            choice("tech_support", "Tech support"),
            choice("refund", "Refund"),
            choice("cancel", "Cancellation"),
        ],
        default="tech_support",
        validators=[InputRequired(message="Please choose the kind of ticket.")],
    )
    comment = comment_field("What is it about?")
    escalate = BooleanField("Escalate: refund although the sale is older than the vendor window")


class EmailReceiptForm(FlaskForm):
    next = HiddenField()


class TicketStepForm(FlaskForm):
    """Record a return step, hand off or process: a comment and the version the clerk saw."""

    comment = comment_field()
    step = HiddenField()
    expected_version = HiddenField()
    next = HiddenField()


class CancelSubscriptionForm(FlaskForm):
    comment = comment_field("Reason")


class PauseSubscriptionForm(FlaskForm):
    restart_on = DateField(
        "Restart on", validators=[InputRequired(message="Please pick a restart date."), SaneDate()]
    )
    comment = comment_field("Reason")


class ResumeSubscriptionForm(FlaskForm):
    next_bill_on = DateField("Next bill date", validators=[Optional(), SaneDate()])
    comment = comment_field("Reason")


class ChangeBillDateForm(FlaskForm):
    next_bill_on = DateField(
        "New next bill date",
        validators=[InputRequired(message="Please pick the new date."), SaneDate()],
    )
    comment = comment_field("Reason")
