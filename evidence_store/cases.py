"""Cases: which messages belong together, and the folder each case keeps on disk.

A tier-1 message opens a case, or joins the one its order already has. A case is found by its
references: an Amazon order id first, then a payment reference or dispute id, a shop order
number, a claim or case number, and last the thread (Message-ID, In-Reply-To, References). Its
id is readable and never changes: ``order-171-5551234-7654321``, ``dispute-dp_1Nv...``,
``thread-1a2b3c4d``.

Opening a case pulls in from the message index what was already known about its order (the
shipping confirmation of three weeks ago, the buyer's first complaint). Evidence that arrives
later, in any tier, joins the case too: a re-synced folder or a dropped ``.eml`` can bring the
shipping notice after the claim. A notice's decision moves the case along the lifecycle (see
:func:`~evidence_store.summary.next_status`).

The layout of a folder and of ``case.json`` is in ``evidence_store/case-folder.md``. All writes
go through :class:`~evidence_store.folder.CaseFolder`, under the folder's lock; filing the same
message twice (a restart after a crash) changes nothing, since the timeline knows its spool file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from daemon.atomic import make_private_dir, write_atomic
from daemon.errors import CaseError, ClaimwatchError, ParseError
from daemon.message import Message, parse_message
from daemon.state import now_iso, parse_time
from evidence_store.folder import CASE_JSON, CaseFolder, message_file_name
from evidence_store.index import MessageIndex, message_key
from evidence_store.language import detect_language
from evidence_store.summary import (
    STATUSES,
    current_status,
    next_status,
    reopened_status,
    summarize,
)
from evidence_store.views import render_index, render_readme, sort_cases

log = logging.getLogger(__name__)

INDEX_HTML = "index.html"
INDEX_INTERVAL = 2.0  # seconds: while mail pours in, index.html is rewritten at most this often
MAX_HISTORY = 100  # earlier messages pulled into a new case, the most recent kept
MAX_ORDERS = 3  # a routine message naming more orders (a payout report) is nobody's evidence
# What a timeline line keeps of a message's index entry.
ENTRY_FIELDS = (
    "spool_file", "message_id", "in_reply_to", "references", "date", "from", "subject", "label",
    "tier", "confidence", "needs_review", "order_ids", "payment_refs", "shop_orders", "claim_ids",
    "tracking", "amounts", "claim_reason", "decision", "delivered", "deadline",
    "policy_deadline", "policy", "ack_by", "backfill",
)  # fmt: skip
# Reference kinds, strongest first: (entry field, key prefix, case id prefix).
REFERENCES = (
    ("order_ids", "order", "order"),
    ("payment_refs", "ref", "pay"),
    ("shop_orders", "shop", "shop"),
    ("claim_ids", "claim", "claim"),
)
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # undated history sorts first

Filed = tuple[dict, Message | None, str]  # an index entry, its parsed message if at hand, a role


class CaseStore:
    """Files processed messages into case folders under *cases_dir* (``data_dir/cases``).

    *index* is the message index (for the history of a new case); *read_raw* returns the raw
    bytes of a spooled message by spool name. One instance per data directory, in the daemon;
    the ``claimwatch case`` commands work on the folders directly (:func:`update_case`).
    """

    def __init__(
        self,
        cases_dir: Path,
        index: MessageIndex,
        read_raw: Callable[[str], bytes],
        *,
        attachment_max_bytes: int = 25 * 1024 * 1024,
        clock: Callable[[], str] = now_iso,
    ) -> None:
        self.dir = make_private_dir(Path(cases_dir))
        self.index, self.read_raw = index, read_raw
        self.attachment_max_bytes = attachment_max_bytes
        self.clock = clock
        self.cases: dict[str, dict] = {}
        self.keys: dict[str, str] = {}
        self.dirty = True
        self._rows: dict[str, str] = {}  # index.html rows of the unchanged cases
        self._seen: dict[str, int | None] = {}  # case.json's mtime when we last read or wrote it
        self._json: dict[str, str] = {}  # case.json's path, by case id
        self._written = 0.0
        for folder in case_folders(self.dir):
            self._reopen(folder)
        self.flush()

    def file(self, entry: dict, message: Message | None) -> str | None:
        """File one processed message; returns the id of the case it joined or opened, if any."""
        tier_1 = entry.get("tier") == 1
        case_id = self._match(entry, tier_1)
        if case_id is not None:
            self._add(case_id, [(entry, message, "joined" if tier_1 else "evidence")])
        elif tier_1:
            case_id = self._new_id(entry)
            history = [(h, None, "history") for h in self._history(entry)]
            self._add(case_id, [*history, (entry, message, "opened")])
        return case_id

    def flush(self, at_most_every: float = 0.0) -> None:
        """Rewrite ``cases/index.html`` if a case changed since the last flush, and if the last
        rewrite is at least *at_most_every* seconds old.

        The page lists every case, so a rewrite costs O(cases) however few rows changed (those
        alone are rendered again); during a catch-up the daemon asks for one every
        :data:`INDEX_INTERVAL` seconds at most, and for a last one when the queue is empty.
        """
        if not self.dirty or time.monotonic() - self._written < at_most_every:
            return
        self._catch_up()
        write_index(self.dir, list(self.cases.values()), self._rows)
        self._written = time.monotonic()
        self.dirty = False

    def refresh(self) -> None:
        """Take in what the seller did meanwhile (marked a case responded, added a note), before
        deciding which reminders are due."""
        if self._catch_up():
            self.dirty = True

    def _catch_up(self) -> bool:
        """Take in what ``claimwatch case ID note|status|export`` changed meanwhile: their
        case.json is newer than the one this process wrote, and the page must not undo them.
        One stat per case, on a path string built once (this runs before every rewrite)."""
        changed = False
        for case_id, seen in self._seen.items():
            if _mtime(self._json[case_id]) != seen:
                folder = CaseFolder(self.dir / case_id)
                with contextlib.suppress(ClaimwatchError):
                    self.cases[case_id] = folder.read_case()
                    self._seen[case_id] = _mtime(self._json[case_id])
                    self._rows.pop(case_id, None)
                    changed = True
        return changed

    def _reopen(self, folder: CaseFolder) -> None:
        """Load a case at start-up, repairing what a crash may have left (see folder.py)."""
        with folder.locked():
            folder.remove_temp_files()
            timeline = folder.read_timeline()
            if not any(e.get("role") == "opened" for e in timeline):
                # killed while opening (history lines written, not yet the opening message's):
                # that message is filed again on restart and finds this folder by its id
                return
            case = summarize(folder.id, timeline, folder.evidence_files())
            if _stored_case(folder) != case:
                folder.write_views(case, render_readme(case, timeline))
            self._remember(case, timeline)  # under the lock: case.json's mtime is ours

    def _match(self, entry: dict, tier_1: bool) -> str | None:
        references = reference_keys(entry)
        if not tier_1 and sum(k.split(":")[0] != "claim" for k in references) > MAX_ORDERS:
            return None
        return next(
            (self.keys[k] for k in [*references, *thread_keys(entry)] if k in self.keys), None
        )

    def _new_id(self, entry: dict) -> str:
        base = case_id_for(entry)
        case_id, n = base, 1
        while case_id in self.cases:  # another case's thread hash or a reused shop number
            n += 1
            case_id = f"{base}-{n}"
        return case_id

    def _history(self, entry: dict) -> list[dict]:
        """What the index knows of the new case's order and thread, oldest first."""
        found: dict[str, dict] = {}
        for field, _, _ in REFERENCES:
            for ref in entry.get(field) or []:
                found |= {h["spool_file"]: h for h in self.index.by_order(ref)}
        ids = [entry.get("message_id"), entry.get("in_reply_to"), *(entry.get("references") or [])]
        found |= {h["spool_file"]: h for h in self.index.by_thread([i for i in ids if i])}
        found.pop(entry["spool_file"], None)
        relevant = [h for h in found.values() if len(reference_keys(h)) <= MAX_ORDERS]
        relevant.sort(key=lambda h: (parse_time(h.get("date")) or _EPOCH, h["spool_file"]))
        return relevant[-MAX_HISTORY:]

    def _add(self, case_id: str, items: list[Filed]) -> None:
        folder = CaseFolder(self.dir / case_id)
        with folder.locked():
            timeline = folder.read_timeline()
            filed = {e.get("spool_file") for e in timeline if e.get("kind") == "message"}
            known = {a["sha256"]: a["file"] for e in timeline for a in e.get("attachments", [])}
            status = current_status(timeline)
            seen = {e.get("label") for e in timeline if _is_notice(e)}
            for entry, message, role in items:
                if entry["spool_file"] in filed:
                    continue  # filed before a crash or by an earlier pass: nothing to do
                line = self._message_line(folder, entry, message, role, known)
                if line is None:
                    continue
                line["status"] = _moved_status(line, status, seen)
                folder.append(line)
                timeline.append(line)
                filed.add(entry["spool_file"])
                status = line["status"] or status
                seen |= {line["label"]} if _is_notice(line) else set()
            case = summarize(case_id, timeline, folder.evidence_files())
            folder.write_views(case, render_readme(case, timeline))
            self._remember(case, timeline)
        self.dirty = True

    def _message_line(
        self,
        folder: CaseFolder,
        entry: dict,
        message: Message | None,
        role: str,
        known: dict[str, str],
    ) -> dict | None:
        """Store one message and its attachments; returns its timeline line.

        A history message whose spool file is gone (the seller pruned the spool) is skipped with a
        warning; the message being processed always has its file.
        """
        try:
            raw = self.read_raw(entry["spool_file"])
        except OSError as e:
            if role != "history":
                problem = f"{entry['spool_file']}: cannot read the spooled message: {e}"
                raise CaseError(problem) from e
            log.warning("case %s: history message %s not in the spool: %s", folder.id, entry, e)
            return None
        message = message or _parse_quietly(raw, entry["spool_file"])
        stored, skipped = [], []
        for attachment in message.attachments if message else ():
            kept, left = folder.store_attachment(attachment, known, self.attachment_max_bytes)
            stored += [kept] if kept else []
            skipped += [left] if left else []
        line = {k: entry.get(k) for k in ENTRY_FIELDS} | {
            "kind": "message",
            "at": self.clock(),
            "role": role,
            "file": folder.store_message(message_file_name(entry), raw),
            "attachments": stored,
            "skipped_attachments": skipped,
            "status": None,
        }
        if entry.get("tier") == 1 and message is not None:
            line["language"] = detect_language(f"{message.subject}\n{message.text}")
        return line

    def _remember(self, case: dict, timeline: list[dict]) -> None:
        self.cases[case["id"]] = case
        path = self._json.setdefault(case["id"], os.path.join(self.dir, case["id"], CASE_JSON))
        self._seen[case["id"]] = _mtime(path)
        self._rows.pop(case["id"], None)
        for line in timeline:
            if line.get("kind") != "message":
                continue
            keys = thread_keys(line)
            if line.get("tier") == 1:
                keys = [*reference_keys(line), *keys]
            for key in keys:
                self.keys.setdefault(key, case["id"])


def _is_notice(line: dict) -> bool:
    """A tier-1 message the case is about (not one pulled in as history)."""
    return line.get("kind") == "message" and line.get("tier") == 1 and line.get("role") != "history"


def _moved_status(line: dict, status: str, seen: set[str]) -> str | None:
    """The status a message moves its case to: a claim or chargeback notice's decision, or a
    reopening (see :func:`~evidence_store.summary.reopened_status`); None when it stays."""
    if not _is_notice(line):
        return None
    label, decision = line.get("label") or "", line.get("decision")
    if label in ("a_to_z", "chargeback"):
        moved = next_status(status, decision)
        if moved is not None:
            return moved
    return reopened_status(status, label, decision, seen)


def reference_keys(entry: dict) -> list[str]:
    """``order:…``, ``ref:…``, ``shop:…``, ``claim:…`` keys of an entry, strongest first."""
    return [f"{key}:{ref}" for field, key, _ in REFERENCES for ref in entry.get(field) or []]


def thread_keys(entry: dict) -> list[str]:
    ids = [entry.get("message_id"), entry.get("in_reply_to"), *(entry.get("references") or [])]
    return [f"msg:{message_key(i)}" for i in ids if isinstance(i, str) and message_key(i)]


def case_id_for(entry: dict) -> str:
    """The id a case opened by *entry* gets: its strongest reference, else its thread's root."""
    for field, _, prefix in REFERENCES:
        for ref in entry.get(field) or []:
            if field == "payment_refs" and not re.match(r"[PSC]0\d-", ref):
                prefix = "dispute"
            return f"{prefix}-{_UNSAFE_ID.sub('_', ref.lstrip('#'))[:100]}"
    ids = [*(entry.get("references") or []), entry.get("in_reply_to"), entry.get("message_id")]
    root = next((message_key(i) for i in ids if i), entry["spool_file"])
    return f"thread-{hashlib.sha256(root.encode()).hexdigest()[:8]}"


def case_folders(cases_dir: Path) -> list[CaseFolder]:
    """Every case folder under *cases_dir*, by id."""
    if not cases_dir.is_dir():
        return []
    return [
        CaseFolder(p)
        for p in sorted(cases_dir.iterdir())
        if p.is_dir() and not p.name.startswith(".") and p.name != "exports"
    ]


def load_cases(cases_dir: Path) -> list[dict]:
    """Every readable ``case.json``; a damaged one is logged and left out, not fatal."""
    cases = []
    for folder in case_folders(cases_dir):
        if not (folder.path / CASE_JSON).exists():
            continue
        try:
            cases.append(folder.read_case())
        except CaseError as e:
            log.warning("%s", e)
    return cases


def find_case(cases_dir: Path, ref: str) -> CaseFolder:
    """The case named by *ref*: its id, an order id or other reference it holds, or a unique
    prefix of its id. A :class:`CaseError` says what matched when not exactly one case does."""
    ref = ref.strip()
    if (
        ref
        and not ref.startswith(".")
        and "/" not in ref
        and (cases_dir / ref / CASE_JSON).exists()
    ):
        return CaseFolder(cases_dir / ref)
    cases = load_cases(cases_dir)
    by_reference = [c for c in cases if any(ref in c.get(field, []) for field, _, _ in REFERENCES)]
    matches = by_reference or [c for c in cases if ref and c["id"].startswith(ref)]
    if len(matches) == 1:
        return CaseFolder(cases_dir / matches[0]["id"])
    if not matches:
        raise CaseError(f"no case matches {ref!r}; 'claimwatch cases --all' lists them")
    names = ", ".join(c["id"] for c in matches[:5])
    raise CaseError(f"{ref!r} matches {len(matches)} cases ({names}); give the full case id")


def update_case(folder: CaseFolder, line: dict) -> dict:
    """Append a seller's action (note, status, export) to a case and rewrite its views."""
    with folder.locked():
        timeline = folder.read_timeline()
        if not timeline:
            raise CaseError(f"{folder.path}: the case has no timeline; is it a case folder?")
        folder.append(line)
        timeline.append(line)
        case = summarize(folder.id, timeline, folder.evidence_files())
        folder.write_views(case, render_readme(case, timeline))
    write_index(folder.path.parent, load_cases(folder.path.parent))
    return case


def status_line(folder: CaseFolder, status: str, clock: Callable[[], str] = now_iso) -> dict:
    """The timeline line of the seller setting *status*; a :class:`CaseError` if it is none."""
    if status not in STATUSES:
        raise CaseError(f"unknown status {status!r}; use one of: {', '.join(STATUSES)}")
    return {"kind": "status", "at": clock(), "status": status, "from": folder.read_case()["status"]}


def write_index(cases_dir: Path, cases: list[dict], rows: dict[str, str] | None = None) -> None:
    """Regenerate ``cases/index.html`` from *cases*, under the lock of the cases folder (the
    daemon and a ``case`` command may both be writing it), removing a killed writer's temp file.
    *rows* caches rendered rows by case id (see :func:`~evidence_store.views.render_index`)."""
    html = render_index(sort_cases(cases), now_iso(), rows)
    with CaseFolder(cases_dir).locked():
        for leftover in cases_dir.glob(f".{INDEX_HTML}.*.tmp"):
            leftover.unlink(missing_ok=True)
        write_atomic(cases_dir / INDEX_HTML, html.encode())


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def _stored_case(folder: CaseFolder) -> dict | None:
    try:
        return folder.read_case()
    except ClaimwatchError:
        return None


def _parse_quietly(raw: bytes, spool_file: str) -> Message | None:
    """A history message parsed for its attachments; one that no longer parses keeps its .eml."""
    try:
        return parse_message(raw)
    except ParseError as e:
        log.warning("%s: attachments not extracted: %s", spool_file, e)
        return None
