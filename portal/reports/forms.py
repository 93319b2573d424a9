"""The filter bar every report shares: period, time zone, account and clerk (all in the URL)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.validators import NumberRange, Optional, ValidationError

from portal.reports.periods import DEFAULT_PRESET, PRESETS, zone_or_none


def _zone(form, field):
    if not zone_or_none(field.data):
        raise ValidationError("Choose a time zone from the list.")


class ReportFilters(FlaskForm):
    """GET form: no CSRF (nothing changes), every value in the query string."""

    class Meta:
        csrf = False

    period = SelectField("Period", choices=list(PRESETS.items()), default=DEFAULT_PRESET)
    start = DateField("From", name="from", validators=[Optional()])
    end = DateField("To", name="to", validators=[Optional()])
    tz = StringField("Time zone", validators=[_zone])
    account = SelectField("Account", choices=[("", "All accounts")], default="")
    clerk = SelectField("Clerk", choices=[("", "All clerks")], default="")
    page = IntegerField("Page", validators=[Optional(), NumberRange(1, 1_000_000)], default=1)

    def validate_start(self, field):
        if self.period.data == "custom" and field.data is None and not field.errors:
            raise ValidationError("Give the first day of the period.")

    def validate_end(self, field):
        if self.period.data == "custom" and field.data is None and not field.errors:
            raise ValidationError("Give the last day of the period.")
