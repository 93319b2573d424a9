"""Field validators shared by the forms of every feature."""
from __future__ import annotations

import re

from wtforms.validators import ValidationError

# Pragmatic: one @, no spaces, a dot in the domain. Deliverability is proven by the mail we send.
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def is_email(value: str | None) -> bool:
    return bool(value) and len(value) <= 254 and EMAIL_RE.match(value.strip()) is not None


class EmailAddress:
    """WTForms validator: a plausible email address (``.test`` domains included)."""

    def __init__(self, message: str = "Please enter a valid email address."):
        self.message = message

    def __call__(self, form, field):
        if field.data and not is_email(field.data):
            raise ValidationError(self.message)
