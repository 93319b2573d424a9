"""Settings: safe embedded defaults, overridden by ``PORTAL_*`` environment variables.

``PORTAL_ENV`` selects the profile (``development`` — the ``make run`` default —, ``production``
or ``testing``). Any other key is read with Flask's ``from_prefixed_env("PORTAL")``, so
``PORTAL_SQLALCHEMY_DATABASE_URI`` or ``PORTAL_SMTP_HOST`` work as expected; JSON values are parsed.
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Config:
    ENV = "development"
    SECRET_KEY: str | None = None
    INSTANCE_PATH = str(ROOT / "instance")

    # Database: SQLite (WAL) in instance/ unless a URI is given.
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SQLITE_BUSY_TIMEOUT_MS = 5000

    # Sessions and cookies (SECURITY.md §0.3): override the unsafe Flask / Flask-Login defaults.
    SESSION_COOKIE_NAME = "portal_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # True in production (requires HTTPS)
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
    SESSION_ABSOLUTE_LIFETIME = timedelta(hours=12)
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024

    # CSRF token valid for the whole session: htmx pages stay open for hours.
    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_SSL_STRICT = True

    # Rate limits (Flask-Limiter). Memory store by default, Redis in production. A memory store
    # counts per process: production refuses it unless RATELIMIT_ALLOW_MEMORY says exactly one web
    # process serves the portal (scripts/serve.py runs one gunicorn worker for it).
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_ALLOW_MEMORY = False
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True

    # Background worker (Huey): SQLite in instance/, or Redis when the PORTAL_HUEY_URL
    # environment variable is a redis:// URL (read when portal.tasks is imported).
    HUEY_IMMEDIATE = False

    # Mail: "dev" keeps delivered mail for /dev/mail, "smtp" sends through SMTP_*.
    MAIL_BACKEND = "dev"
    MAIL_FROM = "Master Account Portal <no-reply@portal.local>"
    SMTP_HOST = "localhost"
    SMTP_PORT = 25
    SMTP_USER = ""
    SMTP_PASSWORD = ""
    SMTP_TLS = False
    SMTP_TIMEOUT = 10
    OUTBOX_MAX_ATTEMPTS = 8
    OUTBOX_BACKOFF_BASE_SECONDS = 30
    OUTBOX_BACKOFF_CAP_SECONDS = 3600

    # Absolute URL used in emails (never taken from the request's Host header).
    BASE_URL = "http://127.0.0.1:5000"

    # Key material for encryption at rest and keyed hashes; derived from SECRET_KEY when unset.
    ENCRYPTION_KEY: str | None = None
    PIN_PEPPER: str | None = None

    # ClickBank REST API (a setting, so tests and the demo can use the bundled emulator).
    CLICKBANK_API_BASE = "https://api.clickbank.com/rest"
    CLICKBANK_ENABLED = False

    DEMO_SEED = 20261122


class DevelopmentConfig(Config):
    ENV = "development"


class TestingConfig(Config):
    ENV = "testing"
    TESTING = True
    HUEY_IMMEDIATE = True
    RATELIMIT_ENABLED = False
    BASE_URL = "http://localhost"


class ProductionConfig(Config):
    ENV = "production"
    SESSION_COOKIE_NAME = "__Host-portal_session"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_NAME = "__Host-portal_remember"
    REMEMBER_COOKIE_SECURE = True
    MAIL_BACKEND = "smtp"


PROFILES = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


# Settings that are durations: an environment variable gives them in seconds.
DURATIONS = (
    "SESSION_IDLE_TIMEOUT",
    "SESSION_ABSOLUTE_LIFETIME",
    "PERMANENT_SESSION_LIFETIME",
    "REMEMBER_COOKIE_DURATION",
)


def _duration(name: str, value) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise RuntimeError(f"PORTAL_{name} must be a positive number of seconds, not {value!r}")
    return timedelta(seconds=value)


def uses_memory_rate_limits(uri) -> bool:
    """True for Flask-Limiter's per-process memory store (the default)."""
    return str(uri or "memory://").strip().strip("\"'").startswith("memory://")


def finish(cfg) -> None:
    """Normalise settings read from the environment and refuse unsafe production set-ups that
    depend on them. Runs on every app, after the PORTAL_* variables and the overrides are in."""
    for name in DURATIONS:
        if name in cfg and cfg[name] is not None:
            cfg[name] = _duration(name, cfg[name])
    if (
        cfg.get("ENV") == "production"
        and cfg.get("RATELIMIT_ENABLED", True)
        and uses_memory_rate_limits(cfg.get("RATELIMIT_STORAGE_URI"))
        and not cfg.get("RATELIMIT_ALLOW_MEMORY")
    ):
        raise RuntimeError(
            "PORTAL_RATELIMIT_STORAGE_URI is memory:// in production: every web process would "
            "count login, PIN and reset attempts on its own, so the limits would multiply. Set it "
            "to a shared store (e.g. redis://host:6379/1), or set PORTAL_RATELIMIT_ALLOW_MEMORY=true "
            "if exactly one web process (one gunicorn worker) serves the portal."
        )


def load_secret_key(instance_path: Path) -> str:
    """Read the development secret key from instance/, creating it on first start."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()
