"""View decorators: ``@public`` (no login needed) and ``@require(Action.X)`` (login + policy).

Every endpoint needs a logged-in user unless it is marked ``@public``: the check runs before
every request (``web.init_app``), so a view cannot forget it.
"""
from __future__ import annotations

from functools import wraps

from flask import abort

from portal.authz.permissions import Action
from portal.authz.policy import can
from portal.authz.scope import current_principal


def public(view):
    """Mark a view as reachable without logging in (login, sign-up, health, signed links...)."""
    view._public = True
    return view


def require(*actions: Action):
    """Allow the view only if the policy allows every one of ``actions`` (coarse check; object
    checks happen in the loaders)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            principal = current_principal()
            if principal is None:
                abort(401)
            for action in actions:
                if not can(principal, action):
                    abort(403)
            return view(*args, **kwargs)

        wrapped._required = actions
        return wrapped

    return decorator
