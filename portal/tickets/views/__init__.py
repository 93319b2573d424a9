"""Ticket views: the queue (``queue.py``) and the ticket page with its actions (``detail.py``)."""

from portal.tickets.views import detail, queue  # noqa: F401
