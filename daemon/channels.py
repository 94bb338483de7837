"""The two delivery channels of alerts: a desktop notification and the user's notify_command.

The scheduler decides what to send and calls these from its own threads; both are synchronous,
bounded in time and report every failure as :class:`NotifyError`, so a dead notification server
or a hanging command can delay an alert by seconds but never stop processing.

:class:`DesktopNotifications` speaks org.freedesktop.Notifications over dbus-fast directly rather
than through desktop-notifier, because desktop-notifier 6.2 always sends replaces_id 0 (so a burst
summary cannot be updated in place) and swallows send errors (so a failure cannot fall back).
"""

import asyncio
import contextlib
import html
import json
import logging
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from dbus_fast import DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from daemon.errors import ClaimwatchError

log = logging.getLogger(__name__)

T = TypeVar("T")

ICON = str(Path(__file__).with_name("claimwatch.svg"))

NOTIFICATIONS_NAME = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
NOTIFICATIONS_INTERFACE = "org.freedesktop.Notifications"
NOTIFY_SIGNATURE = "susssasa{sv}i"
SIGNAL_RULE = (
    f"type='signal',sender='{NOTIFICATIONS_NAME}',"
    f"interface='{NOTIFICATIONS_INTERFACE}',path='{NOTIFICATIONS_PATH}'"
)
URGENCIES = {"low": 0, "normal": 1, "critical": 2}
SERVICE_UNKNOWN = "org.freedesktop.DBus.Error.ServiceUnknown"
FALLBACK = "alerts go to notify_command and the log"
CALLER_MARGIN = 1.0  # the caller's backstop beyond the loop's own timeout
ADDRESS_SAFE = frozenset(b"-_/.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
STDERR_TAIL = 4096
ERROR_LINE_MAX = 200


class NotifyError(ClaimwatchError):
    """An alert could not be delivered on one channel; the caller tries the next one."""


# --- desktop notifications ------------------------------------------------------------------------


def session_bus_address() -> str:
    """The session bus address, read now: DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus.

    dbus-fast itself falls back to X11 autolaunch files instead of $XDG_RUNTIME_DIR/bus, which
    is where systemd user sessions put the bus (and which a systemd user service may be given
    without the variable), so the address is resolved here.
    """
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "").strip()
    if address:
        return address
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime_dir and Path(runtime_dir, "bus").exists():
        path = os.fsencode(Path(runtime_dir, "bus"))
        return "unix:path=" + "".join(chr(b) if b in ADDRESS_SAFE else f"%{b:02x}" for b in path)
    raise NotifyError(
        "desktop notification failed: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set "
        f"and there is no $XDG_RUNTIME_DIR/bus); {FALLBACK}"
    )


def _describe(exc: BaseException, address: str, timeout: float) -> str:
    """What went wrong, in words a user can act on."""
    if isinstance(exc, TimeoutError):
        return (
            f"the notification server did not answer within {timeout:g} s; it may be hung "
            f"(restart it or the desktop session); {FALLBACK}"
        )
    if isinstance(exc, DBusError) and exc.type == SERVICE_UNKNOWN:
        return (
            f"no notification server runs on the session bus ({NOTIFICATIONS_NAME} is not "
            f"owned); start one (a desktop environment, dunst, mako) or rely on notify_command; "
            f"{FALLBACK}"
        )
    if isinstance(exc, DBusError):
        return f"the notification server answered with an error: {exc.type}: {exc.text}; {FALLBACK}"
    if isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
        return (
            f"cannot connect to the D-Bus session bus at {address}: {reason}; is the desktop "
            f"session running? {FALLBACK}"
        )
    return f"D-Bus error talking to {address}: {type(exc).__name__}: {exc}; {FALLBACK}"


def _raise_for_error(reply: Message) -> Message:
    """dbus-fast's MessageBus.call returns an error reply instead of raising it."""
    if reply.message_type is MessageType.ERROR:
        text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
        raise DBusError(reply.error_name or "unknown", text, reply=reply)
    return reply


class DesktopNotifications:
    """A client of org.freedesktop.Notifications on the session bus, for threaded callers.

    dbus-fast is asyncio-only and delivers signals (ActionInvoked) only while a loop runs, so
    the client keeps an event loop in a daemon thread of its own ("claimwatch-dbus"), started
    on first use; the public methods are synchronous and thread-safe. The bus connection is
    made on first use and again after it was lost or timed out, so a restarted bus or
    notification server is picked up by the next call.

    on_action(notification_id, action_key) runs on the loop thread when the user presses an
    action of a notification this client sent: it should be quick (hand the work to a queue).
    """

    def __init__(
        self,
        *,
        app_name: str = "claimwatch",
        icon: str = "",
        on_action: Callable[[int, str], None] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.app_name = app_name
        self.icon = icon
        self.on_action = on_action
        self.timeout = timeout
        self._lock = threading.Lock()  # the loop and thread
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Loop-thread state: the connection, and the lock that lets one coroutine make it.
        self._bus: MessageBus | None = None
        self._connecting: asyncio.Lock | None = None
        self._watchers: set[asyncio.Task[None]] = set()
        # Whether the connected server parses the body as markup (its "body-markup" capability).
        self._body_markup = True
        # Ids from the current connection; read from any thread, hence a lock.
        self._ids_lock = threading.Lock()
        self._sent: set[int] = set()
        self._open: set[int] = set()

    # -- public, called from any thread --------------------------------------------------------

    def notify(
        self,
        title: str,
        body: str,
        *,
        urgency: str = "normal",
        replaces_id: int = 0,
        actions: Sequence[tuple[str, str]] = (),
        category: str = "",
    ) -> int:
        """Show (or, with replaces_id, update in place) a notification; the server's id.

        A critical one never expires; the others expire as the server decides.
        """
        if urgency not in URGENCIES:
            raise ValueError(f"urgency must be one of {sorted(URGENCIES)}, not {urgency!r}")
        hints = {"urgency": Variant("y", URGENCIES[urgency])}
        if category:
            hints["category"] = Variant("s", category)
        args = [
            self.app_name,
            replaces_id,
            self.icon,
            title,
            body,
            [part for pair in actions for part in pair],
            hints,
            0 if urgency == "critical" else -1,
        ]
        return self._submit(self._notify, args, replaces_id)

    def is_open(self, notification_id: int) -> bool:
        """True if this client sent it and has not seen it closed since.

        After a lost connection nothing counts as open: closes may have been missed, and a
        restarted server numbers its notifications afresh.
        """
        with self._ids_lock:
            return notification_id in self._open

    def close(self) -> None:
        """Disconnect and stop the loop thread; bounded, idempotent (a later call starts anew)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        with contextlib.suppress(Exception):
            future.result(self.timeout + CALLER_MARGIN)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self.timeout)
        if thread.is_alive():
            log.warning("the D-Bus notification thread did not stop within %g s", self.timeout)
        else:
            loop.close()

    # -- internals: callers hand coroutines to the loop thread -------------------------------------

    def _submit(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run fn(*args) on the loop; the caller waits at most timeout plus a margin.

        The coroutine bounds itself by timeout; the margin here is a backstop for a loop kept
        busy by a slow on_action callback.
        """
        with self._lock:
            if self._thread is not None and threading.current_thread() is self._thread:
                raise RuntimeError("DesktopNotifications must not be called from on_action")
            future = asyncio.run_coroutine_threadsafe(fn(*args), self._start_loop())
        try:
            return future.result(self.timeout + CALLER_MARGIN)
        except TimeoutError:
            future.cancel()
            raise NotifyError(
                f"desktop notification failed: no answer within {self.timeout:g} s; {FALLBACK}"
            ) from None

    def _start_loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started on first use (called with self._lock held)."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._connecting = asyncio.Lock()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="claimwatch-dbus", daemon=True
            )
            self._thread.start()
        return self._loop

    async def _notify(self, args: list[Any], replaces_id: int) -> int:
        """One Notify call, connecting first if need be, all within timeout."""
        address = ""
        bus = None
        try:
            async with asyncio.timeout(self.timeout):
                address = session_bus_address()
                bus = await self._connection(address)
                if self._body_markup:
                    args = [*args[:4], html.escape(args[4], quote=False), *args[5:]]
                reply = await bus.call(
                    Message(
                        destination=NOTIFICATIONS_NAME,
                        path=NOTIFICATIONS_PATH,
                        interface=NOTIFICATIONS_INTERFACE,
                        member="Notify",
                        signature=NOTIFY_SIGNATURE,
                        body=args,
                    )
                )
                [nid] = _raise_for_error(reply).body
        except NotifyError:
            raise
        except Exception as exc:
            if not isinstance(exc, DBusError):
                self._drop(bus)  # hung or broken (not a plain error reply): start clean next time
            raise NotifyError(
                f"desktop notification failed: {_describe(exc, address, self.timeout)}"
            ) from exc
        with self._ids_lock:
            if replaces_id and replaces_id != nid:
                self._open.discard(replaces_id)
            self._sent.add(nid)
            self._open.add(nid)
        return nid

    async def _connection(self, address: str) -> MessageBus:
        """The live connection, or a new one subscribed to the server's signals."""
        assert self._connecting is not None
        async with self._connecting:
            if self._bus is not None and self._bus.connected:
                return self._bus
            self._drop(self._bus)
            bus = MessageBus(bus_address=address)
            await bus.connect()
            try:
                bus.add_message_handler(self._on_message)
                await self._add_match(bus)
                self._body_markup = await self._parses_markup(bus)
            except BaseException:
                bus.disconnect()
                raise
            self._bus = bus
            watcher = asyncio.get_running_loop().create_task(self._watch(bus))
            self._watchers.add(watcher)
            watcher.add_done_callback(self._watchers.discard)
            return bus

    @staticmethod
    async def _add_match(bus: MessageBus) -> None:
        """Ask the bus to route the server's signals to us (they are broadcast)."""
        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=[SIGNAL_RULE],
            )
        )
        _raise_for_error(reply)

    @staticmethod
    async def _parses_markup(bus: MessageBus) -> bool:
        """Whether the server reads the body as markup, where a subject's "<" or "&" would vanish.

        dunst, GNOME and KDE do; the summary is plain text everywhere. A server that cannot say
        is taken to parse markup: an escaped "&amp;" is legible, a swallowed "<urgent>" is lost.
        """
        reply = await bus.call(
            Message(
                destination=NOTIFICATIONS_NAME,
                path=NOTIFICATIONS_PATH,
                interface=NOTIFICATIONS_INTERFACE,
                member="GetCapabilities",
            )
        )
        if reply.message_type is MessageType.ERROR or not reply.body:
            return True
        return "body-markup" in reply.body[0]

    async def _watch(self, bus: MessageBus) -> None:
        """Forget the connection as soon as it ends, so the next call reconnects."""
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()
        if self._bus is bus:
            log.info("lost the D-Bus session bus connection; the next alert reconnects")
            self._drop(bus)

    def _drop(self, bus: MessageBus | None) -> None:
        """Disconnect bus (if it is the current one) and forget what it told us."""
        if bus is None:
            return
        bus.disconnect()
        if self._bus is bus:
            self._bus = None
            with self._ids_lock:
                self._sent.clear()
                self._open.clear()

    async def _shutdown(self) -> None:
        bus = self._bus
        self._drop(bus)
        if self._watchers:
            await asyncio.wait(set(self._watchers), timeout=self.timeout)

    def _on_message(self, msg: Message) -> None:
        """Every incoming message passes here: act on the server's two signals only."""
        if msg.message_type is not MessageType.SIGNAL or msg.interface != NOTIFICATIONS_INTERFACE:
            return
        if msg.member == "ActionInvoked" and msg.signature == "us":
            nid, key = msg.body
            with self._ids_lock:
                ours = nid in self._sent
            if ours and self.on_action is not None:
                try:
                    self.on_action(nid, key)
                except Exception:
                    log.exception("the handler of action %r on notification %d failed", key, nid)
        elif msg.member == "NotificationClosed" and msg.signature == "uu":
            with self._ids_lock:
                self._open.discard(msg.body[0])


# --- notify_command -------------------------------------------------------------------------------


def run_notify_command(command: str, payload: dict, *, timeout: float = 30.0) -> None:
    """Run the user's command with /bin/sh, the payload as one JSON line on its stdin.

    Stdin, stdout and stderr are temporary files rather than pipes: nothing can block on a
    command that does not read its input, and a background child left holding an output does
    not make a finished command look hung. The command gets a session (process group) of its
    own, so a timeout kills everything it started. The payload never appears in an error.
    """
    with (
        tempfile.TemporaryFile() as stdin,
        tempfile.TemporaryFile() as stdout,
        tempfile.TemporaryFile() as stderr,
    ):
        stdin.write(json.dumps(payload).encode() + b"\n")
        stdin.seek(0)
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        except OSError as exc:
            raise NotifyError(f"notify_command could not be started: {exc}") from None
        try:
            status = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise NotifyError(
                f"notify_command timed out after {timeout:g} s and was killed; it must finish "
                "sooner (the command is not shown: it may hold a token)"
            ) from None
        if status != 0:
            how = (
                f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
            )
            raise NotifyError(f"notify_command {how}: {_last_line(stderr)}")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to the command's whole process group, then reap the shell."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _last_line(stream: Any) -> str:
    """The last non-empty line of a captured stderr file, at most ERROR_LINE_MAX characters."""
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(0, size - STDERR_TAIL))
    lines = stream.read().decode(errors="replace").splitlines()
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return last[:ERROR_LINE_MAX] or "(nothing on stderr)"
