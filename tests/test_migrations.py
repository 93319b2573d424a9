"""`flask db upgrade` builds exactly the schema the models describe."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect

from portal import create_app
from portal.extensions import db


def test_migrations_build_the_models_schema_and_roll_back(tmp_path, db_url):
    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{tmp_path / 'migrated.db'}"
    app = create_app({"ENV": "testing", "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": db_url})
    with app.app_context():
        if not db_url.startswith("sqlite"):
            db.drop_all()  # the per-test PostgreSQL database is a copy of the create_all template
        upgrade()
        engine = create_engine(db_url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []
        downgrade(revision="base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        db.engine.dispose()
