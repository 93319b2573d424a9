"""Issue 3 item 4: "every success, failure, lock and unlock is an audit row" -- including the
unlock a lock's expiry brings, whether or not anybody tries to log in afterwards."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.audit import AuditEvent
from portal.auth import services, stepup
from portal.auth.models import User
from portal.extensions import db
from tests.factories import PASSWORD, PIN, T0


def rows(kind: str, user=None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.event == kind).order_by(AuditEvent.id)
    if user is not None:
        query = query.where(AuditEvent.user_id == user.id)
    return list(db.session.scalars(query))


def lock_login(user, at):
    for i in range(services.MAX_FAILURES):
        try:
            services.authenticate(user.email, "wrong password", now=at + timedelta(seconds=i))
        except services.LoginFailed:
            pass
    db.session.refresh(user)
    assert user.locked_until == at + timedelta(seconds=services.MAX_FAILURES - 1) + services.LOCK_FOR
    return user.locked_until


def test_the_sweep_records_an_expired_login_lock_once_dated_when_it_ended(app, make):
    owner = make.owner()
    clerk = make.clerk(owner)
    until = lock_login(clerk, T0)
    assert services.record_expired_unlocks(until - timedelta(seconds=1)) == 0  # still locked
    assert rows("login.unlocked") == []
    assert services.record_expired_unlocks(until + timedelta(minutes=3)) == 1
    [row] = rows("login.unlocked", clerk)
    assert row.at == until and row.details == {"via": "expired"}
    assert row.master_account_id == owner.master_account_id
    assert db.session.get(User, clerk.id).locked_until is None
    assert services.record_expired_unlocks(until + timedelta(minutes=10)) == 0  # idempotent
    assert len(rows("login.unlocked")) == 1
    # The next login after the sweep writes no second unlock row.
    services.authenticate(clerk.email, PASSWORD, now=until + timedelta(hours=1))
    db.session.commit()
    assert len(rows("login.unlocked")) == 1 and len(rows("login.success", clerk)) == 1


def test_a_login_after_expiry_without_the_sweep_dates_the_unlock_at_the_expiry(app, make):
    owner = make.owner()
    clerk = make.clerk(owner)
    until = lock_login(clerk, T0)
    try:  # even a failed attempt after the expiry records the unlock first
        services.authenticate(clerk.email, "still wrong", now=until + timedelta(minutes=30))
    except services.LoginFailed:
        pass
    [row] = rows("login.unlocked", clerk)
    assert row.at == until and row.details == {"via": "expired"}
    assert row.id < rows("login.failure", clerk)[-1].id
    services.authenticate(clerk.email, PASSWORD, now=until + timedelta(hours=1))
    db.session.commit()
    assert services.record_expired_unlocks(until + timedelta(hours=2)) == 0
    assert len(rows("login.unlocked")) == 1


def test_step_up_blocks_and_recovery_locks_end_with_a_row_too(app, make):
    owner = make.owner()
    other = make.owner()
    owner.pin_locked_until = T0 + timedelta(minutes=10)
    owner.recovery_locked_until = T0 + timedelta(hours=1)
    other.pin_locked_until = T0 + timedelta(days=1)  # not yet over
    db.session.commit()
    assert services.record_expired_unlocks(T0 + timedelta(minutes=20)) == 1
    [unblocked] = rows("stepup.unblocked", owner)
    assert unblocked.at == T0 + timedelta(minutes=10)
    assert rows("recovery.unlocked") == []
    assert services.record_expired_unlocks(T0 + timedelta(hours=2)) == 1
    [unlocked] = rows("recovery.unlocked", owner)
    assert unlocked.at == T0 + timedelta(hours=1)
    assert db.session.get(User, other.id).pin_locked_until == T0 + timedelta(days=1)
    assert services.record_expired_unlocks(T0 + timedelta(hours=3)) == 0


def test_a_step_up_after_the_block_ended_records_the_unblock(app, make):
    owner = make.owner()
    owner.pin_locked_until = T0 + timedelta(minutes=10)
    db.session.commit()
    with app.test_request_context(method="POST"):
        assert stepup.verify(owner, PIN, T0 + timedelta(minutes=15))
    db.session.commit()
    [row] = rows("stepup.unblocked", owner)
    assert row.at == T0 + timedelta(minutes=10) and row.ip is None
    assert db.session.get(User, owner.id).pin_locked_until is None


def test_the_sweep_works_through_many_locks_in_batches(app, make):
    owner = make.owner()
    clerks = [make.clerk(owner) for _ in range(5)]
    for i, clerk in enumerate(clerks):
        clerk.locked_until = T0 + timedelta(minutes=i)
    db.session.commit()
    assert services.record_expired_unlocks(T0 + timedelta(hours=1), batch=2) == 5
    assert len(rows("login.unlocked")) == 5


def test_a_password_reset_after_the_lock_ran_out_does_not_claim_the_unlock(app, make):
    from portal.auth import recovery, tokens
    from portal.auth.models import TokenPurpose
    from tests.auth.conftest import GOOD_PASSWORD

    owner = make.owner()
    clerk = make.clerk(owner)
    until = lock_login(clerk, T0)
    with app.test_request_context(method="POST"):
        plaintext = tokens.issue(TokenPurpose.PASSWORD_RESET, user=clerk, email=clerk.email, now=until,
                                 ttl=timedelta(hours=2))
        db.session.commit()
        link = recovery.open_link(plaintext, [TokenPurpose.PASSWORD_RESET], now=until + timedelta(hours=1))
        recovery.complete_password(link, plaintext, GOOD_PASSWORD, now=until + timedelta(hours=1))
    [row] = rows("login.unlocked", clerk)
    assert row.at == until and row.details == {"via": "expired"}


def test_the_worker_records_expired_unlocks_every_minute_under_a_lease(app, make, monkeypatch):
    from portal import leases, tasks

    clerk = make.clerk(make.owner())
    until = lock_login(clerk, T0)
    monkeypatch.setattr(tasks, "utcnow", lambda: until + timedelta(minutes=1))
    assert leases.acquire("unlocks", "another-host:1", until, timedelta(minutes=5))
    tasks.record_expired_unlocks.call_local()
    assert rows("login.unlocked") == []  # another worker holds the lease
    leases.release("unlocks", "another-host:1")
    tasks.record_expired_unlocks.call_local()
    [row] = rows("login.unlocked", clerk)
    assert row.at == until
