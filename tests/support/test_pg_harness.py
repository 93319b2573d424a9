"""The throwaway PostgreSQL cluster starts, answers, clones databases and cleans up after itself."""

from __future__ import annotations

import os

import pytest

from tests.support import pg, skip_or_fail


@pytest.fixture(scope="module")
def cluster():
    """One cluster for this module; skipped (or failed with PORTAL_TEST_PG=1) without PostgreSQL."""
    reason = pg.unavailable_reason()
    if reason:
        skip_or_fail(reason, "PORTAL_TEST_PG")
    with pg.throwaway_cluster() as server:
        yield server


def test_cluster_starts_answers_and_is_removed_on_stop():
    """A cluster of its own: select 1 works, and stopping deletes its directory."""
    reason = pg.unavailable_reason()
    if reason or os.environ.get(pg.EXTERNAL_URL_ENV):
        skip_or_fail(reason or "an external server is configured", "PORTAL_TEST_PG")
    cluster = pg.ThrowawayCluster().start()
    root = cluster.root
    try:
        assert cluster.execute("select 1") == [(1,)]
        assert cluster.execute("show fsync") == [("off",)]
        assert cluster.execute("show listen_addresses") == [("127.0.0.1",)]
    finally:
        cluster.stop()
    assert root is not None and not root.exists()


def test_url_works_with_sqlalchemy(cluster):
    """The URL it hands out is the one the app will use: SQLAlchemy with psycopg 3."""
    from sqlalchemy import create_engine, text

    engine = create_engine(cluster.create_database())
    try:
        with engine.connect() as conn:
            assert (
                conn.execute(text("select current_setting('server_encoding')")).scalar() == "UTF8"
            )
    finally:
        engine.dispose()


def test_clones_are_independent_copies_of_the_template(cluster):
    """A clone starts with the template's rows; writes to one clone do not show in another."""
    cluster.create_database("tmpl")
    cluster.execute("create table t (x int); insert into t values (1)", dbname="tmpl")
    first, second = cluster.clone_database("tmpl", "c1"), cluster.clone_database("tmpl", "c2")
    assert first.endswith("/c1") and second.endswith("/c2")
    cluster.execute("insert into t values (2)", dbname="c1")
    assert cluster.execute("select count(*) from t", dbname="c1") == [(2,)]
    assert cluster.execute("select count(*) from t", dbname="c2") == [(1,)]
    cluster.drop_database("c1")
    names = {row[0] for row in cluster.execute("select datname from pg_database")}
    assert "c1" not in names and "c2" in names


def test_temporary_database_is_dropped_after_the_block(cluster):
    """temporary_database hands out a copy of the template and drops it at the end."""
    cluster.create_database("tmpl2")
    cluster.execute("create table t (x int)", dbname="tmpl2")
    with cluster.temporary_database(template="tmpl2") as url:
        name = url.rsplit("/", 1)[1]
        assert cluster.execute("select count(*) from t", dbname=name) == [(0,)]
    names = {row[0] for row in cluster.execute("select datname from pg_database")}
    assert name not in names


def test_external_server_url_is_used_instead_of_a_new_cluster(cluster, monkeypatch):
    """With PORTAL_TEST_PG_URL set, throwaway_cluster() talks to that server and starts none."""
    monkeypatch.setenv(pg.EXTERNAL_URL_ENV, cluster.url("postgres"))
    with pg.throwaway_cluster() as server:
        assert not isinstance(server, pg.ThrowawayCluster)
        assert (server.host, server.port) == (cluster.host, cluster.port)
        with server.temporary_database() as url:
            assert url.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/test_")
