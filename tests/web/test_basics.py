"""Login-by-default, error pages for pages and htmx, security headers, the health check."""
from __future__ import annotations

from tests.conftest import HX


def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_says_why_when_the_database_is_gone(client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from portal.extensions import db

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("unable to open database file"))

    monkeypatch.setattr(db.session, "execute", down)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "reason": "database: OperationalError"}


def test_pages_need_login_and_send_people_to_the_login_page(client):
    response = client.get("/tickets/")
    assert response.status_code == 302
    assert "/auth/login?next=" in response.headers["Location"]


def test_htmx_request_with_expired_session_gets_401_and_hx_redirect(client):
    response = client.get("/tickets/", headers=HX)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/auth/login")


def test_unknown_url_gets_a_friendly_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "Not found" in body and "Traceback" not in body and "<html" in body


def test_unknown_url_from_htmx_gets_a_fragment_aimed_at_the_alert_area(client):
    response = client.get("/no/such/page", headers=HX)
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#page-alerts"
    assert "<html" not in response.get_data(as_text=True)


def test_security_headers_on_every_html_page(client):
    response = client.get("/auth/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert "HX-Request" in response.headers["Vary"]


def test_crash_in_a_view_gives_a_clean_500_and_rolls_back(app, client, make):
    from portal.accounts.models import MasterAccount
    from portal.extensions import db

    @app.post("/boom")
    def boom():
        db.session.add(MasterAccount(created_at=__import__("portal.types").types.utcnow()))
        db.session.flush()
        raise RuntimeError("kaboom")

    boom._public = True
    response = client.post("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "kaboom" not in body and "Traceback" not in body
    assert db.session.query(MasterAccount).count() == 0


def test_missing_csrf_token_gets_a_clear_page(app, make):
    app.config["WTF_CSRF_ENABLED"] = True
    owner = make.owner()
    response = app.test_client().post("/auth/login", data={"email": owner.email, "password": "x"})
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    import pytest

    from portal import create_app

    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="PORTAL_SECRET_KEY"):
        create_app({"ENV": "production", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.db"})


def test_development_generates_a_secret_key_into_the_instance_folder(monkeypatch, tmp_path):
    from portal import create_app

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    first = create_app({"ENV": "development"}).config["SECRET_KEY"]
    second = create_app({"ENV": "development"}).config["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "inst" / "secret_key").stat().st_mode & 0o077 == 0


def test_dev_mailbox_exists_only_in_development(client):
    assert client.get("/dev/mail/").status_code == 404


def test_an_id_beyond_the_integer_range_is_a_404_not_a_crash(client, login, make):
    owner = make.owner()
    login(owner)
    assert client.get("/tickets/1099511627776").status_code == 404
    assert client.get("/tickets/2147483648").status_code == 404
    assert client.get("/transactions/1099511627776").status_code == 404
    assert client.get("/transactions/9223372036854775806/receipt.pdf").status_code == 404


def test_the_hourly_statistics_refresh_gives_sqlite_the_numbers_its_planner_needs(app, make):
    """Without ANALYZE statistics SQLite walked whole account histories (bench/README.md)."""
    from sqlalchemy import inspect, text

    from portal.db_setup import refresh_statistics
    from portal.extensions import db

    owner = make.owner()
    make.ticket(make.sale(make.account(owner)))
    db.session.commit()
    if db.engine.dialect.name != "sqlite":
        assert refresh_statistics() is False
        return
    assert "sqlite_stat1" not in inspect(db.engine).get_table_names()
    assert refresh_statistics() is True
    analysed = set(db.session.scalars(text("SELECT DISTINCT tbl FROM sqlite_stat1")))
    assert {"tickets", "transactions"} <= analysed


def test_the_suite_wide_guard_catches_a_get_that_writes(app, client):
    """The autouse S20 guard (tests/conftest.py) sees a GET that writes; the session touch and
    audit rows it allows are the documented exceptions."""
    from portal.accounts.models import MasterAccount
    from portal.extensions import db
    from portal.types import utcnow
    from tests import conftest

    @app.get("/sneaky")
    def sneaky():
        db.session.add(MasterAccount(created_at=utcnow()))
        db.session.commit()
        return "ok"

    sneaky._public = True
    assert client.get("/sneaky").status_code == 200
    caught, conftest._get_writes[:] = list(conftest._get_writes), []
    assert caught == [("INSERT", "master_accounts", "GET /sneaky")]


def _production(tmp_path, **extra) -> dict:
    return {"ENV": "production", "SECRET_KEY": "x" * 32,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.db", **extra}


def test_production_refuses_per_process_rate_limits(monkeypatch, tmp_path):
    """With memory:// each gunicorn worker counts on its own, so a 5-per-15-minutes limit lets
    5 × workers attempts through: production does not start on it unless told it is alone."""
    import pytest

    from portal import create_app

    monkeypatch.delenv("PORTAL_RATELIMIT_STORAGE_URI", raising=False)
    monkeypatch.delenv("PORTAL_RATELIMIT_ALLOW_MEMORY", raising=False)
    with pytest.raises(RuntimeError, match="PORTAL_RATELIMIT_STORAGE_URI is memory://.*"
                                           "PORTAL_RATELIMIT_ALLOW_MEMORY=true"):
        create_app(_production(tmp_path))


def test_production_starts_on_memory_rate_limits_when_explicitly_allowed(monkeypatch, tmp_path):
    from portal import create_app

    monkeypatch.setenv("PORTAL_RATELIMIT_ALLOW_MEMORY", "true")
    app = create_app(_production(tmp_path))
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_a_shared_rate_limit_store_or_another_profile_needs_no_opt_out():
    from portal import config

    config.finish({"ENV": "production", "RATELIMIT_STORAGE_URI": "redis://cache:6379/1"})
    config.finish({"ENV": "production", "RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_ENABLED": False})
    config.finish({"ENV": "development", "RATELIMIT_STORAGE_URI": "memory://"})
    assert config.uses_memory_rate_limits(None) and config.uses_memory_rate_limits('"memory://"')
    assert not config.uses_memory_rate_limits("redis://cache:6379/1")


def test_a_nul_byte_in_a_query_form_or_path_is_a_400_not_a_database_error(client, login, make):
    """PostgreSQL refuses NUL in text columns; such a request is refused before any query."""
    owner = make.owner()
    make.account(owner, "nulshop")
    login(owner)
    assert client.get("/transactions/?q=ab%00cd").status_code == 400
    assert client.get("/tickets/?q=%00").status_code == 400
    assert client.get("/accounts/nul%00shop/settings").status_code == 400
    assert client.post("/auth/login", data={"email": "a\x00@b.test", "password": "x"}).status_code == 400
    assert client.get("/transactions/?q=abcd").status_code == 200
