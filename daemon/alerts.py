"""Alerts: which case must be brought to the seller's attention now, and the record that it was.

The scheduler reads the cases (``case.json``, as :class:`~evidence_store.cases.CaseStore` keeps
them) and the clock, and finds for each open case the reminders that are due: the arrival of a
tier-1 message, the acknowledgement target, each span before the deadline ("24h", "6h", "1h") and
overdue. Every reminder has a key (``6h:2026-11-24T18:00:00+00:00``: a moved deadline arms the
spans again), and a key fires once: the ledger ``state/alerts.jsonl`` remembers it across
restarts. The reminders of one case that are due together, as after a night with the machine off,
make one alert, about the most pressing of them.

What is sent, and how, is :mod:`daemon.dispatch`'s business; this module decides only what is due.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

from daemon.atomic import make_private_dir
from daemon.config import Config, duration_text
from daemon.state import now, parse_time
from evidence_store.views import (
    REASON_WORDS,
    amount_text,
    one_line,
    references,
    time_left,
)

log = logging.getLogger(__name__)

TITLES = {"a_to_z": "A-to-z claim", "chargeback": "Chargeback", "at_risk": "Buyer at risk"}
NEWS = {
    "a_to_z": "New A-to-z Guarantee claim",
    "chargeback": "New chargeback",
    "at_risk": "A buyer wrote in a way that often ends in a claim: answer today",
}
# The order in which one case's due reminders outrank each other (the alert is about the first).
KINDS = ("overdue", "reminder", "acknowledge", "new", "update", "review")


@dataclass
class Alert:
    """One notification's worth: a case, why it is due now, and what to tell the seller."""

    case_id: str
    kind: str  # overdue, reminder, acknowledge, new, update (a notice joined the case), digest
    keys: list[str]
    label: str
    title: str
    body: str
    urgency: str = "critical"
    folder: str | None = None
    deadline: str | None = None
    details: dict = field(default_factory=dict)

    def payload(self) -> dict:
        """The alert as ``notify_command`` reads it on stdin (one JSON object)."""
        return {
            "case": self.case_id,
            "kind": self.kind,
            "label": self.label,
            "urgency": self.urgency,
            "title": self.title,
            "body": self.body,
            "deadline": self.deadline,
            "folder": self.folder,
            **self.details,
        }


class AlertLedger:
    """The reminders already given, by case: ``state/alerts.jsonl``, one line per alert sent.

    Appended after an alert went out (on any channel, the log included): a crash between the
    two repeats one alert rather than losing it.
    """

    def __init__(self, data_dir: Path):
        self.path = make_private_dir(data_dir / "state") / "alerts.jsonl"
        self._lock = threading.Lock()
        self.fired: dict[str, set[str]] = {}
        self.last_digest: str | None = None  # the local day of the last routine digest
        self.last_digest_at: datetime | None = None
        for line in _read_lines(self.path):
            self._take(line)

    def _take(self, line: dict) -> None:
        if line.get("kind") == "digest":
            self.last_digest = line.get("day")
            self.last_digest_at = parse_time(line.get("at"))
        for case_id, keys in (line.get("cases") or {}).items():
            self.fired.setdefault(case_id, set()).update(keys)

    def has(self, case_id: str, key: str) -> bool:
        return key in self.fired.get(case_id, ())

    def record(self, alerts: Iterable[Alert], channel: str, **extra: object) -> None:
        """Remember that *alerts* went out through *channel*."""
        alerts = list(alerts)
        cases: dict[str, list[str]] = {}
        for alert in alerts:
            cases.setdefault(alert.case_id, []).extend(alert.keys)
        line = {
            "at": now().isoformat(timespec="seconds"),
            "channel": channel,
            "kind": alerts[0].kind if len(alerts) == 1 else "batch",
            "cases": cases,
            "titles": [alert.title for alert in alerts],
            **extra,
        }
        self._append(line)

    def record_digest(self, day: str) -> None:
        """A day with no routine mail to count: the digest is done all the same."""
        line = {"at": now().isoformat(timespec="seconds"), "kind": "digest"}
        self._append(line | {"channel": "none", "day": day, "cases": {}})

    def _append(self, line: dict) -> None:
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._take(line)


def _read_lines(path: Path) -> list[dict]:
    """The ledger's lines; a torn last line (a crash while appending) is skipped."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = []
    for text in raw.splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            log.warning("%s: skipping a damaged line", path)
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


class Scheduler:
    """Finds the alerts due now; remembers those handed to the dispatcher but not yet sent."""

    def __init__(self, config: Config, ledger: AlertLedger, cases_dir: Path):
        self.config, self.ledger, self.cases_dir = config, ledger, cases_dir
        self.in_flight: dict[str, set[str]] = {}
        self.reviews: dict[str, dict] = {}  # spool file -> index entry of a doubtful message

    def add_reviews(self, entries: Iterable[dict]) -> None:
        """Messages flagged needs_review that opened no case: the seller must look at them,
        or a doubtful claim would wait unseen in the verdict log."""
        for entry in entries:
            fresh = entry.get("needs_review") and not entry.get("backfill")
            if fresh and not self.ledger.has(review_id(entry), "review"):
                self.reviews[entry["spool_file"]] = entry

    def due(self, cases: Iterable[dict], now: datetime) -> list[Alert]:
        """The alerts to send now, most pressing first; quiet hours hold back all but overdue."""
        quiet = in_quiet_hours(self.config.quiet_hours, now)
        found = []
        for case in cases:
            alert = self._case_alert(case, now)
            if alert is None or (quiet and alert.kind != "overdue"):
                continue
            self.in_flight.setdefault(alert.case_id, set()).update(alert.keys)
            found.append(alert)
        if not quiet:
            found += [review_alert(entry) for entry in self.reviews.values()]
            self.reviews.clear()
        found.sort(key=lambda a: (KINDS.index(a.kind), a.deadline or "~"))
        return found

    def sent(self, alerts: Iterable[Alert]) -> None:
        """The dispatcher is done with *alerts* (the ledger has them)."""
        for alert in alerts:
            self.in_flight.get(alert.case_id, set()).difference_update(alert.keys)

    def _case_alert(self, case: dict, now: datetime) -> Alert | None:
        waiting = case.get("status") == "open" and not case.get("backfilled")
        if not waiting or case.get("label") not in TITLES:
            return None
        due = self._due_keys(case, now)
        done = self.ledger.fired.get(case["id"], set()) | self.in_flight.get(case["id"], set())
        fresh = {key: kind for key, kind in due.items() if key not in done}
        if not fresh:
            return None
        kind = min(fresh.values(), key=KINDS.index)
        return describe(case, kind, list(fresh), now, self.cases_dir)

    def _due_keys(self, case: dict, now: datetime) -> dict[str, str]:
        """Every reminder of *case* whose time has come, fired or not: key -> kind."""
        marks = self.config.reminders
        keys: dict[str, str] = {}
        if "arrival" in marks:
            for m in case.get("messages", []):
                new = m.get("role") in ("opened", "joined") and m.get("label") in TITLES
                if new and not m.get("backfill"):
                    keys[f"new:{m['file']}"] = "new" if m["role"] == "opened" else "update"
        ack_by = parse_time(case.get("acknowledge_by"))
        if ack_by is not None and now >= ack_by:
            keys[f"ack:{case['acknowledge_by']}"] = "acknowledge"
        deadline = parse_time(case.get("deadline"))
        if deadline is None:
            return keys
        for mark in marks:
            if isinstance(mark, timedelta) and deadline - mark <= now < deadline:
                keys[f"{duration_text(mark)}:{case['deadline']}"] = "reminder"
        if "overdue" in marks and now >= deadline:
            keys[f"overdue:{case['deadline']}"] = "overdue"
        return keys


def describe(case: dict, kind: str, keys: list[str], now: datetime, cases_dir: Path) -> Alert:
    """The words of a case's alert: the title carries the label and the time left, the body the
    order, the amount and the reason, then why it is raised now."""
    label = case["label"]
    deadline = case.get("deadline")
    left = time_left(deadline, now) if deadline else "no deadline known"
    refs = references(case)
    facts = [f"Order {refs[0]}" if refs else "No order id found"]
    if case.get("amount"):
        facts.append(amount_text(case["amount"]))
    if case.get("claim_reason"):
        facts.append(REASON_WORDS.get(case["claim_reason"], case["claim_reason"]))
    why = {
        "new": NEWS[label],
        "update": "New mail about this case",
        "acknowledge": "Nobody has opened this case yet",
        "reminder": f"Reminder: {left}",
        "overdue": "The deadline has passed: answer now, the claim may still be contested",
    }[kind]
    subject = _latest_subject(case)
    body = "\n".join(line for line in (" · ".join(facts), why, subject) if line)
    return Alert(
        case_id=case["id"],
        kind=kind,
        keys=keys,
        label=label,
        title=f"{TITLES[label]} · {left}",
        body=body,
        folder=str(cases_dir / case["id"]),
        deadline=deadline,
        details={
            "deadline_source": case.get("deadline_source"),
            "time_left_seconds": _seconds_left(deadline, now),
            "references": refs,
            "amount": case.get("amount"),
            "reason": case.get("claim_reason"),
            "marketplace": case.get("marketplace"),
        },
    )


def review_id(entry: dict) -> str:
    return f"review:{entry['spool_file']}"


def review_alert(entry: dict) -> Alert:
    """A message the classifier kept as routine with a tier-1 probability past the review
    threshold: not a case, but worth a look (normal urgency), and a chance to teach claimwatch."""
    subject = one_line(entry.get("subject"), 120) or "(no subject)"
    body = "\n".join(
        [
            f"From {one_line(entry.get('from'), 80) or 'an unknown sender'}: {subject}",
            "claimwatch is not sure this is routine. If it is a claim, tell it: claimwatch label "
            f"{entry['spool_file']} a_to_z (or chargeback, at_risk, routine)",
        ]
    )
    return Alert(
        case_id=review_id(entry),
        kind="review",
        keys=["review"],
        label=entry.get("label") or "routine",
        title="Possible claim? · please check this message",
        body=body,
        urgency="normal",
        details={"spool_file": entry["spool_file"], "subject": entry.get("subject")},
    )


def _latest_subject(case: dict) -> str:
    notices = [m for m in case.get("messages", []) if m.get("label") in TITLES]
    return one_line(notices[-1].get("subject"), 120) if notices else ""


def _seconds_left(deadline: str | None, now: datetime) -> int | None:
    due = parse_time(deadline)
    return None if due is None else int((due - now).total_seconds())


def in_quiet_hours(hours: tuple[time, time] | None, now: datetime) -> bool:
    """Whether *now*, in the machine's local time, falls in the quiet hours (which may span
    midnight: 22:00-07:00)."""
    if hours is None:
        return False
    start, end = hours
    local = now.astimezone().time()
    return start <= local < end if start < end else local >= start or local < end


def digest_due(config: Config, ledger: AlertLedger, now: datetime) -> str | None:
    """Today's date (local) when the routine digest should go out now, else None."""
    if config.routine_digest is None:
        return None
    local = now.astimezone()
    day = local.date().isoformat()
    if local.time() < config.routine_digest or ledger.last_digest == day:
        return None
    return day


def digest_alert(entries: Iterable[dict], since: datetime, day: str) -> Alert | None:
    """One low-urgency notification a day counting the routine mail received after *since*."""
    subjects: list[str] = []
    count = 0
    for entry in entries:
        at = parse_time(entry.get("at"))
        if entry.get("label") != "routine" or entry.get("backfill") or at is None or at <= since:
            continue
        count += 1
        subjects.append(one_line(entry.get("subject"), 80))
    if not count:
        return None
    body = "\n".join(subjects[-3:]) + (f"\n…and {count - 3} more" if count > 3 else "")
    return Alert(
        case_id="",
        kind="digest",
        keys=[],
        label="routine",
        title=f"claimwatch: {count} routine message(s) since the last digest",
        body=body,
        urgency="low",
        details={"day": day, "count": count},
    )
