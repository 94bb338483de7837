"""The private session bus and recording notification server (tests/dbus_session.py), proved
with real clients: desktop-notifier driven from a thread the way a threaded daemon would, and
plain dbus-fast for what desktop-notifier cannot do (replaces_id: one summary updated in place).

Every test runs with DBUS_SESSION_BUS_ADDRESS first pointing at a decoy "user session bus": a
listening socket that must never see a connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
from dbus_fast import DBusError, Variant
from dbus_fast.aio import MessageBus, ProxyInterface
from dbus_session import NOTIFICATIONS_NAME, NOTIFICATIONS_PATH, SessionBus, session_bus
from desktop_notifier import Button, DesktopNotifier, Notification, Urgency

T = TypeVar("T")
WAIT = 10.0  # the bound on every wait for a reply, a record or a callback
CRITICAL = 2


class LoopThread:
    """An asyncio loop in a thread of its own, as a threaded daemon would run its notifier:
    callbacks (ActionInvoked) only fire while a loop runs."""

    def __enter__(self) -> LoopThread:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the notifier loop did not stop"
        self.loop.close()


@pytest.fixture
def decoy_user_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A listening socket posing as the user's real session bus; it must stay untouched."""
    path = tmp_path / "user-bus"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(8)
    sock.setblocking(False)
    address = f"unix:path={path}"
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    monkeypatch.setenv("DBUS_STARTER_ADDRESS", address)
    monkeypatch.setenv("DBUS_STARTER_BUS_TYPE", "session")
    monkeypatch.delenv("DISPLAY", raising=False)  # dbus-fast's X11 fallback
    try:
        yield address
        with pytest.raises(BlockingIOError):
            sock.accept()  # nothing connected to the "user's" bus
    finally:
        sock.close()


@pytest.fixture
def private_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decoy_user_bus: str
) -> Iterator[SessionBus]:
    """The harness, with this process's environment pointing at it for in-process clients."""
    with session_bus(tmp_path) as bus:
        for key, value in bus.env.items():
            if key.startswith("DBUS_"):
                monkeypatch.setenv(key, value)
        monkeypatch.delenv("DBUS_STARTER_ADDRESS", raising=False)
        monkeypatch.delenv("DBUS_STARTER_BUS_TYPE", raising=False)
        yield bus


def _actions(call: dict[str, Any]) -> dict[str, str]:
    flat = call["actions"]
    return dict(zip(flat[0::2], flat[1::2], strict=True))


def _disconnect(notifier: DesktopNotifier) -> None:
    bus = getattr(notifier._backend, "bus", None)
    if bus is not None:
        bus.disconnect()


# --- desktop-notifier ----------------------------------------------------------------------------


def test_desktop_notifier_critical_alert_and_open_case(private_bus: SessionBus) -> None:
    pressed = threading.Event()
    clicked = threading.Event()
    dispatched = threading.Event()
    with LoopThread() as lt:
        notifier = DesktopNotifier(app_name="claimwatch", app_icon=None)
        try:
            alert = Notification(
                title="A-to-z claim · 47 h left",
                message="Order 171-5551234-7654321 · EUR 89.90 · not received",
                urgency=Urgency.Critical,
                buttons=(
                    Button(title="Open case", on_pressed=pressed.set, identifier="open-case"),
                ),
                on_clicked=clicked.set,
                on_dispatched=dispatched.set,
                timeout=0,  # never expires
            )
            assert lt.run(notifier.send_notification(alert)) == alert.identifier
            assert dispatched.is_set()  # desktop-notifier's only sign that the send worked
            [call] = private_bus.wait_for_notifications(1, WAIT)
            assert call["app_name"] == "claimwatch"
            assert call["summary"] == "A-to-z claim · 47 h left"
            assert call["body"] == "Order 171-5551234-7654321 · EUR 89.90 · not received"
            assert call["hints"]["urgency"] == CRITICAL
            assert call["expire_timeout"] == 0
            assert call["replaces_id"] == 0
            # "default" is the click on the body; desktop-notifier always offers it.
            assert _actions(call) == {"default": "", "open-case": "Open case"}
            assert call["sender"] == notifier._backend.bus.unique_name

            private_bus.invoke_action(call["id"], "open-case")
            assert pressed.wait(WAIT), "Button.on_pressed did not fire for the action"
            assert not clicked.is_set()
            closed = private_bus.wait_for_calls("NotificationClosed", 1, WAIT)
            assert [(c["id"], c["reason"]) for c in closed] == [(call["id"], 2)]
        finally:
            lt.loop.call_soon_threadsafe(_disconnect, notifier)


def test_desktop_notifier_click_on_body_fires_on_clicked(private_bus: SessionBus) -> None:
    clicked = threading.Event()
    with LoopThread() as lt:
        notifier = DesktopNotifier(app_name="claimwatch", app_icon=None)
        try:
            lt.run(notifier.send("Chargeback · 6 days left", "dp_1Q2w3E", on_clicked=clicked.set))
            [call] = private_bus.wait_for_notifications(1, WAIT)
            assert call["hints"]["urgency"] == 1  # Urgency.Normal by default
            private_bus.invoke_action(call["id"], "default")
            assert clicked.wait(WAIT), "on_clicked did not fire for the default action"
        finally:
            lt.loop.call_soon_threadsafe(_disconnect, notifier)


CHILD = """
from desktop_notifier import DesktopNotifierSync, Urgency
notifier = DesktopNotifierSync(app_name="claimwatch-child", app_icon=None)
notifier.send("from a child process", "fire and forget", urgency=Urgency.Low)
"""


def test_child_process_gets_the_private_bus_only(
    private_bus: SessionBus, tmp_path: Path, decoy_user_bus: str
) -> None:
    env = private_bus.env
    assert env["DBUS_SESSION_BUS_ADDRESS"] == private_bus.address != decoy_user_bus
    assert "DBUS_STARTER_ADDRESS" not in env
    assert "DBUS_STARTER_BUS_TYPE" not in env
    if len(str(tmp_path / "dbus" / "bus")) <= 100:
        assert private_bus.socket.is_relative_to(tmp_path)
    res = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert "Notification failed" not in res.stderr, res.stderr
    [call] = private_bus.wait_for_notifications(1, WAIT)
    assert (call["app_name"], call["summary"]) == ("claimwatch-child", "from a child process")
    assert call["hints"]["urgency"] == 0
    # The private bus activates nothing installed on the machine: a missing name fails at once.
    with pytest.raises(RuntimeError, match="ServiceUnknown"):
        private_bus.call("org.freedesktop.portal.Desktop", "/", "org.freedesktop.DBus.Peer.Ping")


# --- plain dbus-fast: what the product needs beyond desktop-notifier ----------------------------


async def _proxy(conn: MessageBus) -> ProxyInterface:
    intro = await conn.introspect(NOTIFICATIONS_NAME, NOTIFICATIONS_PATH)
    obj = conn.get_proxy_object(NOTIFICATIONS_NAME, NOTIFICATIONS_PATH, intro)
    return obj.get_interface("org.freedesktop.Notifications")


async def _notify(iface: ProxyInterface, summary: str, replaces_id: int = 0) -> int:
    return await iface.call_notify(  # type: ignore[attr-defined]
        "claimwatch",
        replaces_id,
        "",
        summary,
        "A-to-z 31 · chargeback 9",
        ["open-cases", "Open cases"],
        {"urgency": Variant("y", CRITICAL)},
        0,
    )


def test_summary_updated_in_place_with_dbus_fast(private_bus: SessionBus) -> None:
    async def scenario() -> tuple[str, int, int]:
        conn = await MessageBus().connect()
        try:
            iface = await _proxy(conn)
            invoked: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
            closed: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
            iface.on_action_invoked(lambda nid, key: invoked.put_nowait((nid, key)))  # type: ignore[attr-defined]
            iface.on_notification_closed(lambda nid, why: closed.put_nowait((nid, why)))  # type: ignore[attr-defined]
            first = await _notify(iface, "12 claims need an answer")
            again = await _notify(iface, "40 claims need an answer", replaces_id=first)
            assert again == first
            await asyncio.to_thread(private_bus.invoke_action, first, "open-cases")
            assert await asyncio.wait_for(invoked.get(), WAIT) == (first, "open-cases")
            assert await asyncio.wait_for(closed.get(), WAIT) == (first, 2)
            other = await _notify(iface, "to be withdrawn")
            await iface.call_close_notification(other)  # type: ignore[attr-defined]
            assert await asyncio.wait_for(closed.get(), WAIT) == (other, 3)
            return conn.unique_name, first, other
        finally:
            conn.disconnect()

    unique_name, first, other = asyncio.run(asyncio.wait_for(scenario(), 3 * WAIT))
    calls = private_bus.notifications()
    assert [(c["id"], c["replaces_id"], c["summary"]) for c in calls] == [
        (first, 0, "12 claims need an answer"),
        (first, first, "40 claims need an answer"),
        (other, 0, "to be withdrawn"),
    ]
    assert {c["sender"] for c in calls} == {unique_name}
    assert [c["id"] for c in private_bus.calls("CloseNotification")] == [other]


def test_server_can_refuse_or_hang(private_bus: SessionBus) -> None:
    """For "a notifier that fails or hangs does not stop processing" (issue 5)."""

    async def scenario() -> None:
        conn = await MessageBus().connect()
        try:
            iface = await _proxy(conn)
            await asyncio.to_thread(private_bus.set_mode, "error")
            with pytest.raises(DBusError, match="refused"):
                await _notify(iface, "refused")
            await asyncio.to_thread(private_bus.set_mode, "hang")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(_notify(iface, "never answered"), 0.5)
            await asyncio.to_thread(private_bus.set_mode, "ok")
            assert await _notify(iface, "answered") >= 1
        finally:
            conn.disconnect()

    asyncio.run(asyncio.wait_for(scenario(), 3 * WAIT))
    assert [c["summary"] for c in private_bus.calls("NotifyRefused")] == ["refused"]
    assert [c["summary"] for c in private_bus.calls("NotifyHung")] == ["never answered"]
    assert [c["summary"] for c in private_bus.notifications()] == ["answered"]


# --- the harness itself --------------------------------------------------------------------------


def test_waits_are_bounded_and_mistakes_fail(private_bus: SessionBus) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="0 of 1 Notify"):
        private_bus.wait_for_notifications(1, timeout=0.2)
    assert time.monotonic() - start < 2
    with pytest.raises(RuntimeError, match="UnknownNotification"):
        private_bus.invoke_action(999, "open-case")
    with pytest.raises(RuntimeError, match="InvalidArgs"):
        private_bus.set_mode("sometimes")


def test_exit_leaves_nothing_running(tmp_path: Path, decoy_user_bus: str) -> None:
    with session_bus(tmp_path) as bus:
        pids = bus.pids
        path = bus.socket
        assert len(pids) == 2
        assert bus.name_has_owner(NOTIFICATIONS_NAME)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # neither leader nor anything in its group is left
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s, pytest.raises(OSError):
        s.connect(str(path))
