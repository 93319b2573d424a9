"""The filter bar every report shares: period, time zone, account and clerk (all in the URL)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, StringField
from wtforms.validators import NumberRange, Optional, ValidationError

from portal.reports.periods import DEFAULT_PRESET, PRESETS, zone_or_none

NOT_A_CHOICE = "Not a valid choice."


def _zone(form, field):
    if not zone_or_none(field.data):
        raise ValidationError("Choose a time zone from the list.")


class ReportFilters(FlaskForm):
    """GET form: no CSRF (nothing changes), every value in the query string. The view fills in
    which accounts and clerks may be chosen (``account_choices``, ``clerk_choices``)."""

    class Meta:
        csrf = False

    period = StringField("Period", default=DEFAULT_PRESET)
    start = DateField("From", name="from", validators=[Optional()])
    end = DateField("To", name="to", validators=[Optional()])
    tz = StringField("Time zone", validators=[_zone])
    account = StringField("Account", default="")
    clerk = StringField("Clerk", default="")
    page = IntegerField("Page", validators=[Optional(), NumberRange(1, 1_000_000)], default=1)

    account_choices: list[tuple[str, str]] = [("", "All accounts")]
    clerk_choices: list[tuple[str, str]] = [("", "Everyone")]

    def validate_period(self, field):
        if (field.data or DEFAULT_PRESET) not in PRESETS:
            raise ValidationError(NOT_A_CHOICE)

    def validate_account(self, field):
        if (field.data or "") not in {value for value, _ in self.account_choices}:
            raise ValidationError(NOT_A_CHOICE)

    def validate_clerk(self, field):
        if (field.data or "") not in {value for value, _ in self.clerk_choices}:
            raise ValidationError(NOT_A_CHOICE)
