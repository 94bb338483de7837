"""What the daemon remembers between runs: how far each folder is synced, and its health.

Both files live under ``data_dir/state`` and are rewritten atomically, so a crash leaves the last
complete version. The sync position is only advanced after the spool has the messages, which is
what makes "marked done only after the raw bytes are on disk" true.
"""

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from daemon.atomic import make_private_dir, read_json, write_json_atomic

CLOCK_VARIABLE = "CLAIMWATCH_NOW"


def now() -> datetime:
    """The current time, aware, in UTC: the one clock that deadlines and reminders read.

    ``$CLAIMWATCH_NOW`` (an ISO 8601 time) stands in for the wall clock, so that a test, or a
    seller asking "what would have fired by Monday 9:00?", can run ``claimwatch run --once`` at
    a chosen moment. A value that is not a time is ignored rather than trusted.
    """
    fixed = parse_time(os.environ.get(CLOCK_VARIABLE))
    return fixed.astimezone(UTC) if fixed else datetime.now(UTC)


def now_iso() -> str:
    """The current time as ISO 8601 with its UTC offset, the format of every timestamp we store."""
    return now().isoformat(timespec="seconds")


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 string as an aware datetime (naive means UTC), or ``None`` if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class SyncState:
    """UIDVALIDITY and highest UID done, per account and folder."""

    def __init__(self, data_dir: Path):
        self.path = make_private_dir(data_dir / "state") / "sync.json"
        self._lock = threading.Lock()
        self._data: dict = read_json(self.path, {})

    def position(self, account: str, folder: str) -> tuple[int | None, int]:
        """(UIDVALIDITY, highest UID done); (None, 0) for a folder never synced."""
        entry = self._data.get(account, {}).get(folder)
        if not entry:
            return None, 0
        return entry["uidvalidity"], entry["last_uid"]

    def initial(self, account: str, folder: str) -> bool:
        """True until a sync of this folder has run to its end: what such a sync brings is the
        mailbox's past (see ``backfill_age``), even when the first attempt was interrupted."""
        entry = self._data.get(account, {}).get(folder)
        return not (entry and entry.get("complete"))

    def advance(
        self, account: str, folder: str, uidvalidity: int, last_uid: int, complete: bool = False
    ) -> None:
        """Record that every UID up to *last_uid* of this folder generation is spooled;
        *complete* once a whole sync has finished."""
        with self._lock:
            folders = self._data.setdefault(account, {})
            done = complete or bool(folders.get(folder, {}).get("complete"))
            folders[folder] = {"uidvalidity": uidvalidity, "last_uid": last_uid, "complete": done}
            write_json_atomic(self.path, self._data)


class Status:
    """Per-source health for ``claimwatch status``: last good sync, messages spooled, last error."""

    def __init__(self, data_dir: Path):
        self.path = make_private_dir(data_dir / "state") / "status.json"
        self._lock = threading.Lock()
        self._data: dict = read_json(self.path, {"accounts": {}})

    def _entry(self, account: str) -> dict:
        return self._data["accounts"].setdefault(
            account, {"last_sync": None, "spooled": 0, "last_error": None, "last_error_at": None}
        )

    def synced(self, account: str, spooled: int) -> None:
        """A sync of one folder of *account* finished; *spooled* new messages came in."""
        with self._lock:
            entry = self._entry(account)
            entry["last_sync"] = now_iso()
            entry["spooled"] += spooled
            entry["connected"] = True
            write_json_atomic(self.path, self._data)

    def failed(self, account: str, error: str) -> None:
        """A connection or sync of *account* failed; the message must carry no secret."""
        with self._lock:
            entry = self._entry(account)
            entry["last_error"] = error
            entry["last_error_at"] = now_iso()
            entry["connected"] = False
            write_json_atomic(self.path, self._data)

    def connected(self) -> dict[str, bool | None]:
        """Account name -> whether its last connection attempt succeeded (None: never tried)."""
        with self._lock:
            return {name: e.get("connected") for name, e in self._data["accounts"].items()}

    def set(self, key: str, value) -> None:
        """Record a daemon-wide fact (pid, start time, drop-folder counters)."""
        with self._lock:
            self._data[key] = value
            write_json_atomic(self.path, self._data)
