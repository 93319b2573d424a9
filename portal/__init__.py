"""The Master Account Portal: application factory."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from portal import config
from portal.config import PROFILES, ROOT, load_secret_key

log = logging.getLogger(__name__)

BLUEPRINT_PACKAGES = (
    "auth",
    "dashboard",
    "accounts",
    "tickets",
    "transactions",
    "reports",
    "users",
    "support",
    "api",
    "clickbank",
    "notifications",
)


def create_app(overrides: dict | None = None) -> Flask:
    """Build a configured app. Tests pass ``overrides``; deployments set ``PORTAL_*`` variables."""
    overrides = dict(overrides or {})
    env = overrides.get("ENV") or os.environ.get("PORTAL_ENV", "development")
    if env not in PROFILES:
        raise RuntimeError(f"PORTAL_ENV must be one of {sorted(PROFILES)}, not {env!r}")

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH", str(ROOT / "instance")),
    )
    app.config.from_object(PROFILES[env])
    app.config.from_prefixed_env("PORTAL")
    app.config.update(overrides)
    app.config["ENV"] = env
    _finish_config(app)

    from portal import extensions, db_setup, web

    extensions.db.init_app(app)
    extensions.migrate.init_app(
        app, extensions.db, directory=str(ROOT / "migrations"), render_as_batch=True
    )
    extensions.csrf.init_app(app)
    extensions.htmx.init_app(app)
    extensions.limiter.init_app(app)
    db_setup.init_app(app)
    web.init_app(app)

    import importlib

    import portal.models  # noqa: F401  (one metadata for Alembic)

    for name in BLUEPRINT_PACKAGES:
        module = importlib.import_module(f"portal.{name}")
        if hasattr(module, "init_app"):
            module.init_app(app)

    from portal import cli, tasks

    cli.init_app(app)
    tasks.init_app(app)
    return app


def _finish_config(app: Flask) -> None:
    """Derive settings that depend on the profile and refuse unsafe production set-ups."""
    cfg = app.config
    instance = Path(app.instance_path)
    if not cfg.get("SECRET_KEY"):
        if cfg["ENV"] == "production":
            raise RuntimeError("PORTAL_SECRET_KEY must be set when PORTAL_ENV=production")
        cfg["SECRET_KEY"] = load_secret_key(instance)
    if not cfg.get("SQLALCHEMY_DATABASE_URI"):
        instance.mkdir(parents=True, exist_ok=True)
        cfg["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'portal.db'}"
    # Seconds from PORTAL_* variables become timedeltas; a per-process limiter is refused in
    # production.
    config.finish(cfg)
