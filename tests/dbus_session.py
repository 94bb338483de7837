"""A private D-Bus session bus with a recording notification server, for tests.

The design asks for a real session bus in tests, not mocks. session_bus(tmp_path) starts a
dbus-daemon of its own (its own config: a unix socket under tmp_path, no service directories,
so nothing installed on the machine can be activated on it and a missing name fails at once
with ServiceUnknown) and tests/notification_server.py on it, waits until
org.freedesktop.Notifications is owned, and on exit ends both process groups:

    with session_bus(tmp_path) as bus:
        subprocess.run([...claimwatch...], env=bus.env)     # children talk to this bus only
        [alert] = bus.wait_for_notifications(1, timeout=10)
        assert alert["hints"]["urgency"] == 2
        bus.invoke_action(alert["id"], "open-case")       # as if the user pressed the button

In-process clients (desktop-notifier, dbus-fast) read DBUS_SESSION_BUS_ADDRESS when they
connect, so a test sets it (monkeypatch.setenv) to bus.address first.

Records are dicts as tests/notification_server.py writes them: "event" is "Notify",
"CloseNotification", "ActionInvoked", "NotificationClosed", "NotifyRefused", "NotifyHung" or
"SetMode"; a Notify record has id, sender, app_name, replaces_id, app_icon, summary, body,
actions (flat [key, label, ...]), hints (urgency as an int: 0 low, 1 normal, 2 critical) and
expire_timeout.

dbus-daemon or dbus-send missing: a skip with the reason, a failure when CI is set. Depends on
the stdlib (and pytest for that skip); the server needs dbus-fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dovecot import find_binary
from support import require

NOTIFICATIONS_NAME = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
CONTROL_INTERFACE = "org.claimwatch.test.Control"
SERVER_SCRIPT = Path(__file__).resolve().with_name("notification_server.py")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CALL_TIMEOUT = 10.0
POLL_INTERVAL = 0.02
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; keep a margin
INSTALL_HINT = "apt-get install -y dbus-daemon"

# Only what the tests need: a listening socket, the same-user EXTERNAL auth of a session bus,
# and no <servicedir>, <includedir> or <standard_session_servicedirs/>.
_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def dbus_unavailable() -> str | None:
    """Why a private session bus cannot be started here, or None."""
    for name in ("dbus-daemon", "dbus-send"):
        if find_binary(name) is None:
            return f"{name} is not installed ({INSTALL_HINT})"
    try:
        import dbus_fast  # noqa: F401
    except ImportError:
        return "dbus-fast is not installed (.venv/bin/pip install -e '.[test]')"
    return None


def require_dbus() -> None:
    """Skip the test when the bus cannot be had; under CI that is a failure instead."""
    require(dbus_unavailable(), "D-Bus tests")


def _stop_group(proc: subprocess.Popen | None) -> None:
    """SIGTERM to the process group, SIGKILL if it lingers; everything in it ends, bounded."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT)
    # Anything the leader left behind in its group (it was started with its own session).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class SessionBus:
    """One private bus and its recording server; use it through session_bus()."""

    def __init__(self, tmp_path: Path) -> None:
        self._own_root = False
        self.root = Path(tmp_path) / "dbus"
        if len(str(self.root / "bus")) > SOCKET_PATH_MAX:
            self.root = Path(tempfile.mkdtemp(prefix="cwdb", dir="/tmp"))
            self._own_root = True
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket = self.root / "bus"
        self.address = f"unix:path={self.socket}"
        self.record_file = self.root / "notifications.jsonl"
        self.config_file = self.root / "bus.conf"
        self.daemon_log = self.root / "dbus-daemon.log"
        self.server_log = self.root / "notification-server.log"
        env = dict(os.environ)
        for key in ("DBUS_STARTER_ADDRESS", "DBUS_STARTER_BUS_TYPE"):
            env.pop(key, None)
        env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        self.env: dict[str, str] = env
        self.daemon: subprocess.Popen | None = None
        self.server: subprocess.Popen | None = None
        self._dbus_send = find_binary("dbus-send") or "dbus-send"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._start_daemon()
            self._start_server()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Server first (so it does not log a lost bus), then the bus; both groups end."""
        server, self.server = self.server, None
        daemon, self.daemon = self.daemon, None
        try:
            _stop_group(server)
        finally:
            _stop_group(daemon)
            if daemon is not None and daemon.stdout is not None:
                daemon.stdout.close()
            if self._own_root:
                shutil.rmtree(self.root, ignore_errors=True)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in (self.daemon, self.server) if p is not None]

    def _start_daemon(self) -> None:
        self.config_file.write_text(_CONFIG.format(socket=self.socket))
        with open(self.daemon_log, "ab") as log:
            self.daemon = subprocess.Popen(
                [
                    find_binary("dbus-daemon") or "dbus-daemon",
                    "--nofork",
                    "--print-address",
                    f"--config-file={self.config_file}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self.env,
                start_new_session=True,
            )
        # --print-address prints once the socket listens: that is the readiness signal.
        assert self.daemon.stdout is not None
        ready, _, _ = select.select([self.daemon.stdout], [], [], START_TIMEOUT)
        line = self.daemon.stdout.readline().decode(errors="replace").strip() if ready else ""
        if not line.startswith(self.address):
            raise RuntimeError(
                f"dbus-daemon did not start on {self.address} within {START_TIMEOUT}s "
                f"(printed {line!r}):\n{self.log_tail()}"
            )

    def _start_server(self) -> None:
        with open(self.server_log, "ab") as log:
            self.server = subprocess.Popen(
                [sys.executable, str(SERVER_SCRIPT), "--record", str(self.record_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._check_server()
            if self.name_has_owner(NOTIFICATIONS_NAME):
                return
            time.sleep(POLL_INTERVAL)
        raise RuntimeError(
            f"{NOTIFICATIONS_NAME} not owned within {START_TIMEOUT}s:\n{self.log_tail()}"
        )

    def _check_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            code = None if self.server is None else self.server.returncode
            raise RuntimeError(f"the notification server exited ({code}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for f in (self.daemon_log, self.server_log):
            with contextlib.suppress(OSError):
                text = f.read_text(errors="replace").splitlines()[-lines:]
                parts.extend(f"{f.name}: {line}" for line in text)
        return "\n".join(parts)

    # -- talking to the bus: dbus-send, so no D-Bus client runs in the test process ----------

    def call(self, dest: str, path: str, member: str, *args: str) -> str:
        """One method call on this bus (member is INTERFACE.METHOD, args in dbus-send's
        TYPE:VALUE form); the printed reply, or RuntimeError with the D-Bus error."""
        cmd = [
            self._dbus_send,
            f"--bus={self.address}",
            "--print-reply",
            f"--reply-timeout={int(CALL_TIMEOUT * 1000)}",
            f"--dest={dest}",
            path,
            member,
            *args,
        ]
        res = subprocess.run(
            cmd, capture_output=True, text=True, timeout=CALL_TIMEOUT + 5, env=self.env
        )
        if res.returncode != 0:
            raise RuntimeError(f"{member} failed: {res.stderr.strip() or res.stdout.strip()}")
        return res.stdout

    def _control(self, member: str, *args: str) -> None:
        self.call(NOTIFICATIONS_NAME, NOTIFICATIONS_PATH, f"{CONTROL_INTERFACE}.{member}", *args)

    def name_has_owner(self, name: str) -> bool:
        out = self.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            f"string:{name}",
        )
        return "boolean true" in out

    def invoke_action(self, notification_id: int, action_key: str) -> None:
        """The user pressed action_key: ActionInvoked, then NotificationClosed(id, 2).

        Raises RuntimeError if the notification is not open or did not offer that action.
        """
        self._control("InvokeAction", f"uint32:{notification_id}", f"string:{action_key}")

    def dismiss(self, notification_id: int, reason: int = 2) -> None:
        """NotificationClosed(id, reason): 1 expired, 2 dismissed by the user."""
        self._control("Dismiss", f"uint32:{notification_id}", f"uint32:{reason}")

    def set_mode(self, mode: str) -> None:
        """How later Notify calls are answered: "ok", "error" (an error reply), "hang" (none)."""
        self._control("SetMode", f"string:{mode}")

    def set_capabilities(self, capabilities: list[str]) -> None:
        """What later GetCapabilities calls answer (non-empty: dbus-send cannot send [])."""
        self._control("SetCapabilities", "array:string:" + ",".join(capabilities))

    # -- what the server recorded ------------------------------------------------------------

    def calls(self, event: str | None = None) -> list[dict[str, Any]]:
        """Every record so far (only whole lines), or those of one event."""
        try:
            data = self.record_file.read_bytes()
        except FileNotFoundError:
            return []
        records = [json.loads(line) for line in data.split(b"\n")[:-1] if line.strip()]
        return [r for r in records if event is None or r["event"] == event]

    def notifications(self) -> list[dict[str, Any]]:
        """The Notify calls answered so far, in order."""
        return self.calls("Notify")

    def wait_for_calls(
        self, event: str, n: int, timeout: float = CALL_TIMEOUT
    ) -> list[dict[str, Any]]:
        """At least n records of event (all of them are returned), or TimeoutError."""
        return self._wait(lambda: self.calls(event), n, timeout, event)

    def wait_for_notifications(self, n: int, timeout: float = CALL_TIMEOUT) -> list[dict[str, Any]]:
        """At least n Notify calls (all of them are returned), or TimeoutError."""
        return self._wait(self.notifications, n, timeout, "Notify")

    def _wait(
        self, get: Callable[[], list[dict[str, Any]]], n: int, timeout: float, what: str
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            got = get()
            if len(got) >= n:
                return got
            self._check_server()
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{len(got)} of {n} {what} calls after {timeout}s; recorded: "
                    f"{self.calls()}\n{self.log_tail()}"
                )
            time.sleep(POLL_INTERVAL)


@contextlib.contextmanager
def session_bus(tmp_path: Path) -> Iterator[SessionBus]:
    """A running private session bus with the recording notification server; see the module."""
    require_dbus()
    bus = SessionBus(tmp_path)
    bus.start()
    try:
        yield bus
    finally:
        bus.stop()
