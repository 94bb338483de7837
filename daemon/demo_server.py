"""An IMAP server on 127.0.0.1 holding the bundled sample mail, for ``claimwatch demo``.

The demo shows the real flow, IMAP sync included, to someone with no account: pymap (a
pure-Python IMAP server on asyncio) runs in this process, on a thread of its own, with its
in-memory "dict" backend and one user whose INBOX holds the samples. Nothing touches the disk or
the network beyond loopback, and it is gone when the demo ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import threading
from argparse import ArgumentParser
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from daemon.errors import ImapError

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
ATTEMPTS = 5  # a free port can be taken between finding it and listening on it


class DemoImapServer:
    """An IMAP server on 127.0.0.1 holding the bundled sample mail, for ``claimwatch demo``."""

    def __init__(self, messages: list[bytes], *, user: str = "demo", password: str | None = None):
        self.messages = list(messages)
        self.host, self.port = HOST, 0
        self.user = user
        self.password = password or secrets.token_urlsafe(16)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._inbox = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def __enter__(self) -> DemoImapServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Listen on a free loopback port; returns once the server takes logins."""
        for _ in range(ATTEMPTS):
            self.port = _free_port()
            self._ready.clear()
            self._error = None
            self._thread = threading.Thread(
                target=self._run, name="claimwatch-demo-imap", daemon=True
            )
            self._thread.start()
            if not self._ready.wait(START_TIMEOUT):
                self.stop()
                raise ImapError(f"the demo IMAP server did not start within {START_TIMEOUT:g} s")
            if self._error is None:
                return
            self._thread.join(STOP_TIMEOUT)
            if not isinstance(self._error, OSError):
                break
        raise ImapError(f"the demo IMAP server could not start: {self._error}")

    def append(self, messages: list[bytes]) -> None:
        """Deliver more mail to INBOX while the server runs (as new mail arrives)."""
        if self._loop is None:
            raise ImapError("the demo IMAP server is not running")
        future = asyncio.run_coroutine_threadsafe(self._append(messages), self._loop)
        future.result(START_TIMEOUT)

    def stop(self) -> None:
        """Close the listening socket and every connection; idempotent, bounded."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        # pymap checks passwords on a thread pool of its own; ours, so that stop() ends it
        hashing = ThreadPoolExecutor(1, thread_name_prefix="claimwatch-demo-imap-login")
        try:
            loop.run_until_complete(self._serve(hashing))
        except BaseException as e:  # noqa: BLE001 - argparse exits; start() reports it
            self._error = e
        finally:
            self._ready.set()
            self._loop = None
            with contextlib.suppress(Exception):  # getaddrinfo's worker threads: joined, not left
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            hashing.shutdown()

    async def _serve(self, hashing: ThreadPoolExecutor) -> None:
        from pymap.backend.dict import DictBackend
        from pymap.backend.dict.filter import FilterSet
        from pymap.backend.dict.mailbox import MailboxSet
        from pymap.concurrent import Subsystem
        from pymap.imap import IMAPService

        logging.getLogger("pymap").setLevel(logging.WARNING)
        args = _arguments(DictBackend, IMAPService, self.port, self.user, self.password)
        backend, config = await DictBackend.init(
            args, cpu_subsystem=Subsystem.for_executor(hashing)
        )
        config.apply_context()
        mailboxes = MailboxSet()
        self._inbox = await mailboxes.get_mailbox("INBOX")
        await self._append(self.messages)
        config.set_cache[self.user] = (mailboxes, FilterSet())
        self._stopping = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            await backend.start(stack)
            await IMAPService(backend, config).start(stack)
            self._ready.set()
            await self._stopping.wait()
            await _disconnect_clients()

    async def _append(self, messages: list[bytes]) -> None:
        from pymap.parsing.message import AppendMessage

        for raw in messages:
            message = AppendMessage(raw, _received(raw), frozenset())
            await self._inbox.append(message, recent=True)


async def _disconnect_clients() -> None:
    """Cancel every other task: a client's connection then says BYE and closes its socket.

    Without this a connected client (the daemon in IDLE) outlives the server: on Python 3.11
    its socket is left open and its task destroyed pending with the loop; on 3.12+ closing the
    server waits for every client to log out, so stop() would hang."""
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=STOP_TIMEOUT / 2)


def _arguments(backend, service, port: int, user: str, password: str):
    """pymap's own command-line arguments, parsed by its own parser pieces."""
    parser = ArgumentParser()
    parser.set_defaults(skip_services=[], passlib_cfg=None, debug=False)
    backend.add_subparser("dict", parser.add_subparsers(dest="backend"))
    service.add_arguments(parser)
    argv = ["--host", HOST, "--port", str(port), "--no-tls"]
    # "--opt=value": a password from token_urlsafe starts with "-" one time in 64
    login = [f"--demo-user={user}", f"--demo-password={password}"]
    return parser.parse_args([*argv, "dict", *login])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _received(raw: bytes) -> datetime:
    """The message's Date header as its INTERNALDATE, else now."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.decode("latin-1").splitlines():
        if line.lower().startswith("date:"):
            with contextlib.suppress(TypeError, ValueError, IndexError):
                return parsedate_to_datetime(line[5:].strip())
    return datetime.now(UTC)
