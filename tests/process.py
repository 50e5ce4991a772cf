"""Run the bot as a real server process on loopback, for restart and browser tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """`command` started in its own process group; `url` answers once it is up."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        port: int,
        cwd: Path = ROOT,
        log: Path | None = None,
    ) -> None:
        self.command, self.port, self.cwd = command, port, cwd
        self.env = {**os.environ, **env}
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> ServerProcess:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.command} exited with {self.process.returncode}: "
                    f"{self.log_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/chat/api/session", timeout=2):
                    return self
            except OSError:
                time.sleep(0.3)
        self.kill()
        raise TimeoutError(
            f"{self.command} did not serve within {timeout} s: {self.log_text()[-3000:]}"
        )

    def log_text(self) -> str:
        return (
            self.log_path.read_text(errors="replace")
            if self.log_path and self.log_path.exists()
            else ""
        )

    def kill(self) -> None:
        """SIGKILL the whole process group (as a crash would)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
