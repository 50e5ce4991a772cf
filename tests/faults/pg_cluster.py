"""A private PostgreSQL cluster for a test: initdb into a temporary folder, its own port."""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import text

from storage.database import create_engine
from tests.process import free_port

# Never the shared server on 5432: a test that restarts PostgreSQL owns the cluster it restarts.
# As root (CI, the dev machines) the server runs as the `postgres` OS user, which initdb needs.


def server_bindir() -> Path | None:
    """Where initdb and pg_ctl are (PATH first, then Debian's versioned folders), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


class PrivateCluster:
    """initdb, start, restart and stop a throwaway server on 127.0.0.1 (trust auth)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="followup-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            owner = pwd.getpwnam(self._user)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def url(self, database: str) -> str:
        """A URL for `database` on this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _command(self, tool: str, *args: str) -> list[str]:
        command = [str(self.bindir / tool), *args]
        return ["runuser", "-u", self._user, "--", *command] if self._user else command

    def _pg_ctl(self, *args: str) -> list[str]:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c max_connections=60"
        )
        return self._command(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30",
            "-o", options, *args,
        )  # fmt: skip

    def init(self) -> None:
        """initdb (trust auth, superuser postgres) and start the server."""
        subprocess.run(
            self._command(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--no-sync", "--locale=C",
            ),
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(self._pg_ctl("start"), check=True, capture_output=True)

    async def ctl(self, *args: str) -> None:
        """pg_ctl `args` (e.g. "restart", "-m", "fast") without blocking the event loop."""
        process = await asyncio.create_subprocess_exec(
            *self._pg_ctl(*args),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output = (await process.communicate())[0].decode(errors="replace")
        assert process.returncode == 0, f"pg_ctl {args}: {output}\n{self.log_text()[-2000:]}"

    async def create_database(self, name: str) -> str:
        """CREATE DATABASE `name`; returns its URL."""
        engine = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            await engine.dispose()
        return self.url(name)

    def log_text(self) -> str:
        """The server's log."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def destroy(self) -> None:
        """Stop the server (immediately) and delete the cluster."""
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                self._pg_ctl("stop", "-m", "immediate"), check=False, capture_output=True
            )
        shutil.rmtree(self.root, ignore_errors=True)
