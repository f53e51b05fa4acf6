"""Test helpers: run a real ``ml-audit serve`` for a test suite.

``MLAuditServer`` starts the server binary on a free port with a temporary SQLite database and
can stop and restart it on the same port and database. As a pytest plugin
(``pytest -p ml_audit.testing`` or ``pytest_plugins = ["ml_audit.testing"]``) it provides the
fixtures ``ml_audit_server`` (one server for the session) and ``ml_audit_server_factory``
(servers a test controls). The binary is ``$ML_AUDIT_BIN``, else ``ml-audit`` on the ``PATH``,
else ``target/debug/ml-audit`` in a parent folder.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

_LISTENING = re.compile(r"ml-audit listening on (http://[^\s/]+)/?")


def find_binary() -> str:
    """The ``ml-audit`` binary to test against."""
    explicit = os.environ.get("ML_AUDIT_BIN")
    if explicit:
        return explicit
    on_path = shutil.which("ml-audit")
    if on_path:
        return on_path
    here = Path.cwd().resolve()
    for folder in [here, *here.parents]:
        candidate = folder / "target" / "debug" / "ml-audit"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise RuntimeError(
        "no ml-audit server binary: set ML_AUDIT_BIN, put ml-audit on the PATH, "
        "or run `cargo build -p ml-audit`"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(extra: Optional[dict] = None) -> dict:
    # The server reads ML_AUDIT_* variables as settings; the client's own (URL, API key) or a
    # developer's must not leak into it.
    env = {key: value for key, value in os.environ.items() if not key.startswith("ML_AUDIT_")}
    env.setdefault("RUST_BACKTRACE", "1")
    env["ML_AUDIT_LOG"] = "warn"
    env.update(extra or {})
    return env


class MLAuditServer:
    """One ``ml-audit serve`` process on a SQLite database; restartable on the same port.

    ``env`` adds environment variables for the server process, which reads its settings from
    them: ``MLAuditServer(env={"ML_AUDIT_SERVER_QUEUE_EVENTS": "1"})`` starts a server that
    sheds load (503 ``overloaded``) as soon as one event waits for its database writer. The
    test process's own ``ML_AUDIT_*`` variables never reach the server."""

    def __init__(
        self,
        directory: Optional[str] = None,
        *,
        binary: Optional[str] = None,
        port: int = 0,
        env: Optional[dict] = None,
    ) -> None:
        self.binary = binary or find_binary()
        self.directory = Path(directory or tempfile.mkdtemp(prefix="ml-audit-test-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.database_url = f"sqlite://{self.directory / 'ml-audit.db'}"
        self.port = port
        self.url = ""
        self.admin_key = ""
        self.env = env or {}
        self.process: Optional[subprocess.Popen] = None
        self._log = None

    def __enter__(self) -> "MLAuditServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> "MLAuditServer":
        """Start (or restart) the server; returns once it accepts connections."""
        if self.running:
            return self
        bind = f"127.0.0.1:{self.port}"
        self._log = open(self.directory / "server.log", "ab")
        deadline = time.monotonic() + timeout
        while True:
            process = subprocess.Popen(
                [self.binary, "serve", "--db", self.database_url, "--bind", bind],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._log,
                env=_server_env(self.env),
                cwd=str(self.directory),
            )
            lines: "queue.Queue[Optional[str]]" = queue.Queue()
            threading.Thread(target=_pump, args=(process, lines), daemon=True).start()
            url = self._wait_for_listening(process, lines, deadline)
            if url:
                break
            # The port may still be held by the previous process for a moment: try again.
            process.wait()
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"ml-audit serve did not start; see {self.directory / 'server.log'}"
                )
            time.sleep(0.2)
        self.process = process
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        return self

    def _wait_for_listening(
        self, process: subprocess.Popen, lines: "queue.Queue[Optional[str]]", deadline: float
    ) -> str:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                return ""
            stripped = line.strip()
            if stripped.startswith("mla_") and not self.admin_key:
                self.admin_key = stripped.split()[0]
            match = _LISTENING.search(stripped)
            if match:
                return match.group(1)
        process.kill()
        return ""

    def stop(self, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM (a clean shutdown), or SIGKILL with ``kill=True`` (a crash)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def create_key(self, scope: str, tenant: Optional[str] = None, name: Optional[str] = None) -> str:
        """``ml-audit keys create``; works while the server runs."""
        command = [self.binary, "keys", "create", "--scope", scope, "--db", self.database_url]
        if tenant is not None:
            command += ["--tenant", tenant]
        if name is not None:
            command += ["--name", name]
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=_server_env(),
            cwd=str(self.directory),
            timeout=60,
            check=True,
        )
        return result.stdout.strip().splitlines()[-1].strip()


def _pump(process: subprocess.Popen, lines: "queue.Queue[Optional[str]]") -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        lines.put(raw.decode("utf-8", "replace"))
    lines.put(None)


# -- pytest plugin ------------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover - only needed as a plugin
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def ml_audit_server(tmp_path_factory: Any) -> Iterator[MLAuditServer]:
        """One real ml-audit server for the whole session (SQLite in a temporary folder)."""
        server = MLAuditServer(str(tmp_path_factory.mktemp("ml-audit-server")))
        server.start()
        try:
            yield server
        finally:
            server.stop()

    @pytest.fixture
    def ml_audit_server_factory(tmp_path: Path) -> Iterator[Callable[..., MLAuditServer]]:
        """Make servers a test can stop and restart (``make(port=0, start=True, env=None)``;
        ``env`` as for :class:`MLAuditServer`); all are stopped at teardown."""
        made: List[MLAuditServer] = []

        def make(port: int = 0, start: bool = True, env: Optional[dict] = None) -> MLAuditServer:
            server = MLAuditServer(str(tmp_path / f"server-{len(made)}"), port=port, env=env)
            made.append(server)
            if start:
                server.start()
            return server

        try:
            yield make
        finally:
            for server in made:
                server.stop()
