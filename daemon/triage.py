"""Classification inside the daemon: the classifier it uses, the record of each verdict, and the
hot reload of the model when its file changes.

The model is swapped only once the new file has loaded and passed its checks; a corrupt or
unsafe file is logged and the old model stays in service. With no usable model at all the
daemon keeps running on the rules alone and says so in ``claimwatch status``.
"""

import json
import logging
import os
import threading
from datetime import timedelta
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from classifier.model_io import MODEL_FILE, active_model_dir, load_model
from classifier.rules import load_rules
from classifier.triage import Classifier, Verdict
from daemon.atomic import make_private_dir
from daemon.config import Config
from daemon.errors import ModelError
from daemon.message import Message
from daemon.policy import DeadlinePolicy
from daemon.state import Status, now, now_iso
from evidence_store.cases import INDEX_INTERVAL, CaseStore
from evidence_store.extraction import extract
from evidence_store.index import MessageIndex

log = logging.getLogger(__name__)

RELOAD_SETTLE = 0.3  # seconds of quiet after the last event on the model file before loading


def build_classifier(config: Config) -> Classifier:
    """Rules must load (a start-up error); a model that does not falls back to rules only."""
    rules = load_rules(config.rules_file)
    directory = active_model_dir(config.data_dir)
    try:
        model = load_model(directory)
    except ModelError as e:
        log.error("%s; classifying with the rules only until a model loads", e)
        return Classifier(None, rules, config.review_threshold, model_error=str(e))
    log.info("model %s loaded from %s", model.version, directory)
    return Classifier(model, rules, config.review_threshold)


def model_status(classifier: Classifier) -> dict:
    model = classifier.model
    return {
        "mode": "model+rules" if model else "rules-only",
        "version": model.version if model else None,
        "path": str(model.path) if model else None,
        "error": classifier.model_error,
        "rules": len(classifier.rules.rules),
    }


class VerdictLog:
    """Every verdict, appended to ``state/verdicts.jsonl`` (the last line for a message wins)."""

    def __init__(self, data_dir: Path):
        self.path = make_private_dir(data_dir / "state") / "verdicts.jsonl"
        self._lock = threading.Lock()

    def append(
        self, name: str, record: dict, message: Message, verdict: Verdict, **extra: object
    ) -> dict:
        """Record one verdict; returns the line, which is also the message's index entry."""
        line = index_entry(name, record, message, verdict) | extra
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        return line


def index_entry(name: str, record: dict, message: Message, verdict: Verdict) -> dict:
    """What is known of a processed message without reading it again: its verdict log line, its
    index entry and, for cases, its timeline line all start from this."""
    return (
        {
            "spool_file": name,
            "message_id": message.message_id,
            "in_reply_to": message.in_reply_to,
            "references": list(message.references),
            "subject": message.subject[:200],
            "from": message.from_addr,
            "date": message.date.isoformat() if message.date else None,
            "origin": record.get("origin"),
            "at": now_iso(),
        }
        | verdict.as_dict()
        | evidence_of(message)
    )


def evidence_of(message: Message) -> dict:
    """Order ids, tracking, amounts, reason, decision: recorded beside the verdict, so a case
    can later be built from the log without parsing the message again."""
    found = extract(message).as_dict()
    found["claim_reason"] = found.pop("reason")
    return found


class ClassifyHandler:
    """The processing-loop handler: classify, record, index, file into a case, and log one line
    per tier-1 message."""

    __name__ = "classifier"

    def __init__(
        self,
        classifier: Classifier,
        verdicts: VerdictLog,
        index: MessageIndex | None = None,
        cases: CaseStore | None = None,
        *,
        policy: DeadlinePolicy | None = None,
        backfill_age: timedelta | None = None,
    ):
        self.classifier, self.verdicts, self.index, self.cases = classifier, verdicts, index, cases
        self.policy, self.backfill_age = policy, backfill_age
        self._prepared: dict[int, Verdict] = {}
        self.reviews: list[dict] = []  # doubtful messages with no case, for the alerts

    def prepare(self, messages: list[Message]) -> None:
        """Classify a whole chunk at once: ten times faster than one call per message."""
        verdicts = self.classifier.classify_many(messages)
        self._prepared = {id(m): v for m, v in zip(messages, verdicts, strict=True)}

    def __call__(self, name: str, record: dict, message: Message) -> None:
        verdict = self._prepared.pop(id(message), None) or self.classifier.classify(message)
        extra = self._deadline_fields(verdict.label, message)
        extra["backfill"] = self._is_backfill(record, message)
        entry = self.verdicts.append(name, record, message, verdict, **extra)
        if self.index is not None:
            self.index.add(entry)  # by order id and thread: a later case finds its history here
        case_id = self.cases.file(entry, message) if self.cases is not None else None
        if verdict.needs_review:
            self.reviews.append(entry)
        if verdict.tier == 1 or verdict.needs_review:
            flag = " (needs review)" if verdict.needs_review else ""
            log.info(
                "%s: %s%s: %s%s",
                verdict.label,
                message.subject[:80],
                flag,
                ", ".join(verdict.reasons[:2]),
                f" -> case {case_id}" if case_id else "",
            )

    def _deadline_fields(self, label: str, message: Message) -> dict:
        if self.policy is None:
            return {}
        return self.policy.apply(label, message.from_addr, message.date or now())

    def _is_backfill(self, record: dict, message: Message) -> bool:
        """Old mail met at an account's first sync: filed as evidence, never alerted on."""
        origin = record.get("origin") or {}
        if self.backfill_age is None or not origin.get("initial") or message.date is None:
            return False
        return now() - message.date > self.backfill_age

    def finish(self) -> None:
        """After a chunk: cases/index.html for the cases it changed (at most every few seconds
        while a backlog drains; the daemon writes the last one when the queue is empty)."""
        if self.cases is not None:
            self.cases.flush(at_most_every=INDEX_INTERVAL)


class _ModelEvents(FileSystemEventHandler):
    def __init__(self, changed: threading.Event):
        self.changed = changed

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(os.fsdecode(p).endswith(MODEL_FILE) for p in paths if p):
            self.changed.set()


class ModelWatcher:
    """Reloads the model when ``model.joblib`` changes in the user's model directory."""

    def __init__(
        self, config: Config, classifier: Classifier, status: Status, stop: threading.Event
    ):
        self.config, self.classifier, self.status, self.stop = config, classifier, status, stop
        self.directory = make_private_dir(config.data_dir / "model")
        self.changed = threading.Event()

    def run(self) -> None:
        observer = Observer()
        observer.schedule(_ModelEvents(self.changed), str(self.directory), recursive=False)
        observer.start()
        try:
            while not self.stop.is_set():
                if self.changed.wait(timeout=0.5):
                    self._settle()
                    self.reload()
        finally:
            observer.stop()
            observer.join(timeout=5)

    def _settle(self) -> None:
        """Wait until the file has been quiet for a moment (a copy may take several writes)."""
        while self.changed.is_set() and not self.stop.is_set():
            self.changed.clear()
            self.stop.wait(RELOAD_SETTLE)

    def reload(self) -> None:
        directory = active_model_dir(self.config.data_dir)
        try:
            model = load_model(directory)
        except ModelError as e:
            log.error("model reload failed, keeping the model in service: %s", e)
            self.classifier.model_error = f"reload failed: {e}"
        else:
            self.classifier.swap(model)
            log.info("model %s loaded from %s", model.version, directory)
        self.status.set("model", model_status(self.classifier))
