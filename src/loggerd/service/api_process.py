"""The API's process, seen from acquisition's: started beside it, told its health, and started
again when it dies, while acquisition goes on.

Acquisition's process binds the API's socket itself, so a port that is taken is said at once,
and the API started again answers on the same port (requests made meanwhile wait in the
socket's backlog). A thread of this process answers the API's requests for a snapshot: the
event loop builds one when asked (health objects change on the loop, so they are read there),
and none when nobody asks; it sends one only when asked, so an API process that hangs can fill
no buffer and hold no thread of acquisition's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from loggerd.core.backoff import Backoff
from loggerd.core.errors import LoggerdError
from loggerd.live.view import LiveView
from loggerd.service.api_worker import WorkerSpec
from loggerd.service.config import DaemonConfig
from loggerd.service.ports import ServedSnapshot

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0  # for the API's process to finish its requests and exit when told to


def listening_socket(host: str, port: int) -> socket.socket:
    """The API's socket, bound and listening (port 0: any free one)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        raise LoggerdError(
            f"the API could not start on {host}:{port} ({exc.strerror or exc}: is the port taken "
            "by another program, or the address not on this machine?); choose another with "
            "--port or [api] port in the configuration"
        ) from None
    return sock


@dataclass
class _Child:
    proc: subprocess.Popen[bytes]
    conn: Connection
    ready: bool = False
    started_s: float = field(default_factory=time.monotonic)


class ApiProcess:
    def __init__(
        self,
        config: DaemonConfig,
        live: LiveView,
        sock: socket.socket,
        snapshot: Callable[[], ServedSnapshot],
    ) -> None:
        self.config = config
        self.live = live
        self.sock = sock
        self.restarts = 0
        self._snapshot = snapshot  # called on the event loop, when the API asks
        self._loop: asyncio.AbstractEventLoop | None = None
        self._latest = b""  # the last snapshot sent, pickled
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._failure: str | None = None
        self._child: _Child | None = None
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        child = self._child
        return None if child is None else child.proc.pid

    def start(self) -> None:
        """On the event loop: start the API's process now (its imports overlap acquisition's
        start-up)."""
        self._loop = asyncio.get_running_loop()
        self._latest = pickle.dumps(self._snapshot())
        self._child = self._spawn()
        self._thread = threading.Thread(target=self._supervise, name="loggerd-api-process")
        self._thread.start()

    async def ready(self) -> None:
        """Wait until the API serves; LoggerdError if its process ended before it did."""
        while not self._ready.is_set():
            await asyncio.sleep(0.02)
        if self._failure is not None:
            raise LoggerdError(self._failure)

    async def stop(self) -> None:
        """Tell the API's process to stop and wait for it (killed if it does not)."""
        self._stopping.set()
        thread = self._thread
        deadline = time.monotonic() + STOP_TIMEOUT_S + 5
        while thread is not None and thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        child = self._child
        if child is not None and child.proc.poll() is None:
            child.proc.kill()
        if thread is not None:
            while thread.is_alive():
                await asyncio.sleep(0.02)

    def _spawn(self) -> _Child:
        ours, theirs = socket.socketpair()
        spec = WorkerSpec(
            self.config,
            self.live.handle(),
            self.sock.fileno(),
            logging.getLogger().isEnabledFor(logging.DEBUG),
        )
        code = f"from loggerd.service.api_worker import main; main({theirs.fileno()})"
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=(theirs.fileno(), self.live.block.fd, self.sock.fileno()),
        )
        theirs.close()
        conn = Connection(ours.detach())
        conn.send(spec)
        conn.send(("health", self._latest))
        return _Child(proc, conn)

    def _supervise(self) -> None:
        backoff = Backoff(1.0, 30.0)
        while True:
            child = self._child
            assert child is not None
            self._serve(child)
            if self._stopping.is_set():
                self._end(child)
                break
            code = child.proc.wait()
            child.conn.close()
            if not self._ready.is_set():
                self._failure = (
                    f"the API's process ended (exit status {code}) before it served; "
                    "its log lines above say why"
                )
                break
            if time.monotonic() - child.started_s > 60:
                backoff.reset()  # it had been serving a while: not a crash loop
            delay = backoff.next()
            log.error(
                "the API's process ended (exit status %s); starting it again in %.1f s "
                "(acquisition goes on)",
                code,
                delay,
            )
            if self._stopping.wait(delay):
                break
            self._child = self._spawn()
            self.restarts += 1
        self._ready.set()

    def _serve(self, child: _Child) -> None:
        """Answer the child until it ends or we stop."""
        while not self._stopping.is_set():
            try:
                if not child.conn.poll(0.1):
                    continue
                message = child.conn.recv()
            except (EOFError, OSError):
                return  # it has gone
            if message[0] == "ready" and not child.ready:
                child.ready = True
                self._ready.set()
            elif message[0] == "health?":
                try:
                    child.conn.send(("health", self._built()))
                except OSError:
                    return

    def _built(self) -> bytes:
        """A snapshot built now on the event loop, pickled (the last one sent if the loop is
        closing, or building failed)."""
        assert self._loop is not None
        built: concurrent.futures.Future[bytes] = concurrent.futures.Future()

        def build() -> None:
            try:
                built.set_result(pickle.dumps(self._snapshot()))
            except Exception as exc:  # a snapshot is not worth stopping the API's health for
                built.set_exception(exc)

        try:
            self._loop.call_soon_threadsafe(build)
        except RuntimeError:
            return self._latest  # the loop has closed: we are stopping
        while not self._stopping.is_set():
            try:
                self._latest = built.result(0.1)
                break
            except concurrent.futures.TimeoutError:
                continue
            except Exception:
                log.exception("a health snapshot for the API could not be built")
                break
        return self._latest

    def _end(self, child: _Child) -> None:
        with contextlib.suppress(OSError):  # already gone
            child.conn.send(("stop",))
        try:
            child.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.error("the API's process did not stop within %.0f s; killed", STOP_TIMEOUT_S)
            child.proc.kill()
            child.proc.wait()
        child.conn.close()
