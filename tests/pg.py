"""A real PostgreSQL for the tests: Debian's `postgresql` package (the test command installs it), a cluster of
its own in a temporary folder made with `initdb`, started with `pg_ctl` on 127.0.0.1 and a free port, stopped
afterwards. PostgreSQL refuses to run as root (CI runs as root), so the cluster then belongs to the `postgres`
user the package creates. A missing PostgreSQL is a test failure, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "bridge"


def bindir() -> Path:
    """The folder of `initdb` and `pg_ctl`: Debian keeps them out of PATH, under /usr/lib/postgresql/N/bin."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    assert on_path, "PostgreSQL is not installed: the README's test command installs it (apt-get install postgresql)"
    return Path(on_path).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """One running cluster: `url(db)` for a database in it, `restart()` and `stop()` for the chaos tests."""

    folder: Path
    port: int
    owner: str | None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(bindir() / args[0]), *args[1:]]
        if self.owner is not None:
            command = ["runuser", "-u", self.owner, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
            # the tests' own machine does not lose power: fsync off is safe for them; commits stay synchronous,
            # so a crash of PostgreSQL itself (the chaos test) loses nothing that was committed
            " -c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-l", str(self.folder / "log"), "-o", options,
                  "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop", check=False)

    def restart(self, mode: str = "immediate") -> None:
        self.stop(mode)
        self.start()

    def create_database(self, name: str) -> str:
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", "postgres", "-q", "-c",
                  f'CREATE DATABASE "{name}"')  # fmt: skip
        return self.url(name)


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    owner = None
    if os.geteuid() == 0:
        owner = "postgres"
        assert _user_exists(owner), "Debian's postgresql package creates the postgres user; it is missing"
    folder = Path(tempfile.mkdtemp(prefix="mms-bridge-pg-"))
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    found = Cluster(folder=folder, port=free_port(), owner=owner)
    found._run("initdb", "-D", str(found.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync", "-N")
    found.start()
    try:
        yield found
    finally:
        found.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


#: set once the session's cluster runs: children of the test process (kill -9 tests, `bridge serve`) use it too
URL_VARIABLE = "MMS_BRIDGE_TEST_PG"
_shared: list[contextlib.AbstractContextManager[Cluster]] = []
_started: list[Cluster] = []


def shared_cluster() -> Cluster | None:
    """The test session's one cluster, started on first use and stopped when the session ends; None in a child
    process, which finds the server through URL_VARIABLE instead."""
    if _started:
        return _started[0]
    if os.environ.get(URL_VARIABLE):
        return None
    manager = cluster()
    _started.append(manager.__enter__())
    _shared.append(manager)
    os.environ[URL_VARIABLE] = _started[0].url()
    return _started[0]


def stop_shared_cluster() -> None:
    while _shared:
        _shared.pop().__exit__(None, None, None)
        _started.clear()
        os.environ.pop(URL_VARIABLE, None)


async def database_for(name: str) -> str:
    """The URL of database `name` on the session's cluster, made when it does not exist yet."""
    import asyncpg

    shared_cluster()
    server = os.environ[URL_VARIABLE]
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.DuplicateDatabaseError:
        pass
    finally:
        await conn.close()
    return server.rsplit("/", 1)[0] + "/" + name


def database_name(folder: Path) -> str:
    """One database per test: named after its temporary folder."""
    import hashlib

    return "t_" + hashlib.sha1(str(folder).encode()).hexdigest()[:16]


def database_url(folder: Path) -> str:
    """`database_for` without an event loop (for building configurations): the database of `folder`'s test."""
    found = shared_cluster()
    name = database_name(folder)
    if found is not None:
        done = found._run("psql", "-h", "127.0.0.1", "-p", str(found.port), "-U", USER, "-d", "postgres", "-q",
                          "-c", f'CREATE DATABASE "{name}"', check=False)  # fmt: skip
        assert done.returncode == 0 or "already exists" in done.stderr, done.stderr
    return os.environ[URL_VARIABLE].rsplit("/", 1)[0] + "/" + name
