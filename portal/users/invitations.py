"""The two emails the Users tab sends about a user's password: the invitation of a new web user
(they choose their own password) and a password reset started by the owner or a supervisor.

The auth package owns the set-password page (``auth.set_password``) and, once merged, its own
``portal.auth.services.send_invitation(user, now=...)``; when that exists it is used, so there is
one invitation mail. Until then this module issues the single-use token itself
(``portal.auth.tokens``) and queues ``templates/email/user_invitation.txt``. The link points at
``auth.set_password`` when that page exists, else at the login page.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from portal.auth import tokens
from portal.auth.models import TokenPurpose
from portal.notifications.mail import external_url, queue_email

INVITATION_TTL = timedelta(hours=72)  # a new clerk may not read mail the same day
RESET_TTL = timedelta(hours=24)


def _has_endpoint(name: str) -> bool:
    return name in current_app.view_functions


def _link(endpoints: tuple[str, ...], token: str) -> str:
    for endpoint in endpoints:
        if _has_endpoint(endpoint):
            if endpoint == "auth.login":
                return external_url(endpoint)
            return external_url(endpoint, token=token)
    raise RuntimeError("no page to link to")  # auth.login always exists


def _auth_service(name: str):
    try:
        from portal.auth import services
    except ImportError:  # pragma: no cover - auth is part of the portal
        return None
    return getattr(services, name, None)


def send_invitation(user, *, now: datetime, invited_by=None) -> None:
    """Email ``user`` a single-use link to choose their password (the caller commits)."""
    auth_send = _auth_service("send_invitation")
    if auth_send is not None:
        # The mail names whoever pressed "Resend invitation", not whoever created the user.
        auth_send(user, now=now, invited_by=invited_by)
        return
    token = tokens.issue(TokenPurpose.SET_PASSWORD, now=now, user=user, email=user.email,
                         ttl=INVITATION_TTL)
    queue_email(
        "user_invitation",
        to=user.email,
        subject="You have been invited to the Master Account Portal",
        context={
            "user": user,
            "invited_by": invited_by,
            "url": _link(("auth.set_password", "auth.login"), token),
            "expires_at": now + INVITATION_TTL,
        },
        master_account_id=user.master_account_id,
        now=now,
    )


def send_password_reset(user, *, now: datetime, requested_by=None) -> bool:
    """Email ``user`` a single-use link to choose a new password (the caller commits). Their
    current password keeps working until they use the link.

    ``requested_by`` is the owner or Manage-Users clerk who pressed "Reset password": the auth
    service then gives the link 24 h (not the 2 h of a self-service reset), names them in the mail
    and audits the reset as started by an admin. Returns False when nothing was sent (the user
    already got three links this hour: see :func:`reset_retry_at`)."""
    auth_send = _auth_service("send_password_reset")
    if auth_send is not None:
        return bool(auth_send(user, now=now, initiated_by=requested_by))
    token = tokens.issue(TokenPurpose.PASSWORD_RESET, now=now, user=user, email=user.email,
                         ttl=RESET_TTL)
    queue_email(
        "user_password_reset",
        to=user.email,
        subject="Reset your Master Account Portal password",
        context={
            "user": user,
            "requested_by": requested_by,
            "url": _link(("auth.reset_password", "auth.set_password", "auth.login"), token),
            "expires_at": now + RESET_TTL,
        },
        master_account_id=user.master_account_id,
        now=now,
    )
    return True


def reset_retry_at(user, *, now: datetime) -> datetime | None:
    """When the hourly cap on reset links (``auth.services.MAX_LINKS_PER_HOUR``) lets ``user``
    get another one: an hour after the link whose expiry from the window frees a place. None when
    the cap is not reached."""
    from sqlalchemy import select

    from portal.auth.models import OneTimeToken
    from portal.auth.services import MAX_LINKS_PER_HOUR
    from portal.extensions import db

    window = timedelta(hours=1)
    sent = db.session.scalars(
        select(OneTimeToken.created_at)
        .where(OneTimeToken.user_id == user.id,
               OneTimeToken.purpose == TokenPurpose.PASSWORD_RESET,
               OneTimeToken.created_at > now - window)
        .order_by(OneTimeToken.created_at)
    ).all()
    if len(sent) < MAX_LINKS_PER_HOUR:
        return None
    return sent[len(sent) - MAX_LINKS_PER_HOUR] + window
