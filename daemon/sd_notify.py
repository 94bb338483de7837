"""Telling systemd how the daemon is doing: READY=1, STATUS=, WATCHDOG=1, STOPPING=1.

The protocol is one datagram to the unix socket named by ``$NOTIFY_SOCKET`` (sd_notify(3)); the
Python wrappers on PyPI are either unmaintained (sdnotify) or need libsystemd's headers to build
(systemd-python), so these few lines are our own. Outside systemd nothing is set and every call
is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class SystemdNotifier:
    """The daemon's line to the service manager; silent when there is none."""

    def __init__(self, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog = _watchdog_seconds(env)
        self._socket: socket.socket | None = None
        self._warned = False

    @property
    def active(self) -> bool:
        return self.address is not None

    def ready(self, status: str) -> None:
        self.send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def ping(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1\nSTATUS=stopping")

    def reloading(self) -> None:
        self.send("RELOADING=1\nSTATUS=reloading the configuration")

    def send(self, state: str) -> None:
        """Send *state*; a failure is logged once and never stops the daemon."""
        if self.address is None:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto(state.encode(), self.address)
        except OSError as e:
            if not self._warned:
                log.warning("cannot notify systemd through %s: %s", self.address, e)
                self._warned = True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _address(value: str) -> str | bytes | None:
    """A path, or an abstract socket name ('@' becomes the leading NUL byte)."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    log.warning("ignoring NOTIFY_SOCKET=%r: not a unix socket path", value)
    return None


def _watchdog_seconds(env: dict[str, str]) -> float | None:
    """WatchdogSec= as seconds, when it is meant for this process (sd_watchdog_enabled(3))."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000
