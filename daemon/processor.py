"""The processing loop's unit of work: take a spooled message, parse it, hand it on.

Messages wait in the spool's ``new/``; each is parsed into a :class:`~daemon.message.Message` and
given to the handlers (classification, cases and alerts plug in here), then moved to ``cur/``.
A message that cannot be parsed, or that makes a handler fail, is copied to ``quarantine/`` with a
note saying why, and the loop carries on: one bad message never stops the daemon, and its raw
bytes stay in the spool whatever happens. Handlers must be idempotent: a crash between a handler
and the move to ``cur/`` hands the same message over again on restart.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from daemon.atomic import make_private_dir, write_atomic, write_json_atomic
from daemon.errors import ClaimwatchError, ParseError
from daemon.message import Message, parse_message
from daemon.spool import Spool
from daemon.state import now_iso

log = logging.getLogger(__name__)

Handler = Callable[[str, dict, Message], None]
"""Called with the spool name, the ledger record (origin, hashes) and the parsed message. A
handler may also have ``prepare(messages)``, called first with the whole chunk, and
``finish()``, called once the chunk has been handed over (for work worth doing once per chunk)."""


@dataclass
class Tally:
    """What one pass of the loop did, for logs, status and the demo."""

    processed: int = 0
    quarantined: int = 0
    reasons: dict[str, str] = field(default_factory=dict)


class Processor:
    """Drains the spool's ``new/`` through the parser and the handlers."""

    def __init__(self, data_dir: Path, spool: Spool, handlers: list[Handler] | None = None):
        self.spool = spool
        self.handlers = list(handlers or [])
        self.quarantine_dir = make_private_dir(data_dir / "quarantine")

    def drain(self, stop: threading.Event | None = None, chunk: int = 50) -> Tally:
        """Process everything pending, a chunk at a time; a stop request is honoured between
        two messages."""
        tally = Tally()
        pending = self.spool.pending()
        for start in range(0, len(pending), chunk):
            if stop is not None and stop.is_set():
                break
            done = self._process_chunk(pending[start : start + chunk], tally, stop)
            self.spool.mark_done(done)
        return tally

    def _process_chunk(
        self, names: list[str], tally: Tally, stop: threading.Event | None
    ) -> list[str]:
        """Parse a chunk, let handlers prepare on it at once (a model predicts faster in
        batches), then hand each message over; returns the names that are finished."""
        parsed = []
        for name in names:
            message = self._parse(name, tally)
            if message is not None:
                parsed.append((name, message))
        for handler in self.handlers:
            prepare = getattr(handler, "prepare", None)
            if prepare is not None and parsed:
                prepare([message for _, message in parsed])
        handed = {name for name, _ in parsed}
        done = [name for name in names if name not in handed]  # the quarantined ones
        for name, message in parsed:
            if stop is not None and stop.is_set():
                break
            self._hand_over(name, message, tally)
            done.append(name)
        for handler in self.handlers:
            finish = getattr(handler, "finish", None)
            if finish is not None:
                finish()
        return done

    def _parse(self, name: str, tally: Tally) -> Message | None:
        try:
            return parse_message(self.spool.read(name))
        except ParseError as e:
            self._quarantine(name, self.spool.record(name), f"cannot parse: {e}", tally)
            return None

    def _hand_over(self, name: str, message: Message, tally: Tally) -> None:
        record = self.spool.record(name)
        for handler in self.handlers:
            try:
                handler(name, record, message)
            except ClaimwatchError as e:
                self._quarantine(name, record, f"{_handler_name(handler)}: {e}", tally)
                return
            except Exception as e:
                log.exception("handler %s failed on %s", _handler_name(handler), name)
                reason = f"{_handler_name(handler)} failed: {type(e).__name__}: {e}"
                self._quarantine(name, record, reason, tally)
                return
        tally.processed += 1

    def _quarantine(self, name: str, record: dict, reason: str, tally: Tally) -> None:
        """Keep a copy and the reason side by side; the spooled original is never touched."""
        log.warning("quarantined %s: %s", name, reason)
        write_atomic(self.quarantine_dir / f"{name}.eml", self.spool.read(name))
        note = {
            "reason": reason,
            "at": now_iso(),
            "spool_file": name,
            "origin": record.get("origin"),
            "message_id": record.get("message_id"),
        }
        write_json_atomic(self.quarantine_dir / f"{name}.json", note)
        tally.quarantined += 1
        tally.reasons[name] = reason


def _handler_name(handler: Handler) -> str:
    return getattr(handler, "__name__", type(handler).__name__)
