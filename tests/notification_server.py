"""A small freedesktop Notifications server for tests: it records every call and shows nothing.

    DBUS_SESSION_BUS_ADDRESS=unix:path=... python tests/notification_server.py --record FILE

It owns org.freedesktop.Notifications on the session bus named by DBUS_SESSION_BUS_ADDRESS and
serves /org/freedesktop/Notifications: Notify, CloseNotification, GetCapabilities ("actions",
"body", "body-markup", "persistence") and GetServerInformation, and emits ActionInvoked and
NotificationClosed. Every Notify call is appended to FILE as one JSON line (written in one
write, so a reader never sees half a line):

    {"seq": 1, "event": "Notify", "id": 1, "sender": ":1.3", "app_name": "claimwatch",
     "replaces_id": 0, "app_icon": "", "summary": "...", "body": "...",
     "actions": ["default", "", "open-case", "Open case"], "hints": {"urgency": 2},
     "expire_timeout": 0, "time": 1767225600.0}

CloseNotification calls and the signals it emits are recorded too ("event": "CloseNotification",
"ActionInvoked", "NotificationClosed"), so a test can follow the whole conversation.

Tests steer it through a second interface on the same object, org.claimwatch.test.Control:
  InvokeAction(u id, s key)  the user pressed an action: ActionInvoked(id, key), then
                             NotificationClosed(id, 2) as dunst and GNOME do; an unknown id or
                             a key the notification did not offer is an error, so a test can fail
  Dismiss(u id, u reason)    NotificationClosed(id, reason): 1 expired, 2 dismissed by the user
  SetMode(s mode)            how later Notify calls are answered: "ok"; "error" (a D-Bus error
                             reply, like a crashed daemon behind a proxy); "hang" (no reply
                             ever, the caller's own timeout must save it)
  SetCapabilities(as caps)   what later GetCapabilities calls answer
The harness (tests/dbus_session.py) calls them with dbus-send.

Depends only on the stdlib and dbus-fast. Exits on SIGTERM/SIGINT or when the bus goes away.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from typing import Annotated, Any

from dbus_fast import BusType, DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature, DBusStr, DBusUInt32
from dbus_fast.constants import NameFlag, RequestNameReply
from dbus_fast.service import ServiceInterface, dbus_method, dbus_signal

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
CONTROL_INTERFACE = "org.claimwatch.test.Control"
NOTIFY_SIGNATURE = "susssasa{sv}i"
CAPABILITIES = ["actions", "body", "body-markup", "persistence"]
SERVER_INFO = ("claimwatch-test-notifications", "claimwatch", "1.0", "1.2")
MODES = ("ok", "error", "hang")

CLOSED_EXPIRED = 1
CLOSED_DISMISSED = 2
CLOSED_BY_CALL = 3

DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusHints = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
DBusServerInfo = Annotated[tuple[str, str, str, str], DBusSignature("ssss")]


def jsonable(value: Any) -> Any:
    """D-Bus values as JSON: variants unwrapped, byte arrays (image data) as their length."""
    if isinstance(value, Variant):
        return jsonable(value.value)
    if isinstance(value, bytes | bytearray):
        return {"bytes": len(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


class Recorder:
    """Appends one JSON object per line; O_APPEND and a single write keep lines whole."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._seq = 0

    def write(self, event: str, **fields: Any) -> None:
        self._seq += 1
        record = {"seq": self._seq, "event": event, **fields, "time": time.time()}
        os.write(self._fd, (json.dumps(record, ensure_ascii=False) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


class Notifications(ServiceInterface):
    """org.freedesktop.Notifications. Notify itself is answered by on_message (it needs the
    caller's unique name, which a method handler is not given); the method below is what
    introspection shows, and clients such as desktop-notifier read the hints signature there."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(INTERFACE)
        self.recorder = recorder
        self.live: dict[int, list[str]] = {}  # id -> action keys offered
        self.next_id = 1
        self.mode = "ok"
        self.capabilities = list(CAPABILITIES)
        self.hung: list[Message] = []  # calls left unanswered in "hang" mode, kept alive

    # -- Notify, straight from the message --------------------------------------------------

    def on_message(self, msg: Message) -> Message | bool | None:
        if not (
            msg.message_type is MessageType.METHOD_CALL
            and msg.interface == INTERFACE
            and msg.member == "Notify"
        ):
            return None
        if msg.signature != NOTIFY_SIGNATURE:
            return Message.new_error(
                msg,
                "org.freedesktop.DBus.Error.InvalidArgs",
                f"Notify takes {NOTIFY_SIGNATURE}, got {msg.signature}",
            )
        app_name, replaces_id, app_icon, summary, body, actions, hints, expire = msg.body
        fields = {
            "sender": msg.sender,
            "app_name": app_name,
            "replaces_id": replaces_id,
            "app_icon": app_icon,
            "summary": summary,
            "body": body,
            "actions": list(actions),
            "hints": jsonable(hints),
            "expire_timeout": expire,
        }
        if self.mode == "error":
            self.recorder.write("NotifyRefused", **fields)
            return Message.new_error(
                msg, "org.freedesktop.Notifications.Error.Failed", "refused by test mode"
            )
        if self.mode == "hang":
            self.recorder.write("NotifyHung", **fields)
            self.hung.append(msg)
            return True  # handled, never answered
        # The spec: a non-zero replaces_id is returned as the id, replacing atomically.
        if replaces_id:
            nid = replaces_id
            self.next_id = max(self.next_id, nid + 1)
        else:
            nid = self.next_id
            self.next_id += 1
        self.live[nid] = list(actions[0::2])
        self.recorder.write("Notify", id=nid, **fields)
        return Message.new_method_return(msg, "u", [nid])

    @dbus_method(name="Notify")
    def notify(
        self,
        app_name: DBusStr,
        replaces_id: DBusUInt32,
        app_icon: DBusStr,
        summary: DBusStr,
        body: DBusStr,
        actions: DBusStrList,
        hints: DBusHints,
        expire_timeout: Annotated[int, DBusSignature("i")],
    ) -> DBusUInt32:
        raise DBusError("org.freedesktop.DBus.Error.Failed", "Notify is answered by on_message")

    # -- the rest of the interface ----------------------------------------------------------

    # Methods that return nothing carry no return annotation: dbus-fast would read "None" as
    # a signature and refuse the method.
    @dbus_method(name="CloseNotification")
    def close_notification(self, nid: DBusUInt32):
        self.recorder.write("CloseNotification", id=nid)
        if self.live.pop(nid, None) is not None:
            self.notification_closed(nid, CLOSED_BY_CALL)

    @dbus_method(name="GetCapabilities")
    def get_capabilities(self) -> DBusStrList:
        return list(self.capabilities)

    @dbus_method(name="GetServerInformation")
    def get_server_information(self) -> DBusServerInfo:
        return SERVER_INFO

    @dbus_signal(name="ActionInvoked")
    def action_invoked(self, nid: int, key: str) -> Annotated[tuple[int, str], DBusSignature("us")]:
        self.recorder.write("ActionInvoked", id=nid, action_key=key)
        return (nid, key)

    @dbus_signal(name="NotificationClosed")
    def notification_closed(
        self, nid: int, reason: int
    ) -> Annotated[tuple[int, int], DBusSignature("uu")]:
        self.recorder.write("NotificationClosed", id=nid, reason=reason)
        return (nid, reason)


class Control(ServiceInterface):
    """What a test does in place of a user; see the module docstring."""

    def __init__(self, server: Notifications) -> None:
        super().__init__(CONTROL_INTERFACE)
        self.server = server

    def _live(self, nid: int) -> list[str]:
        if nid not in self.server.live:
            known = sorted(self.server.live)
            raise DBusError(
                "org.claimwatch.test.Error.UnknownNotification",
                f"no open notification {nid} (open: {known})",
            )
        return self.server.live[nid]

    @dbus_method(name="InvokeAction")
    def invoke_action(self, nid: DBusUInt32, key: DBusStr):
        offered = self._live(nid)
        if key not in offered:
            raise DBusError(
                "org.claimwatch.test.Error.UnknownAction",
                f"notification {nid} offers {offered}, not {key!r}",
            )
        self.server.action_invoked(nid, key)
        del self.server.live[nid]
        self.server.notification_closed(nid, CLOSED_DISMISSED)

    @dbus_method(name="Dismiss")
    def dismiss(self, nid: DBusUInt32, reason: DBusUInt32):
        self._live(nid)
        del self.server.live[nid]
        self.server.notification_closed(nid, reason)

    @dbus_method(name="SetMode")
    def set_mode(self, mode: DBusStr):
        if mode not in MODES:
            raise DBusError("org.freedesktop.DBus.Error.InvalidArgs", f"mode must be in {MODES}")
        self.server.mode = mode
        self.server.recorder.write("SetMode", mode=mode)

    @dbus_method(name="SetCapabilities")
    def set_capabilities(self, caps: DBusStrList):
        self.server.capabilities = list(caps)
        self.server.recorder.write("SetCapabilities", capabilities=list(caps))


async def serve(record: str) -> int:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        print("DBUS_SESSION_BUS_ADDRESS is not set: refusing to guess a bus", file=sys.stderr)
        return 2
    recorder = Recorder(record)
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    try:
        server = Notifications(recorder)
        bus.add_message_handler(server.on_message)
        bus.export(OBJECT_PATH, server)
        bus.export(OBJECT_PATH, Control(server))
        reply = await bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
        if reply is not RequestNameReply.PRIMARY_OWNER:
            print(f"could not own {BUS_NAME}: {reply}", file=sys.stderr)
            return 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        stopped = asyncio.ensure_future(stop.wait())
        gone = asyncio.ensure_future(bus.wait_for_disconnect())
        await asyncio.wait({stopped, gone}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopped, gone):
            task.cancel()
        if gone.done() and not gone.cancelled() and gone.exception() is not None:
            print(f"bus connection lost: {gone.exception()}", file=sys.stderr)
        return 0
    finally:
        bus.disconnect()
        recorder.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--record", required=True, help="append one JSON line per call here")
    args = parser.parse_args(argv)
    return asyncio.run(serve(args.record))


if __name__ == "__main__":
    sys.exit(main())
