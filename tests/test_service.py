"""claimwatch as a systemd service: the sd_notify conversation, SIGTERM in the middle of a sync,
SIGHUP applying a changed rule. The daemon is the real command line; systemd's side of the
notify socket is a datagram socket the test listens on, as systemd would."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import mailgen
import pytest
import sellermail
from support import CLAIMWATCH, claimwatch, spooled, wait_for, write_config

from daemon.logs import JournalFormatter
from daemon.sd_notify import SystemdNotifier
from daemon.spool import content_hash

WAIT = 30.0


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class NotifySocket:
    """The service manager's end of NOTIFY_SOCKET: every datagram the daemon sends, in order."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.received: list[str] = []

    def collect(self) -> list[str]:
        while True:
            try:
                self.received.append(self.sock.recv(4096).decode())
            except TimeoutError:
                return self.received

    def wait_for(self, field: str, count: int = 1, timeout: float = WAIT) -> list[str]:
        """The datagrams holding *field* (e.g. "WATCHDOG=1"), once there are *count* of them."""

        def found() -> list[str]:
            return [d for d in self.collect() if field in d.splitlines()]

        assert wait_for(lambda: len(found()) >= count, timeout), (
            f"{count} x {field} never came; got {self.received}"
        )
        return found()

    def close(self) -> None:
        self.sock.close()


def start(config: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLAIMWATCH, "run", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen, within: float = 5.0) -> tuple[str, float]:
    """SIGTERM; the daemon must exit 0 within *within* seconds. Returns its output and the time."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
        pytest.fail(f"the daemon ignored SIGTERM for {within} s:\n{out}")
    assert proc.returncode == 0, out
    return out, time.monotonic() - started


def test_ready_status_watchdog_and_stopping_reach_systemd(imap_user, tmp_path):
    server, user = imap_user.server, imap_user.name
    server.append(user, "INBOX", [sellermail.claim("171-5551234-7654321", now())])
    systemd = NotifySocket(tmp_path / "notify.sock")
    env = os.environ | {
        "NOTIFY_SOCKET": str(systemd.path),
        "WATCHDOG_USEC": "1500000",  # WatchdogSec=1.5s: a ping every 0.5 s
        "JOURNAL_STREAM": "8:12345",
    }
    proc = start(write_config(tmp_path, server, imap_user), env)
    try:
        [ready] = systemd.wait_for("READY=1")
        assert any(line.startswith("STATUS=") for line in ready.splitlines())
        systemd.wait_for("WATCHDOG=1", count=4, timeout=10)
        systemd.wait_for(
            "STATUS=1/1 account(s) connected; 1 open tier-1 case(s); "
            "next deadline: order-171-5551234-7654321, 2d 23h left"
        )
    finally:
        out, _ = stop(proc)
        systemd.collect()
        systemd.close()
    assert any("STOPPING=1" in d.splitlines() for d in systemd.received)
    lines = [line for line in out.splitlines() if line]
    # journald stamps the lines itself: a priority prefix, no timestamp of our own
    assert lines and all(line.startswith("<") for line in lines), lines[:3]
    assert any(line.startswith("<6>INFO daemon.service: claimwatch running") for line in lines)


def test_no_notify_socket_means_no_conversation(tmp_path):
    notifier = SystemdNotifier({})
    assert not notifier.active and notifier.watchdog is None
    notifier.ready("x")  # a no-op, not an error
    abstract = SystemdNotifier({"NOTIFY_SOCKET": "@claimwatch-test", "WATCHDOG_USEC": "0"})
    assert abstract.address == b"\0claimwatch-test" and abstract.watchdog is None
    other = SystemdNotifier(
        {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}
    )
    assert other.watchdog is None  # meant for another process


def test_a_traceback_stays_one_journal_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    text = JournalFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert text.startswith("<3>ERROR x: failed") and "\n" not in text and "ValueError" in text


def test_sigterm_in_the_middle_of_a_sync_exits_0_within_5_s_and_loses_nothing(imap_user, tmp_path):
    server, user = imap_user.server, imap_user.name
    messages = mailgen.generate(3000, seed=61, max_size=30_000)
    server.append(user, "INBOX", messages)
    config = write_config(tmp_path, server, imap_user, extra="fetch_batch = 50")
    data = tmp_path / "data"
    proc = start(config, dict(os.environ))
    assert wait_for(lambda: len(spooled(data)) > 0, WAIT), "the sync never started"
    _, took = stop(proc, within=5.0)
    assert 0 < len(spooled(data)) < len(messages), "SIGTERM did not land mid-sync"
    assert took < 5.0
    again = claimwatch("run", "--once", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert sorted(content_hash(p.read_bytes()) for p in spooled(data)) == sorted(
        content_hash(m) for m in messages
    )


def test_sighup_applies_a_changed_rule_without_a_restart(tmp_path):
    rules = tmp_path / "rules.toml"
    shipped = Path(__file__).resolve().parents[1] / "config" / "rules.toml"
    rules.write_text(shipped.read_text())
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nrules_file = "{rules}"\n')
    inbox = tmp_path / "data" / "inbox"
    proc = start(config, dict(os.environ))
    verdicts = tmp_path / "data" / "state" / "verdicts.jsonl"

    def verdict_of(subject: str) -> dict | None:
        if not verdicts.exists():
            return None
        found = [json.loads(x) for x in verdicts.read_text().splitlines()]
        return next((v for v in found if v["subject"] == subject), None)

    def drop(name: str, subject: str) -> dict:
        raw = sellermail.message("alerts@escrow.example", subject, "Please see the portal.", now())
        (inbox / name).write_bytes(raw)
        assert wait_for(lambda: verdict_of(subject) is not None, WAIT)
        return verdict_of(subject)

    try:
        assert wait_for(lambda: (inbox / "done").is_dir(), WAIT)
        time.sleep(0.5)  # the drop folder's observer is scheduled right after done/ exists
        before = drop("before.eml", "Escrow case 4411 opened")
        assert before["label"] != "chargeback"
        rules.write_text(
            rules.read_text() + '\n[[rules]]\nname = "escrow-case"\nlabel = "chargeback"\n'
            "sender = '@escrow\\.example$'\n"
        )
        proc.send_signal(signal.SIGHUP)
        after = drop("after.eml", "Escrow case 4412 opened")
        assert after["label"] == "chargeback" and after["reasons"] == ["rule:escrow-case"]

        rules.write_text("[[rules]]\nname = broken\n")  # a bad file is refused whole
        proc.send_signal(signal.SIGHUP)
        still = drop("still.eml", "Escrow case 4413 opened")
        assert still["label"] == "chargeback"
        assert proc.poll() is None
    finally:
        out, _ = stop(proc)
    assert "configuration reloaded" in out
    assert "reload refused, the running configuration stays" in out


def test_a_suspend_is_noticed_by_the_clocks_that_count_it():
    from daemon.imap_source import SuspendDetector

    boot, mono = [1000.0], [500.0]
    detector = SuspendDetector(boottime=lambda: boot[0], monotonic=lambda: mono[0])
    boot[0] += 2.0
    mono[0] += 2.0  # awake: both clocks ran
    assert detector.slept() == 0.0
    boot[0] += 3600.0 + 1.0
    mono[0] += 1.0  # an hour asleep: CLOCK_MONOTONIC stood still
    assert detector.slept() == 3600.0
    assert detector.slept() == 0.0  # counted once


def test_connections_carry_tcp_keepalive(imap_user, tmp_path):
    from daemon.config import load_config
    from daemon.imap_source import connect

    config = load_config(write_config(tmp_path, imap_user.server, imap_user))
    client = connect(config.accounts[0], config)
    try:
        sock = client.socket()
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60
    finally:
        client.logout()


def test_after_a_suspend_the_watcher_reconnects_at_once(imap_user, tmp_path):
    import threading

    from daemon.config import load_config
    from daemon.imap_source import FolderSync, FolderWatcher
    from daemon.spool import Spool
    from daemon.state import Status, SyncState

    config = load_config(write_config(tmp_path, imap_user.server, imap_user))
    data = tmp_path / "data"
    data.mkdir()
    sync = FolderSync(config.accounts[0], "INBOX", config, Spool(data), SyncState(data))
    stop = threading.Event()
    watcher = FolderWatcher(sync, Status(data), stop, lambda: None)
    sessions = []
    real_run = sync.run
    sync.run = lambda client, stop=None: sessions.append(client) or real_run(client, stop)

    class SleepsOnce:
        calls = 0

        def slept(self) -> float:
            self.calls += 1
            return 3600.0 if self.calls == 3 else 0.0

    watcher.suspend = SleepsOnce()
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        # two sessions (two connections) within seconds: no socket timeout, no backoff waited
        assert wait_for(lambda: len({id(c) for c in sessions}) >= 2, 10.0), sessions
        assert watcher.status.connected()[config.accounts[0].name] is True
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_stuck_watcher_withholds_the_watchdog_ping(tmp_path, monkeypatch):
    """A watcher silent far beyond any bounded network wait (a hung name lookup): the main loop
    stops pinging, so systemd's watchdog restarts the daemon instead of a silent stall."""
    from daemon.config import load_config
    from daemon.service import Daemon, _LoopClock

    systemd = NotifySocket(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", str(systemd.path))
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[[accounts]]\nname = "shop"\nhost = "127.0.0.1"\n'
        'security = "none"\nusername = "u"\npassword_env = "UNUSED"\n'
    )
    daemon = Daemon(load_config(config))
    try:
        daemon.watchers = [daemon._watcher(sync) for sync in daemon.folder_syncs()]
        [watcher] = daemon.watchers
        daemon._tick(_LoopClock())
        assert systemd.wait_for("WATCHDOG=1", count=1, timeout=5)
        watcher.beat(quiet_for=-(watcher.allowance() + 1))  # silent for longer than allowed
        assert daemon.stuck_watchers() == ["shop/INBOX"]
        pings = len([d for d in systemd.collect() if "WATCHDOG=1" in d.splitlines()])
        daemon._tick(_LoopClock())
        assert len([d for d in systemd.collect() if "WATCHDOG=1" in d.splitlines()]) == pings
        watcher.beat()
        daemon._tick(_LoopClock())
        assert systemd.wait_for("WATCHDOG=1", count=pings + 1, timeout=5)
    finally:
        daemon.index.close()
        systemd.close()
