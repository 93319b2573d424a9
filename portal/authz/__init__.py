"""Who may do what: one policy (``policy.can``), one decorator, one scoping function."""
from portal.authz.permissions import Action, Perm  # noqa: F401
from portal.authz.policy import Principal, can  # noqa: F401
