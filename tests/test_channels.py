"""daemon/channels.py on a real private session bus (tests/dbus_session.py) and a real shell.

As in tests/test_dbus_harness.py, DBUS_SESSION_BUS_ADDRESS first points at a decoy "user session
bus" (a listening socket that must never see a connection) and then at the private bus.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbus_session import SessionBus, session_bus
from support import wait_for

from daemon.channels import ICON, DesktopNotifications, NotifyError, run_notify_command

WAIT = 10.0  # the bound on every wait for a record, a callback or a state change
CRITICAL = 2


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
    monkeypatch.delenv("DISPLAY", raising=False)  # dbus-fast's X11 fallback
    try:
        yield address
        with pytest.raises(BlockingIOError):
            sock.accept()  # nothing connected to the "user's" bus
    finally:
        sock.close()


def _use(monkeypatch: pytest.MonkeyPatch, bus: SessionBus) -> SessionBus:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
    return bus


@pytest.fixture
def private_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decoy_user_bus: str
) -> Iterator[SessionBus]:
    with session_bus(tmp_path) as bus:
        yield _use(monkeypatch, bus)


class Actions:
    """Records on_action calls; wait() is bounded."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []
        self._cond = threading.Condition()

    def __call__(self, nid: int, key: str) -> None:
        with self._cond:
            self.calls.append((nid, key))
            self._cond.notify_all()

    def wait(self, n: int) -> list[tuple[int, str]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.calls) >= n, WAIT), self.calls
            return list(self.calls)


@pytest.fixture
def clients() -> Iterator[list[DesktopNotifications]]:
    """Every client a test makes is closed after it, and its thread must be gone."""
    made: list[DesktopNotifications] = []
    yield made
    for client in made:
        client.close()
    names = [t.name for t in threading.enumerate()]
    assert "claimwatch-dbus" not in names


def _client(clients: list[DesktopNotifications], **kwargs) -> DesktopNotifications:
    client = DesktopNotifications(**kwargs)
    clients.append(client)
    return client


# --- DesktopNotifications -------------------------------------------------------------------------


def test_critical_alert_arrives_as_sent(private_bus: SessionBus, clients) -> None:
    client = _client(clients, icon=ICON)
    nid = client.notify(
        "A-to-z claim · 47 h left",
        "Order 171-5551234-7654321 · EUR 89.90 · not received",
        urgency="critical",
        actions=[("open-case", "Open case"), ("snooze", "Remind me in 1 h")],
        category="im.received",
    )
    [call] = private_bus.wait_for_notifications(1, WAIT)
    assert call["id"] == nid
    assert call["app_name"] == "claimwatch"
    assert call["app_icon"] == ICON
    assert Path(ICON).is_file()
    assert call["summary"] == "A-to-z claim · 47 h left"
    assert call["body"] == "Order 171-5551234-7654321 · EUR 89.90 · not received"
    assert call["actions"] == ["open-case", "Open case", "snooze", "Remind me in 1 h"]
    assert call["hints"] == {"urgency": CRITICAL, "category": "im.received"}
    assert call["expire_timeout"] == 0
    assert call["replaces_id"] == 0
    assert client.is_open(nid)


def test_the_body_is_escaped_for_a_server_that_reads_markup(
    private_bus: SessionBus, clients
) -> None:
    subject = "Re: <urgent> refund & return for order 171-5551234-7654321"
    _client(clients).notify("A-to-z claim <new> & open", subject)
    [call] = private_bus.wait_for_notifications(1, WAIT)
    assert call["body"] == "Re: &lt;urgent&gt; refund &amp; return for order 171-5551234-7654321"
    assert call["summary"] == "A-to-z claim <new> & open"  # plain text on every server


def test_the_body_goes_as_written_to_a_server_without_markup(
    private_bus: SessionBus, clients
) -> None:
    private_bus.set_capabilities(["actions", "body"])
    _client(clients).notify("Chargeback", "Re: <urgent> refund & return")
    [call] = private_bus.wait_for_notifications(1, WAIT)
    assert call["body"] == "Re: <urgent> refund & return"


def test_normal_and_low_expire_and_bad_urgency_is_refused(private_bus: SessionBus, clients) -> None:
    client = _client(clients)
    client.notify("Chargeback · 6 days left", "dp_1Q2w3E")
    client.notify("12 routine messages", "", urgency="low")
    calls = private_bus.wait_for_notifications(2, WAIT)
    assert [(c["hints"], c["expire_timeout"], c["app_icon"]) for c in calls] == [
        ({"urgency": 1}, -1, ""),
        ({"urgency": 0}, -1, ""),
    ]
    with pytest.raises(ValueError, match="urgency"):
        client.notify("x", "y", urgency="urgent")


def test_summary_is_updated_in_place(private_bus: SessionBus, clients) -> None:
    client = _client(clients)
    first = client.notify("12 claims need an answer", "A-to-z 9 · chargeback 3")
    again = client.notify("40 claims need an answer", "A-to-z 31 · chargeback 9", replaces_id=first)
    assert again == first
    calls = private_bus.wait_for_notifications(2, WAIT)
    assert [(c["id"], c["replaces_id"], c["summary"]) for c in calls] == [
        (first, 0, "12 claims need an answer"),
        (first, first, "40 claims need an answer"),
    ]
    assert client.is_open(first)


def test_action_reaches_on_action_for_own_notifications_only(
    private_bus: SessionBus, clients
) -> None:
    mine, theirs = Actions(), Actions()
    client = _client(clients, on_action=mine)
    other = _client(clients, app_name="someone-else", on_action=theirs)
    their_id = other.notify("not ours", "", actions=[("open-case", "Open")])
    my_id = client.notify("A-to-z claim", "", actions=[("open-case", "Open case")])
    assert my_id != their_id

    private_bus.invoke_action(their_id, "open-case")
    assert theirs.wait(1) == [(their_id, "open-case")]
    private_bus.invoke_action(my_id, "open-case")
    # Signals arrive in order: once ours is in, theirs would have been seen before it.
    assert mine.wait(1) == [(my_id, "open-case")]
    # The server closes a notification whose action was invoked.
    assert wait_for(lambda: not client.is_open(my_id), WAIT)
    assert not client.is_open(their_id)  # never ours


def test_a_failing_on_action_is_logged_and_the_client_goes_on(
    private_bus: SessionBus, clients, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(nid: int, key: str) -> None:
        raise RuntimeError("handler bug")

    client = _client(clients, on_action=broken)
    nid = client.notify("A-to-z claim", "", actions=[("open-case", "Open case")])
    private_bus.invoke_action(nid, "open-case")
    assert wait_for(lambda: "handler bug" in caplog.text, WAIT), caplog.text
    assert client.notify("next", "") > nid


def test_is_open_until_dismissed(private_bus: SessionBus, clients) -> None:
    client = _client(clients)
    nid = client.notify("Chargeback · 6 days left", "")
    kept = client.notify("A-to-z claim", "")
    assert client.is_open(nid)
    private_bus.dismiss(nid)
    assert wait_for(lambda: not client.is_open(nid), WAIT)
    assert client.is_open(kept)
    assert not client.is_open(12345)


def test_error_reply_then_hang_then_recovery(private_bus: SessionBus, clients) -> None:
    client = _client(clients, timeout=1.0)
    client.notify("before", "")

    private_bus.set_mode("error")
    start = time.monotonic()
    with pytest.raises(NotifyError, match="refused by test mode"):
        client.notify("refused", "")
    assert time.monotonic() - start < 1.0

    private_bus.set_mode("hang")
    start = time.monotonic()
    with pytest.raises(NotifyError, match=r"did not answer within 1 s"):
        client.notify("never answered", "")
    assert time.monotonic() - start < 1.0 + 1.0

    private_bus.set_mode("ok")
    nid = client.notify("after", "")
    calls = private_bus.notifications()
    assert [c["summary"] for c in calls] == ["before", "after"]
    assert calls[-1]["id"] == nid
    # The hung connection was dropped: the recovery came over a new one.
    assert calls[0]["sender"] != calls[1]["sender"]
    assert [c["summary"] for c in private_bus.calls("NotifyRefused")] == ["refused"]
    assert [c["summary"] for c in private_bus.calls("NotifyHung")] == ["never answered"]


def test_no_notification_server(private_bus: SessionBus, clients) -> None:
    assert private_bus.server is not None
    os.killpg(private_bus.server.pid, signal.SIGTERM)
    private_bus.server.wait(WAIT)
    client = _client(clients)
    start = time.monotonic()
    with pytest.raises(NotifyError, match=r"org\.freedesktop\.Notifications is not owned"):
        client.notify("nobody listens", "")
    assert time.monotonic() - start < 2


def test_reconnects_after_the_bus_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decoy_user_bus: str, clients
) -> None:
    client = _client(clients)
    with session_bus(tmp_path / "first") as bus:
        _use(monkeypatch, bus)
        first = client.notify("on the first bus", "")
        assert client.is_open(first)
    # The lost connection is noticed without a call; what it showed counts as closed.
    assert wait_for(lambda: not client.is_open(first), WAIT)
    with session_bus(tmp_path / "second") as bus:
        _use(monkeypatch, bus)
        nid = client.notify("on the second bus", "")
        [call] = bus.wait_for_notifications(1, WAIT)
        assert (call["id"], call["summary"]) == (nid, "on the second bus")


def test_no_session_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decoy_user_bus: str, clients
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    runtime_dir = tmp_path / "runtime"
    runtime_dir.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    client = _client(clients)
    start = time.monotonic()
    with pytest.raises(NotifyError, match="no D-Bus session bus") as err:
        client.notify("nowhere to go", "")
    assert time.monotonic() - start < 2
    assert "DBUS_SESSION_BUS_ADDRESS" in str(err.value)


def test_xdg_runtime_dir_bus_is_used_when_the_variable_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decoy_user_bus: str, clients
) -> None:
    with session_bus(tmp_path) as bus:
        monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(bus.socket.parent))  # holds the socket "bus"
        nid = _client(clients).notify("via $XDG_RUNTIME_DIR/bus", "")
        [call] = bus.wait_for_notifications(1, WAIT)
        assert call["id"] == nid


def test_connection_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clients) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-such-socket'}")
    with pytest.raises(NotifyError, match="cannot connect to the D-Bus session bus"):
        _client(clients).notify("x", "")


def test_close_is_idempotent_and_a_closed_client_starts_again(
    private_bus: SessionBus, clients
) -> None:
    client = _client(clients)
    client.close()  # never started: nothing to do
    client.notify("one", "")
    client.close()
    client.close()
    assert "claimwatch-dbus" not in [t.name for t in threading.enumerate()]
    client.notify("two", "")
    assert [c["summary"] for c in private_bus.wait_for_notifications(2, WAIT)] == ["one", "two"]


# --- run_notify_command ---------------------------------------------------------------------------

PAYLOAD = {"label": "a_to_z", "order_ids": ["171-5551234-7654321"], "title": "A-to-z · 47 h"}


def test_notify_command_gets_the_payload_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "payload.json"
    run_notify_command(f"cat > '{out}'", PAYLOAD)
    text = out.read_text()
    assert text.endswith("\n")
    assert json.loads(text) == PAYLOAD


def test_notify_command_that_ignores_stdin_succeeds() -> None:
    run_notify_command("true", {"big": "x" * 1_000_000})


def test_notify_command_failure_reports_the_last_stderr_line() -> None:
    command = "echo first >&2; echo 'second: no such webhook' >&2; echo; exit 3"
    with pytest.raises(NotifyError) as err:
        run_notify_command(command, PAYLOAD)
    message = str(err.value)
    assert "exited with status 3" in message
    assert "second: no such webhook" in message
    assert "first" not in message
    assert "171-5551234" not in message  # the payload is never in an error


def test_notify_command_error_line_is_truncated() -> None:
    with pytest.raises(NotifyError) as err:
        run_notify_command("printf '%0500d\\n' 0 >&2; exit 1", PAYLOAD)
    assert "0" * 200 in str(err.value)
    assert "0" * 201 not in str(err.value)


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie nobody reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_notify_command_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    command = f"sleep 60 & echo $! > '{pid_file}'; wait"
    start = time.monotonic()
    with pytest.raises(
        NotifyError, match="notify_command timed out after 1 s and was killed"
    ) as err:
        run_notify_command(command, PAYLOAD, timeout=1.0)
    assert time.monotonic() - start < 2.5
    assert "171-5551234" not in str(err.value)
    assert "sleep" not in str(err.value)  # the command may hold a token: never in the log
    child = int(pid_file.read_text())
    assert wait_for(lambda: _gone(child), WAIT), f"sleep {child} survived the timeout"


def test_notify_command_background_child_does_not_count_as_a_hang(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    start = time.monotonic()
    run_notify_command(f"sleep 30 & echo $! > '{pid_file}'", PAYLOAD, timeout=5.0)
    assert time.monotonic() - start < 2.5
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the test's own clean-up
