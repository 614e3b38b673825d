"""A real PostgreSQL server for the tests that need one.

``postgres_url`` (session scope) is the server: the one named by
``TOKENOMICS_TEST_POSTGRES_URL`` (``.ci/run`` starts one and sets it), else a
throwaway cluster started from the ``initdb``/``pg_ctl`` found on ``PATH`` or
in ``/usr/lib/postgresql/*/bin``, on a free loopback port, and stopped at the
end. Without either the tests skip, except under ``CI=true``, where they fail.

``postgres_database`` (function scope) is an empty database on that server,
dropped after the test. Use them with ``pytest_plugins = ["tests.postgres"]``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy.engine import make_url

ENV_URL = "TOKENOMICS_TEST_POSTGRES_URL"
_SUPERUSER = "tokenomics"
_SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200"
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL server whose role may create databases."""
    url = os.environ.get(ENV_URL)
    if url:
        yield url
        return
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        _skip_or_fail(
            f"no PostgreSQL: set {ENV_URL} or install initdb/pg_ctl "
            "(Debian: apt-get install postgresql)"
        )
    cluster = LocalCluster(bin_dir)
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    name = f"tokenomics_test_{uuid.uuid4().hex[:12]}"
    run_admin_sql(postgres_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(False)
    finally:
        run_admin_sql(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def find_postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, newest version first."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    candidates.sort(key=lambda path: int(Path(path).parts[-3]), reverse=True)
    return Path(candidates[0]).parent if candidates else None


class LocalCluster:
    """A PostgreSQL cluster in a temporary folder, listening on loopback only.

    As root it runs as the ``postgres`` user (PostgreSQL refuses to run as
    root), creating that user when the system has none.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.base = Path(tempfile.mkdtemp(prefix="tokenomics-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.user = _service_user() if os.geteuid() == 0 else None
        self.url = ""

    def start(self) -> None:
        """Create the cluster and start it; fail with its log if it does not."""
        if self.user is not None:
            shutil.chown(self.base, self.user, self.user)
        self._run("initdb", "-D", self.data, "-U", _SUPERUSER, "-A", "trust")
        for _ in range(3):  # the free port may be taken before the server binds
            port = _free_port()
            options = f"-h 127.0.0.1 -p {port} -k {self.base} {_SERVER_OPTIONS}"
            started = self._run(
                "pg_ctl", "-D", self.data, "-l", self.log, "-o", options,
                "-w", "-t", "60", "start", check=False,
            )  # fmt: skip
            if started.returncode == 0:
                self.url = f"postgresql://{_SUPERUSER}@127.0.0.1:{port}/postgres"
                return
        log = self.log.read_text() if self.log.exists() else ""
        self.stop()
        pytest.fail(f"PostgreSQL did not start:\n{started.stdout}\n{log}")

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        if self.url:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "stop", check=False)
            self.url = ""
        shutil.rmtree(self.base, ignore_errors=True)

    def _run(
        self, program: str, *args: object, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / program), *map(str, args)]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(
            command,
            check=check,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.base,
        )


def _service_user() -> str:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam("postgres").pw_name
    subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return "postgres"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_admin_sql(server_url: str, statement: str) -> None:
    """Run one statement outside a transaction, as CREATE DATABASE needs."""
    import psycopg

    conninfo = make_url(server_url).set(drivername="postgresql")
    with psycopg.connect(conninfo.render_as_string(False), autocommit=True) as conn:
        conn.execute(statement)


def _skip_or_fail(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
    pytest.skip(reason)
