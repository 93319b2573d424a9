"""A throwaway PostgreSQL cluster for a test session.

    with pg.throwaway_cluster() as cluster:          # initdb + start, stop + delete on exit
        template = cluster.create_database("portal_template")
        ...create the schema in the template once...
        with cluster.temporary_database(template="portal_template") as url:
            ...                                       # a fresh copy per test, in ~30 ms

Set ``PORTAL_TEST_PG_URL`` (e.g. ``postgresql://postgres@db:5432/postgres``) to use an existing
server instead: the same methods then create and drop databases there. ``unavailable_reason()`` says
why PostgreSQL cannot be used here, for a clear skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

from tests.support import free_port

PG_USER = "postgres"  # the superuser initdb creates; also the OS user that must own the cluster
EXTERNAL_URL_ENV = "PORTAL_TEST_PG_URL"


def find_bindir() -> Path | None:
    """Directory holding initdb and pg_ctl: the newest Debian install, else the one on PATH."""
    versions = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    versions = [bindir for bindir in versions if bindir.parent.name.isdigit()]
    if versions:
        return max(versions, key=lambda bindir: int(bindir.parent.name))
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    return None


def unavailable_reason() -> str | None:
    """Why no PostgreSQL can be used for tests here, or None when one can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    if os.environ.get(EXTERNAL_URL_ENV):
        return None
    if find_bindir() is None:
        return (
            "PostgreSQL server binaries (initdb, pg_ctl) not found under "
            "/usr/lib/postgresql/*/bin or on PATH; install the Debian 'postgresql' package "
            f"(make test does) or set {EXTERNAL_URL_ENV}"
        )
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root, so the cluster runs as the postgres OS user.
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return "running as root but there is no 'postgres' OS user to own the test cluster"
        if not (shutil.which("runuser") or shutil.which("su")):
            return "running as root but neither runuser nor su is available to drop privileges"
    return None


def sqlalchemy_url(
    host: str, port: int, user: str, dbname: str, password: str | None = None
) -> str:
    """SQLAlchemy URL for the psycopg 3 driver."""
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return f"postgresql+psycopg://{auth}@{host}:{port}/{quote(dbname, safe='')}"


class PgServer:
    """A PostgreSQL server on which tests may create and drop databases."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str | None = None,
        maintenance_db: str = "postgres",
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.maintenance_db = maintenance_db

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL (``postgresql+psycopg://``) of a database on this server."""
        return sqlalchemy_url(self.host, self.port, self.user, dbname, self.password)

    def execute(self, sql: str, params: tuple = (), dbname: str | None = None) -> list[tuple]:
        """Run one statement in autocommit mode (CREATE DATABASE needs it) and return its rows."""
        import psycopg

        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname or self.maintenance_db,
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """Create a database (a random name by default) and return its URL."""
        from psycopg import sql

        name = name or f"test_{uuid.uuid4().hex[:12]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            # CREATE DATABASE cannot copy a template others are connected to: a pool left open on
            # the template (it only ever holds the schema) would make every clone fail.
            self.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (template,),
            )
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
            if self.server_version() >= 150000:
                # Copying files beats WAL-logging every page for small test databases.
                statement = sql.SQL("{} STRATEGY FILE_COPY").format(statement)
        self.execute(statement.as_string())
        return self.url(name)

    def clone_database(self, template: str, name: str | None = None) -> str:
        """Create a fresh database as a copy of ``template`` and return its URL."""
        return self.create_database(name, template=template)

    @contextmanager
    def temporary_database(self, template: str | None = None) -> Iterator[str]:
        """A fresh database (a copy of ``template`` if given) for the block; dropped afterwards."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        url = self.create_database(name, template=template)
        try:
            yield url
        finally:
            self.drop_database(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever still uses it."""
        from psycopg import sql

        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        self.execute(statement.as_string())

    def server_version(self) -> int:
        """``server_version_num``, e.g. 150018."""
        return int(self.execute("SHOW server_version_num")[0][0])


class ThrowawayCluster(PgServer):
    """A cluster initialised in a temporary directory, listening on 127.0.0.1 only."""

    def __init__(self, bindir: Path | None = None) -> None:
        super().__init__("127.0.0.1", 0, PG_USER)
        self.bindir = bindir or find_bindir()
        if self.bindir is None:
            raise RuntimeError(unavailable_reason() or "PostgreSQL binaries not found")
        self.as_postgres = os.geteuid() == 0
        self.root: Path | None = None

    @property
    def datadir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        assert self.root is not None
        return self.root / "postgres.log"

    def start(self) -> ThrowawayCluster:
        """initdb into a fresh temporary directory and start the server."""
        self.root = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        if self.as_postgres:
            entry = pwd.getpwnam(PG_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            PG_USER,
            "--auth=trust",
            "--no-locale",
            "--encoding=UTF8",
            "--no-sync",
        )
        for attempt in range(3):
            # The free port can be taken between the check and the bind; retry with another.
            self.port = free_port()
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-p {self.port}",
                    f"-k {shlex.quote(str(self.root))}",  # unix socket beside the data, not /run
                    "-c fsync=off",  # a crash loses only throwaway data; makes commits cheap
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=100",
                    "-c shared_buffers=64MB",
                ]
            )
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.logfile),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "start",
                )
                return self
            except RuntimeError:
                if attempt == 2:
                    self.stop()
                    raise
        return self

    def stop(self) -> None:
        """Stop the server (immediately: the data is thrown away) and delete its directory."""
        if self.root is None:
            return
        if (self.datadir / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
            except RuntimeError:
                pass  # already gone; deleting the directory is all that is left
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if self.as_postgres:
            if shutil.which("runuser"):
                command = ["runuser", "-u", PG_USER, "--", *command]
            else:
                command = ["su", PG_USER, "-s", "/bin/sh", "-c", shlex.join(command)]
        result = subprocess.run(
            command,
            cwd=self.root,  # the postgres user may not be allowed into the caller's directory
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            log = ""
            if self.root is not None and self.logfile.exists():
                log = "\n--- postgres.log ---\n" + self.logfile.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stdout}{log}")


def external_server(url: str) -> PgServer:
    """A PgServer for an existing server given as ``postgresql://user:pw@host:port/db``."""
    parts = urlsplit(url.replace("+psycopg", ""))
    return PgServer(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or PG_USER,
        password=parts.password,
        maintenance_db=parts.path.lstrip("/") or "postgres",
    )


@contextmanager
def throwaway_cluster() -> Iterator[PgServer]:
    """A PostgreSQL server for the duration of the block; removed afterwards.

    Uses ``PORTAL_TEST_PG_URL`` if set (its databases created here are not dropped for you).
    """
    if os.environ.get(EXTERNAL_URL_ENV):
        yield external_server(os.environ[EXTERNAL_URL_ENV])
        return
    cluster = ThrowawayCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
