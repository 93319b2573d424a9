"""Users services called directly: the checks hold even without the forms in front of them."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.audit import AuditEvent
from portal.authz.permissions import Perm
from portal.authz.scope import principal_for
from portal.extensions import db
from portal.users import services


def manager(user):
    return services.Manager(user, principal_for(user))


def test_a_clerk_without_manage_users_cannot_create_anyone(team, now):
    with pytest.raises(services.NotAllowed):
        services.create_user(manager(team.clerk), services.UserInput(
            email="x@team.test", first_name="X", last_name="Y", perms={Perm.ORDERS_TICKETS}), now=now)


def test_the_service_refuses_ungrantable_permissions_and_accounts_by_itself(team, now):
    data = services.UserInput(email="x@team.test", first_name="X", last_name="Y",
                              perms={Perm.REFUND_AUTHORITY}, account_ids={team.mind.id})
    with pytest.raises(services.Invalid) as refused:
        services.create_user(manager(team.supervisor), data, now=now)
    assert set(refused.value.errors) == {"perms", "accounts"}


def test_the_owner_cannot_grant_another_master_accounts_account(team, now):
    data = services.UserInput(email="x@team.test", first_name="X", last_name="Y",
                              perms={Perm.ORDERS_TICKETS}, account_ids={team.other_account.id})
    with pytest.raises(services.Invalid) as refused:
        services.create_user(manager(team.owner), data, now=now)
    assert "accounts" in refused.value.errors


def test_every_edit_refuses_the_owner_as_target(team, now):
    for call in (
        lambda m: services.update_permissions(m, team.owner, perms=set(), account_ids=set(), now=now),
        lambda m: services.update_details(m, team.owner, first_name="A", last_name="B", description="", now=now),
        lambda m: services.set_enabled(m, team.owner, False, now=now),
        lambda m: services.delete_user(m, team.owner, now=now),
        lambda m: services.reset_password(m, team.owner, now=now),
    ):
        with pytest.raises(services.NotAllowed):
            call(manager(team.owner))
        with pytest.raises(services.NotAllowed):
            call(manager(team.supervisor))
    db.session.refresh(team.owner)
    assert team.owner.is_enabled and team.owner.deleted_at is None


def test_a_supervisor_cannot_act_on_another_tenants_clerk(team, make, now):
    stranger = make.clerk(team.other_owner, accounts=[team.other_account])
    with pytest.raises(services.NotAllowed):
        services.set_enabled(manager(team.owner), stranger, False, now=now)


def test_saving_unchanged_permissions_records_nothing(team, now):
    changed = services.update_permissions(manager(team.owner), team.clerk, perms={Perm.ORDERS_TICKETS},
                                          account_ids={team.keto.id}, now=now)
    assert changed is False
    assert db.session.scalar(select(func.count(AuditEvent.id))) == 0


def test_a_deleted_users_email_is_freed_and_never_a_valid_login(team, make, now):
    long_email = ("x" * 60) + "@" + ("d" * 185) + ".test"
    user = make.clerk(team.owner, email=long_email)
    services.delete_user(manager(team.owner), user, now=now)
    assert len(user.email) <= 254 and user.email.endswith(f" (deleted #{user.id})")
    assert " " in user.email


def test_list_puts_the_owner_first_then_by_name(team, make):
    make.clerk(team.owner, email="aaron@team.test", first_name="Aaron", last_name="A")
    rows = services.list_users(principal_for(team.owner))
    assert [r.user.first_name for r in rows] == ["Olivia", "Aaron", "Sue", "Tina"]
    assert rows[0].editable is False and rows[1].editable is True
