"""Deadlines and alerts end to end: the real command line, its clock injected with
``$CLAIMWATCH_NOW``, its notifications sent over a private D-Bus session bus to a server that
records every Notify call (tests/dbus_session.py), or handed to a real ``notify_command``.

The claim of tests/sellermail.py asks for an answer "within 3 calendar days": its deadline is
T0 + 72 h, so the 24 h reminder falls due at T0 + 48 h, the 6 h one at T0 + 66 h, the 1 h one at
T0 + 71 h.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sellermail
from dbus_session import SessionBus, require_dbus, session_bus
from support import CLAIMWATCH, claimwatch, wait_for, write_config

ORDER = "171-5551234-7654321"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DEADLINE = T0 + timedelta(hours=72)
H = timedelta(hours=1)
M = timedelta(minutes=1)
CRITICAL = 2
WAIT = 20.0


@pytest.fixture
def bus(tmp_path) -> Iterator[SessionBus]:
    require_dbus()
    with session_bus(tmp_path) as bus:
        yield bus


def without_bus(tmp_path: Path) -> dict[str, str]:
    """An environment in which no session bus can be found, as on a headless server."""
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    runtime = tmp_path / "runtime"
    runtime.mkdir(exist_ok=True)
    return env | {"XDG_RUNTIME_DIR": str(runtime)}


class Seller:
    """One seller's claimwatch: a config, a drop folder, and runs at chosen moments."""

    def __init__(self, tmp_path: Path, env: dict[str, str], extra: str = ""):
        self.data = tmp_path / "data"
        self.inbox = self.data / "inbox"
        self.config = tmp_path / "config.toml"
        self.config.write_text(f'data_dir = "{self.data}"\n{extra}\n')
        self.env = env | {"TZ": "UTC"}

    def drop(self, name: str, raw: bytes) -> None:
        """Write a message into the drop folder (a running daemon takes it when it is closed)."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        (self.inbox / name).write_bytes(raw)

    def run(self, at: datetime) -> subprocess.CompletedProcess:
        done = self.cli("run", "--once", at=at)
        assert done.returncode == 0, done.stderr
        return done

    def cli(self, *args: str, at: datetime = T0) -> subprocess.CompletedProcess:
        env = self.env | {"CLAIMWATCH_NOW": at.isoformat()}
        return claimwatch(*args, "--config", str(self.config), env=env)

    def case(self, case_id: str) -> dict:
        return json.loads((self.data / "cases" / case_id / "case.json").read_text())

    def ledger(self) -> list[dict]:
        path = self.data / "state" / "alerts.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def claim(order: str = ORDER, date: datetime = T0) -> bytes:
    return sellermail.claim(order, date)


def test_a_claim_is_announced_once_reminded_on_time_and_silent_once_answered(bus, tmp_path):
    seller = Seller(tmp_path, bus.env)
    seller.drop("claim.eml", claim())

    seller.run(T0 + 5 * M)
    [new] = bus.wait_for_notifications(1, WAIT)
    assert new["hints"]["urgency"] == CRITICAL
    assert new["summary"] == "A-to-z claim · 2d 23h left"
    assert f"Order {ORDER} · 89.90 EUR · item not received" in new["body"]
    assert "open-case" in new["actions"] and new["app_icon"].endswith("claimwatch.svg")
    case = seller.case(f"order-{ORDER}")
    assert (case["deadline"], case["deadline_source"]) == (DEADLINE.isoformat(), "stated")

    seller.run(T0 + 6 * M)  # a restart: the arrival is not announced again
    assert len(bus.notifications()) == 1

    seller.run(T0 + 2 * H)  # an hour after arrival nobody has looked at it
    assert len(bus.notifications()) == 2
    assert "Nobody has opened this case yet" in bus.notifications()[1]["body"]
    assert seller.cli("case", ORDER, "note", "asked UPS for the proof of delivery").returncode == 0

    seller.run(T0 + 47 * H)  # 25 h left: the 24 h reminder is not due yet
    assert len(bus.notifications()) == 2
    seller.run(T0 + 48 * H + M)
    assert len(bus.notifications()) == 3
    reminder = bus.notifications()[2]
    assert reminder["summary"] == "A-to-z claim · 23h left"
    assert "Reminder: 23h left" in reminder["body"] and reminder["hints"]["urgency"] == CRITICAL
    seller.run(T0 + 48 * H + 2 * M)
    assert len(bus.notifications()) == 3

    assert seller.cli("case", ORDER, "status", "responded").returncode == 0
    seller.run(T0 + 71 * H + 30 * M)  # the 1 h reminder would be due...
    seller.run(T0 + 80 * H)  # ...and the claim overdue: the seller has answered, so nothing
    assert len(bus.notifications()) == 3
    assert [line["channel"] for line in seller.ledger()] == ["desktop"] * 3


def test_reminders_missed_while_off_fire_once_together(bus, tmp_path):
    seller = Seller(tmp_path, bus.env)
    seller.drop("claim.eml", claim())
    seller.run(T0 + 70 * H)  # first seen 2 h before the deadline: arrival, ack, 24 h, 6 h due
    [late] = bus.wait_for_notifications(1, WAIT)
    assert late["summary"] == "A-to-z claim · 2h left"
    assert "Reminder: 2h left" in late["body"]
    [line] = seller.ledger()
    assert sorted(line["cases"][f"order-{ORDER}"]) == sorted(
        [
            f"new:{seller.case(f'order-{ORDER}')['messages'][0]['file']}",
            f"ack:{(T0 + H).isoformat()}",
            f"1d:{DEADLINE.isoformat()}",
            f"6h:{DEADLINE.isoformat()}",
        ]
    )
    seller.run(T0 + 71 * H + M)
    seller.run(T0 + 73 * H)
    titles = [n["summary"] for n in bus.notifications()]
    assert titles == [
        "A-to-z claim · 2h left",
        "A-to-z claim · 59m left",
        "A-to-z claim · overdue by 1h",
    ]


def test_forty_claims_at_once_make_one_summary(bus, tmp_path):
    seller = Seller(tmp_path, bus.env)
    for n in range(40):
        seller.drop(f"claim-{n:02}.eml", claim(f"171-{n:07}-7654321", T0 + n * M))
    seller.run(T0 + H)
    [summary] = bus.wait_for_notifications(1, WAIT)
    assert summary["summary"] == "40 cases need attention: 40 A-to-z claims"
    assert summary["hints"]["urgency"] == CRITICAL
    assert "171-0000000-7654321" in summary["body"]  # the most pressing first
    assert "…and 35 more" in summary["body"]
    listed = json.loads(seller.cli("cases", "--json", at=T0 + H).stdout)
    assert len(listed) == 40
    seller.run(T0 + H)  # a restart at the same moment repeats nothing
    assert len(bus.notifications()) == 1


def test_quiet_hours_hold_back_all_but_an_overdue_claim(bus, tmp_path):
    seller = Seller(tmp_path, bus.env, extra='quiet_hours = "08:00-10:00"')
    seller.drop("claim.eml", claim())
    seller.run(T0 + 5 * M)  # 09:05, quiet
    assert bus.notifications() == [] and seller.ledger() == []
    seller.run(T0 + 72 * H + 30 * M)  # 09:30 three days later, quiet, but overdue
    [overdue] = bus.wait_for_notifications(1, WAIT)
    assert overdue["summary"] == "A-to-z claim · overdue by 30m"


def test_without_a_session_bus_the_notify_command_gets_each_alert_as_json(tmp_path):
    received = tmp_path / "received.jsonl"
    seller = Seller(
        tmp_path, without_bus(tmp_path), extra=f"notify_command = \"cat >> '{received}'\""
    )
    seller.drop("claim.eml", claim())
    done = seller.run(T0 + 5 * M)
    [alert] = [json.loads(line) for line in received.read_text().splitlines()]
    assert alert["case"] == f"order-{ORDER}" and alert["kind"] == "new"
    assert (alert["label"], alert["urgency"]) == ("a_to_z", "critical")
    assert alert["title"] == "A-to-z claim · 2d 23h left"
    assert alert["deadline"] == DEADLINE.isoformat() and alert["deadline_source"] == "stated"
    assert alert["references"] == [ORDER] and alert["reason"] == "not_received"
    assert alert["amount"] == {"value": "89.90", "currency": "EUR"}
    assert Path(alert["folder"], "case.json").is_file()
    assert "alert: A-to-z claim · 2d 23h left (case order-" in done.stderr  # the log has it too
    assert [line["channel"] for line in seller.ledger()] == ["command"]


def test_a_failing_desktop_passes_the_alert_to_the_command(bus, tmp_path):
    received = tmp_path / "received.jsonl"
    seller = Seller(tmp_path, bus.env, extra=f"notify_command = \"cat >> '{received}'\"")
    bus.set_mode("error")
    seller.drop("claim.eml", claim())
    done = seller.run(T0 + 5 * M)
    assert bus.notifications() == [] and bus.calls("NotifyRefused")
    assert [json.loads(line)["case"] for line in received.read_text().splitlines()] == [
        f"order-{ORDER}"
    ]
    assert "desktop notification failed" in done.stderr


def test_with_every_channel_failing_the_log_still_records_the_alert(tmp_path):
    seller = Seller(tmp_path, without_bus(tmp_path), extra='notify_command = "exit 3"')
    seller.drop("claim.eml", claim())
    done = seller.run(T0 + 5 * M)
    assert "notify_command exited with status 3" in done.stderr
    assert "alert: A-to-z claim · 2d 23h left" in done.stderr
    assert [line["channel"] for line in seller.ledger()] == ["log"]
    assert seller.case(f"order-{ORDER}")["status"] == "open"


class Daemon:
    """``claimwatch run`` in the background, stopped with SIGTERM (bounded)."""

    def __init__(self, seller: Seller, at: datetime):
        env = seller.env | {"CLAIMWATCH_NOW": at.isoformat()}
        self.log_file = seller.config.with_name("daemon.log")
        with open(self.log_file, "wb") as log:
            self.proc = subprocess.Popen(
                [*CLAIMWATCH, "run", "--config", str(seller.config)], env=env, stderr=log
            )
        ready = wait_for(lambda: (seller.inbox / "done").is_dir(), WAIT)
        assert ready, "the daemon did not start watching its drop folder"
        time.sleep(0.5)  # the drop folder's observer is scheduled right after done/ exists

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self) -> str:
        """SIGTERM, then its log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        return self.log()


def test_a_hanging_notification_server_does_not_hold_up_the_mail(bus, tmp_path):
    seller = Seller(tmp_path, bus.env)
    bus.set_mode("hang")
    daemon = Daemon(seller, T0 + 5 * M)
    try:
        cases = seller.data / "cases"
        seller.drop("first.eml", claim())
        assert bus.wait_for_calls("NotifyHung", 1, WAIT), "the first alert never reached the bus"
        # the alerts thread now waits up to 5 s for an answer that will not come
        seller.drop("second.eml", claim("171-0000002-7654321"))
        assert wait_for(lambda: (cases / "order-171-0000002-7654321").is_dir(), timeout=3.0), (
            "the second claim waited for the hung notification server"
        )
        # the desktop failed: the second claim's alert goes to the log without a second wait
        assert wait_for(lambda: "171-0000002-7654321 · 89.90" in daemon.log(), timeout=10)
        assert len(bus.calls("NotifyHung")) == 1
    finally:
        err = daemon.stop()
    assert "desktop notification failed" in err and "trying the desktop again in 60 s" in err
    assert "alert: A-to-z claim" in err


def test_a_burst_summary_is_updated_in_place_and_open_case_opens_the_folder(bus, tmp_path):
    opened = tmp_path / "opened.txt"
    opener = tmp_path / "opener"
    opener.write_text(f'#!/bin/sh\necho "$1" >> "{opened}"\n')
    opener.chmod(0o755)
    seller = Seller(tmp_path, bus.env, extra=f'open_command = "{opener}"')
    daemon = Daemon(seller, T0 + H)
    try:
        for n in range(5):
            seller.drop(f"a-{n}.eml", claim(f"171-{n:07}-7654321"))
        [first] = bus.wait_for_notifications(1, WAIT)
        assert first["summary"].startswith("5 cases need attention")
        for n in range(5, 9):
            seller.drop(f"b-{n}.eml", claim(f"171-{n:07}-7654321"))
        assert wait_for(lambda: len(bus.notifications()) >= 2, WAIT)
        update = bus.notifications()[-1]
        assert update["replaces_id"] == first["id"] and update["id"] == first["id"]
        assert update["summary"].startswith("9 cases need attention")

        bus.invoke_action(first["id"], "open-case")
        assert wait_for(lambda: opened.exists(), WAIT)
        assert opened.read_text().split() == [str(seller.data / "cases" / "index.html")]

        # pressing a button closes a notification (servers do): the next alert stands alone
        seller.drop("c.eml", claim("171-0000099-7654321"))
        assert wait_for(lambda: len(bus.notifications()) >= 3, WAIT)
        single = bus.notifications()[-1]
        assert single["replaces_id"] == 0 and "171-0000099-7654321" in single["body"]
        bus.invoke_action(single["id"], "open-case")
        folder = seller.data / "cases" / "order-171-0000099-7654321"
        assert wait_for(lambda: len(opened.read_text().split()) == 2, WAIT)
        assert opened.read_text().split()[1] == str(folder)
        assert wait_for(lambda: seller.case(folder.name)["acknowledged_at"] is not None, WAIT)
    finally:
        daemon.stop()


OLD = datetime.now(UTC) - timedelta(days=60)


def test_first_sync_of_an_old_mailbox_raises_no_popup_yet_keeps_the_history(
    bus, imap_user, tmp_path
):
    server, user = imap_user.server, imap_user.name
    config = write_config(tmp_path, server, imap_user)
    env = bus.env | {"TZ": "UTC"}
    run = lambda: claimwatch("run", "--once", "--config", str(config), env=env)  # noqa: E731
    old_a, old_b, recent = "171-0000001-0000001", "171-0000002-0000002", "171-0000003-0000003"
    server.append(
        user,
        "INBOX",
        [
            sellermail.shipping(old_a, OLD - timedelta(days=10)),
            sellermail.claim(old_a, OLD),
            sellermail.claim(old_b, OLD + timedelta(days=20)),
            sellermail.claim(recent, datetime.now(UTC) - H),
        ],
    )
    assert run().returncode == 0
    [alert] = bus.wait_for_notifications(1, WAIT)
    assert recent in alert["body"]  # last year's claims stay quiet; yesterday's does not

    listed = lambda *flags: [  # noqa: E731
        c["id"]
        for c in json.loads(claimwatch("cases", "--json", *flags, "--config", str(config)).stdout)
    ]
    assert listed() == [f"order-{recent}"]
    assert sorted(listed("--all")) == [f"order-{old_a}", f"order-{old_b}", f"order-{recent}"]
    cases = tmp_path / "data" / "cases"
    assert json.loads((cases / f"order-{old_a}" / "case.json").read_text())["backfilled"]

    server.append(user, "INBOX", [sellermail.claim(old_a, datetime.now(UTC) - 10 * M)])
    assert run().returncode == 0
    assert wait_for(lambda: len(bus.notifications()) == 2, WAIT)
    assert old_a in bus.notifications()[1]["body"]
    case = json.loads((cases / f"order-{old_a}" / "case.json").read_text())
    assert not case["backfilled"] and case["status"] == "open"
    assert [(m["label"], m["backfill"]) for m in case["messages"]] == [
        ("routine", True),  # the shipping notice, pulled in as history when the old claim came
        ("a_to_z", True),
        ("a_to_z", False),
    ]
    assert case["deadline_source"] == "stated"  # the new claim's own three days, not the old
    assert f"order-{old_a}" in listed()


def test_routine_mail_raises_no_popup_but_an_optional_daily_digest(bus, tmp_path):
    seller = Seller(tmp_path, bus.env, extra='routine_digest = "18:00"')
    for n in range(3):
        seller.drop(f"shipped-{n}.eml", sellermail.shipping(f"171-{n:07}-1111111", T0))
    seller.run(T0 + 5 * M)  # 09:05
    assert bus.notifications() == []
    seller.run(T0 + 9 * H + M)  # 18:01: the day's digest
    [digest] = bus.wait_for_notifications(1, WAIT)
    assert digest["hints"]["urgency"] == 0
    assert digest["summary"] == "claimwatch: 3 routine message(s) since the last digest"
    seller.run(T0 + 9 * H + 30 * M)  # once a day
    seller.run(T0 + 33 * H + M)  # the next day brought no routine mail: nothing to say
    assert len(bus.notifications()) == 1
    seller.drop("shipped-late.eml", sellermail.shipping("171-0000009-1111111", T0 + 40 * H))
    seller.run(T0 + 40 * H)
    seller.run(T0 + 57 * H + M)  # the day after at 18:01: only what came since the last digest
    assert bus.wait_for_notifications(2, WAIT)[1]["summary"] == (
        "claimwatch: 1 routine message(s) since the last digest"
    )


def test_a_doubtful_message_asks_to_be_checked_once(bus, tmp_path):
    # a review threshold this low makes the routine shipping notice doubtful
    seller = Seller(tmp_path, bus.env, extra="review_threshold = 0.0001")
    seller.drop("shipped.eml", sellermail.shipping(ORDER, T0))
    seller.run(T0 + 5 * M)
    [check] = bus.wait_for_notifications(1, WAIT)
    assert check["summary"] == "Possible claim? · please check this message"
    assert check["hints"]["urgency"] == 1
    [entry] = [json.loads(line) for line in (seller.data / "state" / "verdicts.jsonl").open()]
    assert (
        entry["needs_review"]
        and f"claimwatch label {entry['spool_file']} a_to_z" in (check["body"])
    )
    seller.run(T0 + 6 * M)
    assert len(bus.notifications()) == 1
