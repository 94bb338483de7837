"""Sending alerts: a desktop notification first, then ``notify_command``, and always the log.

The dispatcher runs on a thread of its own, so a notification server that hangs or a hook that
takes its time never holds up the processing of mail: the main loop hands it a batch and goes on.
A channel that fails passes the alert to the next one; the ledger then records which channel
took it, and the scheduler will not raise it again.

A burst (more than ``burst`` alerts at once, as when 40 claims arrive after an outage) becomes
one summary notification, and while that notification is on screen, later alerts update it in
place instead of adding popups. A case's reminders replace its earlier notification.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from pathlib import Path

from daemon.alerts import TITLES, Alert, AlertLedger, Scheduler
from daemon.channels import ICON, DesktopNotifications, NotifyError, run_notify_command
from daemon.config import Config
from daemon.errors import ClaimwatchError

log = logging.getLogger(__name__)

OPEN_ACTION = ("open-case", "Open case")
PLURALS = {"a_to_z": "A-to-z claims", "chargeback": "chargebacks", "at_risk": "buyers at risk"}
SUMMARY_LINES = 5  # the most pressing cases named in a summary's body
DESKTOP_RETRY = 60.0  # seconds without trying the desktop after it failed


class Dispatcher:
    """Delivers the scheduler's batches, one at a time, on its own thread."""

    def __init__(self, config: Config, ledger: AlertLedger, scheduler: Scheduler):
        self.config, self.ledger, self.scheduler = config, ledger, scheduler
        self.cases_dir = config.data_dir / "cases"
        self.desktop = (
            DesktopNotifications(icon=ICON, on_action=self._on_action)
            if config.desktop_notifications
            else None
        )
        # a batch to deliver, an Event to set once all before it are delivered, or None to end
        self._queue: queue.Queue[list[Alert] | threading.Event | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._targets: dict[int, tuple[str, str | None]] = {}  # notification id -> (path, case)
        self._shown: dict[str, int] = {}  # case id -> its latest notification id
        self._summary_id = 0
        self._summary: dict[str, Alert] = {}  # the cases the summary on screen counts
        self._desktop_retry_at = 0.0  # monotonic time before which the desktop is not tried

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="claimwatch-alerts", daemon=True)
        self._thread.start()

    def submit(self, alerts: list[Alert]) -> None:
        if alerts:
            self._queue.put(alerts)

    def drain(self, timeout: float) -> bool:
        """Wait until every batch handed over so far is delivered; False if *timeout* passed."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def stop(self, timeout: float) -> None:
        """Deliver what is queued (at most *timeout* seconds), then let the thread end."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
        if self.desktop is not None:
            self.desktop.close()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if isinstance(batch, threading.Event):
                batch.set()
                continue
            try:
                self.deliver(batch)
            except Exception:  # the alerts thread must outlive any one batch
                log.exception("delivering %d alert(s) failed", len(batch))
                self.scheduler.sent(batch)

    def deliver(self, batch: list[Alert]) -> None:
        """Send *batch*: desktop, else the command, and log each alert in any case."""
        for alert in batch:
            _log_alert(alert)
        left = self._desktop(batch)
        if left and self.config.notify_command:
            left = self._command(left)
        if left:
            self.ledger.record(left, "log")
        self.scheduler.sent(batch)

    def _desktop(self, batch: list[Alert]) -> list[Alert]:
        """Show *batch* on the desktop; returns the alerts it could not show. After a failure
        the desktop is left alone for DESKTOP_RETRY seconds: a hung server would otherwise cost
        every batch its full timeout."""
        if self.desktop is None or time.monotonic() < self._desktop_retry_at:
            return batch
        shown: list[Alert] = []
        try:
            if len(batch) > self.config.burst or self._summary_open():
                self._show_summary(batch)
                shown = batch
            else:
                for alert in batch:
                    self._show(alert)
                    shown.append(alert)
        except NotifyError as e:
            log.warning("%s; trying the desktop again in %.0f s", e, DESKTOP_RETRY)
            self._desktop_retry_at = time.monotonic() + DESKTOP_RETRY
        if shown:
            self.ledger.record(shown, "desktop")
        return [a for a in batch if a not in shown]

    def _show(self, alert: Alert) -> None:
        previous = self._shown.get(alert.case_id, 0)
        replaces = previous if previous and self.desktop.is_open(previous) else 0
        actions = [OPEN_ACTION] if alert.folder else []
        nid = self.desktop.notify(
            alert.title, alert.body, urgency=alert.urgency, replaces_id=replaces, actions=actions
        )
        if alert.case_id:
            self._shown[alert.case_id] = nid
        if alert.folder:
            self._targets[nid] = (alert.folder, alert.case_id)

    def _summary_open(self) -> bool:
        return bool(self._summary_id) and self.desktop.is_open(self._summary_id)

    def _show_summary(self, batch: list[Alert]) -> None:
        """One notification for many cases, updated in place while it stays on screen."""
        if not self._summary_open():
            self._summary_id, self._summary = 0, {}
        for alert in batch:
            self._summary[alert.case_id or alert.kind] = alert
        alerts = list(self._summary.values())
        critical = any(a.urgency == "critical" for a in alerts)
        nid = self.desktop.notify(
            summary_title(alerts),
            summary_body(alerts),
            urgency="critical" if critical else "normal",
            replaces_id=self._summary_id,
            actions=[("open-case", "Open cases")],
        )
        self._summary_id = nid
        self._targets[nid] = (str(self.cases_dir / "index.html"), None)

    def _command(self, alerts: list[Alert]) -> list[Alert]:
        """Hand each alert to ``notify_command``; returns those it failed on."""
        failed = []
        for alert in alerts:
            try:
                run_notify_command(self.config.notify_command, alert.payload())
            except NotifyError as e:
                log.warning("%s", e)
                failed.append(alert)
            else:
                self.ledger.record([alert], "command", **_digest_day(alert))
        return failed

    def _on_action(self, notification_id: int, key: str) -> None:
        """The seller pressed "Open case": open the folder (or the index of cases) and record
        that the case was looked at, which meets its acknowledgement target."""
        target = self._targets.get(notification_id)
        if key != OPEN_ACTION[0] or target is None:
            return
        path, case_id = target
        threading.Thread(
            target=self._open, args=(path, case_id), name="claimwatch-open", daemon=True
        ).start()

    def _open(self, path: str, case_id: str | None) -> None:
        from evidence_store.commands import open_path, record_viewed

        try:
            open_path(self.config.open_command, Path(path))
            if case_id:
                record_viewed(Path(path), via="notification")
        except ClaimwatchError as e:
            log.warning("%s", e)


def _digest_day(alert: Alert) -> dict:
    return {"day": alert.details["day"]} if alert.kind == "digest" else {}


def _log_alert(alert: Alert) -> None:
    level = logging.WARNING if alert.urgency == "critical" else logging.INFO
    where = f" (case {alert.case_id})" if alert.case_id else ""
    log.log(level, "alert: %s%s: %s", alert.title, where, alert.body.replace("\n", " | "))


def summary_title(alerts: list[Alert]) -> str:
    counts = Counter(a.label for a in alerts if a.kind != "review" and a.label in TITLES)
    parts = [f"{n} {PLURALS[label] if n > 1 else TITLES[label]}" for label, n in counts.items()]
    doubtful = sum(a.kind == "review" for a in alerts)
    if doubtful:
        parts.append(f"{doubtful} message{'s' if doubtful > 1 else ''} to check")
    head = f"{sum(counts.values())} cases need attention" if counts else f"{len(alerts)} alerts"
    return f"{head}: " + ", ".join(parts)


def summary_body(alerts: list[Alert]) -> str:
    ranked = sorted(
        alerts,
        key=lambda a: (
            a.details.get("time_left_seconds") is None,
            a.details.get("time_left_seconds") or 0,
        ),
    )
    lines = [
        a.title + (f" · {a.details['references'][0]}" if a.details.get("references") else "")
        for a in ranked[:SUMMARY_LINES]
    ]
    if len(ranked) > SUMMARY_LINES:
        lines.append(f"…and {len(ranked) - SUMMARY_LINES} more: claimwatch cases")
    return "\n".join(lines)
