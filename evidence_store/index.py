"""The message index: every processed message, findable by order id and by thread.

Opening a case needs the history of its order (the shipping confirmation of three weeks ago, the
buyer's first complaint), so every processed message leaves an entry here, whatever its tier.

The index lives in TinyDB, but not in TinyDB's default ``JSONStorage``: that one rewrites the whole
file on every insert, so the cost of one message grows with the size of the index, and a crash in
the middle of the rewrite leaves a truncated file. :class:`JournalStorage` instead keeps:

- ``snapshot.json``: the whole database at some point, replaced atomically (temp file, fsync,
  ``os.replace``, fsync of the directory);
- ``journal.jsonl``: one line per write since, appended and fsynced before the write returns. A
  line holds the new content of the documents a write changed and the ids it removed, so replaying
  a line twice gives the same state: a crash between writing a snapshot and emptying the journal
  is harmless.

Reading is snapshot + replay of the journal. A torn last line (the process died mid-append) is the
crash case: it is dropped with a warning and cut off, so later appends start on a clean line. When
the journal holds as many lines as the last snapshot has documents (and at least
``compact_after``), it is folded into a new snapshot; a snapshot costs O(size) but comes once per
O(size) writes, so the amortised cost per message stays constant, and so does the journal's share
of the opening time.

TinyDB's own ``Table._update_table`` copies the whole table twice per write (int ids to str ids and
back) and hands the storage the whole database, so a diffing storage alone would still be O(size)
per message. :class:`JournalTable` replaces that one method: the table's update functions run on a
:class:`_PendingChanges` view that buffers what they change, and the storage journals exactly that
(write-ahead: the in-memory state changes only once the line is on disk).

Use one :class:`MessageIndex` per index directory and process: the storage holds the state in
memory and TinyDB caches query results per table instance, so a second writer (or a reader in
another process) would see stale data. A lock file enforces it.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import gc
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

from daemon.atomic import make_private_dir, write_atomic
from daemon.errors import MessageIndexError
from daemon.state import parse_time

log = logging.getLogger(__name__)

SNAPSHOT_NAME = "snapshot.json"
JOURNAL_NAME = "journal.jsonl"
LOCK_NAME = "lock"
SNAPSHOT_FORMAT = 1
TABLE = "messages"
REFERENCE_FIELDS = ("order_ids", "payment_refs", "shop_orders", "claim_ids")

Tables = dict[str, dict[str, dict[str, Any]]]


class JournalStorage(Storage):
    """A TinyDB storage of a snapshot plus an append-only journal, in the directory *path*.

    :meth:`read` returns the live in-memory state (TinyDB only reads it); :meth:`commit` is the
    cheap path :class:`JournalTable` uses; :meth:`write` (whole database, used by TinyDB's
    ``drop_table``) is honoured with a new snapshot. *compact_after* is the least number of
    journal lines before a compaction.
    """

    def __init__(self, path: Path, compact_after: int = 1000) -> None:
        super().__init__()
        self.path = make_private_dir(Path(path))
        self.compact_after = compact_after
        self._snapshot = self.path / SNAPSHOT_NAME
        self._journal = self.path / JOURNAL_NAME
        self._lock_fd = self._lock()
        try:
            self._tables: Tables = self._load_snapshot()
            self._snapshot_size = self._size()
            self._journal_lines = self._replay_journal()
            self._journal_fd = os.open(self._journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except BaseException:
            os.close(self._lock_fd)
            raise

    def _lock(self) -> int:
        """Take the index for this process: two writers would each journal a stale state."""
        fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise MessageIndexError(
                f"{self.path}: the message index is in use by another claimwatch process; "
                "stop it first (one process per data_dir)"
            ) from None
        return fd

    def _load_snapshot(self) -> Tables:
        try:
            raw = self._snapshot.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw)
            if data.get("format") != SNAPSHOT_FORMAT or not isinstance(data.get("tables"), dict):
                raise ValueError(f"not a format-{SNAPSHOT_FORMAT} index snapshot")
        except (ValueError, AttributeError) as e:
            raise MessageIndexError(
                f"{self._snapshot}: the message index snapshot is corrupt ({e}); move the "
                f"directory {self.path} aside and reprocess the spool to rebuild the index"
            ) from e
        return data["tables"]

    def _replay_journal(self) -> int:
        """Apply the journal on the snapshot; cut off a torn last line. Returns the line count."""
        try:
            raw = self._journal.read_bytes()
        except FileNotFoundError:
            return 0
        pos = count = 0
        while pos < len(raw):
            end = raw.find(b"\n", pos)
            if end == -1:  # the last append never got its newline: torn
                self._drop_torn_tail(pos, len(raw))
                break
            try:
                record = json.loads(raw[pos:end])
                table, upserts, deletes = record["t"], record["set"], record["del"]
            except (ValueError, KeyError, TypeError) as e:
                if end + 1 == len(raw):
                    self._drop_torn_tail(pos, len(raw))
                    break
                raise MessageIndexError(
                    f"{self._journal}: line {count + 1} of the message index journal is corrupt "
                    f"({e}); move the directory {self.path} aside and reprocess the spool to "
                    "rebuild the index"
                ) from e
            self._apply(table, upserts, deletes)
            count += 1
            pos = end + 1
        return count

    def _drop_torn_tail(self, good_end: int, size: int) -> None:
        log.warning(
            "%s: dropped a torn last line (%d bytes) of the message index journal, left by "
            "an interrupted write; the message it held will be indexed again when reprocessed",
            self._journal,
            size - good_end,
        )
        with open(self._journal, "r+b") as f:
            f.truncate(good_end)
            os.fsync(f.fileno())

    def _apply(self, table: str, upserts: Mapping[str, Any], deletes: Iterable[str]) -> None:
        docs = self._tables.setdefault(table, {})
        for doc_id in deletes:
            docs.pop(doc_id, None)
        docs.update(upserts)

    def read(self) -> Tables | None:
        """The live state; TinyDB's read paths copy documents before returning them."""
        return self._tables

    def commit(self, table: str, upserts: dict[str, dict], deletes: set[str]) -> None:
        """Journal one change (fsynced), then apply it: the cheap path of every insert/update."""
        if not upserts and not deletes:
            return
        record = {"t": table, "set": upserts, "del": sorted(deletes)}
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        written = os.write(self._journal_fd, line)
        if written != len(line):  # a short write on a full disk: leave a torn tail, not a lie
            raise OSError(f"{self._journal}: short write ({written} of {len(line)} bytes)")
        os.fsync(self._journal_fd)
        self._journal_lines += 1
        self._apply(table, upserts, deletes)
        if self._journal_lines >= max(self.compact_after, self._snapshot_size):
            self.compact()

    def write(self, data: Tables) -> None:
        """Replace the whole database (TinyDB's ``drop_table``): a new snapshot, rarely used."""
        self._tables = data
        self.compact()

    def compact(self) -> None:
        """Fold the journal into a new snapshot, then empty the journal.

        A crash after the snapshot is replaced and before the journal is emptied leaves lines
        already in the snapshot; replaying them is harmless as every line holds final contents.
        """
        body = {"format": SNAPSHOT_FORMAT, "tables": self._tables}
        write_atomic(self._snapshot, json.dumps(body, ensure_ascii=False).encode())
        os.ftruncate(self._journal_fd, 0)
        os.fsync(self._journal_fd)
        self._journal_lines = 0
        self._snapshot_size = self._size()

    def _size(self) -> int:
        return sum(len(docs) for docs in self._tables.values())

    @property
    def journal_lines(self) -> int:
        """Lines in the journal since the last snapshot (for tests and the benchmark)."""
        return self._journal_lines

    def close(self) -> None:
        """Release the files; every write is already durable, so there is nothing to flush."""
        for fd in (self._journal_fd, self._lock_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class _PendingChanges(MutableMapping):
    """The table as a TinyDB update function sees it: reads fall through, writes are buffered.

    A document the function reads is copied first, since TinyDB's ``update`` changes documents in
    place; what it touched is then journaled before the committed state changes.
    """

    def __init__(self, committed: dict[str, dict]) -> None:
        self._committed = committed
        self.upserts: dict[str, dict] = {}
        self.deletes: set[str] = set()

    def __getitem__(self, doc_id: int) -> dict:
        key = str(doc_id)
        if key in self.upserts:
            return self.upserts[key]
        if key in self.deletes or key not in self._committed:
            raise KeyError(doc_id)
        doc = self.upserts[key] = copy.deepcopy(self._committed[key])
        return doc

    def __setitem__(self, doc_id: int, doc: dict) -> None:
        key = str(doc_id)
        self.deletes.discard(key)
        self.upserts[key] = doc

    def __delitem__(self, doc_id: int) -> None:
        if doc_id not in self:
            raise KeyError(doc_id)
        key = str(doc_id)
        self.upserts.pop(key, None)
        if key in self._committed:
            self.deletes.add(key)

    def __contains__(self, doc_id: object) -> bool:
        key = str(doc_id)
        return key in self.upserts or (key in self._committed and key not in self.deletes)

    def __iter__(self) -> Iterator[int]:
        for key in self._committed:
            if key not in self.deletes:
                yield int(key)
        for key in self.upserts:
            if key not in self._committed:
                yield int(key)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def clear(self) -> None:
        self.upserts.clear()
        self.deletes = set(self._committed)


class JournalTable(Table):
    """A TinyDB table whose writes cost O(changed documents), journaled by the storage."""

    def _update_table(self, updater: Callable[[dict[int, Mapping]], None]) -> None:
        storage = self._storage
        if not isinstance(storage, JournalStorage):
            raise TypeError("JournalTable needs a JournalStorage")
        committed = (storage.read() or {}).get(self.name, {})
        pending = _PendingChanges(committed)
        updater(pending)  # type: ignore[arg-type]
        storage.commit(self.name, pending.upserts, pending.deletes)
        self.clear_cache()


class _IndexDB(TinyDB):
    table_class = JournalTable


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while loading: the index is ~30 objects per entry, all kept alive, and
    the collections their creation triggers would be more than half of the opening time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def message_key(message_id: str) -> str:
    """``<a@b>`` and ``a@b`` name the same message: headers differ in their brackets."""
    return message_id.strip().strip("<>").strip()


def _date_key(date: Any) -> float | None:
    """Seconds since the epoch of an ISO date (naive means UTC), or None when absent/unreadable."""
    parsed = parse_time(date)
    return None if parsed is None else parsed.timestamp()


class MessageIndex:
    """Every processed message, by spool file, by order id and by thread.

    *path* is a directory (``data_dir/index``) holding the snapshot and the journal. An entry is a
    JSON-able dict with at least ``spool_file``, ``message_id``, ``in_reply_to``, ``references``,
    ``subject``, ``from``, ``date``, ``label``, ``tier``, ``order_ids`` and ``tracking``.

    The lookups by order id and by message id come from in-memory maps rebuilt on open, so they
    cost O(matches), not a scan. One instance per directory and process (see the module doc)::

        index = MessageIndex(data_dir / "index")
        index.add(entry)
        history = index.by_order("123-1234567-1234567")
    """

    def __init__(self, path: Path, *, compact_after: int = 1000) -> None:
        self.path = Path(path)
        self._by_spool: dict[str, int] = {}
        self._by_order: dict[str, set[int]] = {}
        self._by_message: dict[str, set[int]] = {}
        with _gc_paused():
            self._db = _IndexDB(self.path, storage=JournalStorage, compact_after=compact_after)
            self._table = self._db.table(TABLE, cache_size=0)
            for doc_id, doc in self._table._read_table().items():
                self._remember(int(doc_id), doc)

    @property
    def storage(self) -> JournalStorage:
        """The storage, for tests and the benchmark (journal length, compaction)."""
        return self._db.storage  # type: ignore[return-value]

    def add(self, entry: dict) -> None:
        """Index *entry*, replacing any earlier entry of the same spool file.

        Reprocessing a message must not duplicate it, hence the key is ``spool_file``. The entry
        is copied through JSON first, so what is in memory is exactly what a reopen replays.
        """
        spool_file = entry.get("spool_file")
        if not isinstance(spool_file, str) or not spool_file:
            raise ValueError(f"an index entry needs a spool_file, got {spool_file!r}")
        try:
            doc = json.loads(json.dumps(entry))
        except (TypeError, ValueError) as e:
            raise ValueError(f"index entry for {spool_file} is not JSON-able: {e}") from e
        doc_id = self._by_spool.get(spool_file)
        if doc_id is None:
            doc_id = self._table.insert(doc)
        else:
            old = self._table.get(doc_id=doc_id)
            self._table.update(lambda stored: _replace(stored, doc), doc_ids=[doc_id])
            if isinstance(old, Document):
                self._forget(doc_id, old)
        self._remember(doc_id, doc)

    def get(self, spool_file: str) -> dict | None:
        """The entry of *spool_file*, or None if that message was never indexed."""
        doc_id = self._by_spool.get(spool_file)
        return None if doc_id is None else self._entry(doc_id)

    def by_order(self, order_id: str) -> list[dict]:
        """Entries mentioning *order_id* (or that payment reference, shop order or claim number),
        oldest first: the order's history for a case."""
        return self._sorted(self._by_order.get(order_id.strip(), ()))

    def by_thread(self, message_ids: list[str]) -> list[dict]:
        """Entries whose message_id, in_reply_to or references meet *message_ids*, oldest first.

        Pass a message's own id with its ``In-Reply-To`` and ``References`` to find the earlier
        and later messages of its conversation.
        """
        found: set[int] = set()
        for message_id in message_ids:
            found |= self._by_message.get(message_key(message_id), set())
        return self._sorted(found)

    def entries(self) -> Iterator[dict]:
        """Every entry (the routine digest counts a day's worth once a day)."""
        for doc_id in list(self._by_spool.values()):
            yield self._entry(doc_id)

    def __len__(self) -> int:
        return len(self._by_spool)

    def close(self) -> None:
        """Release the index files; each ``add`` is already durable when it returns."""
        self._db.close()

    def __enter__(self) -> MessageIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _entry(self, doc_id: int) -> dict:
        doc = self._table.get(doc_id=doc_id)
        return copy.deepcopy(dict(doc)) if isinstance(doc, Document) else {}

    def _sorted(self, doc_ids: Iterable[int]) -> list[dict]:
        """Oldest first by date; undated entries after the dated ones; ties by insertion."""
        entries = [(doc_id, self._entry(doc_id)) for doc_id in doc_ids]

        def key(item: tuple[int, dict]) -> tuple[bool, float, int]:
            when = _date_key(item[1].get("date"))
            return (when is None, when or 0.0, item[0])

        return [entry for _, entry in sorted(entries, key=key)]

    def _message_ids(self, doc: Mapping[str, Any]) -> set[str]:
        ids = [doc.get("message_id"), doc.get("in_reply_to"), *(doc.get("references") or [])]
        keys = {message_key(i) for i in ids if isinstance(i, str)}
        keys.discard("")
        return keys

    def _order_ids(self, doc: Mapping[str, Any]) -> set[str]:
        """Order ids and the other references a case can be keyed by (payment references,
        dispute ids, shop order numbers, claim numbers): :meth:`by_order` finds any of them."""
        refs = [r for field in REFERENCE_FIELDS for r in doc.get(field) or []]
        return {r.strip() for r in refs if isinstance(r, str) and r.strip()}

    def _remember(self, doc_id: int, doc: Mapping[str, Any]) -> None:
        self._by_spool[doc["spool_file"]] = doc_id
        for order_id in self._order_ids(doc):
            self._by_order.setdefault(order_id, set()).add(doc_id)
        for message_id in self._message_ids(doc):
            self._by_message.setdefault(message_id, set()).add(doc_id)

    def _forget(self, doc_id: int, doc: Mapping[str, Any]) -> None:
        """Drop *doc_id* from the maps of its old content (spool_file stays: same key)."""
        for mapping, keys in (
            (self._by_order, self._order_ids(doc)),
            (self._by_message, self._message_ids(doc)),
        ):
            for key in keys:
                ids = mapping.get(key, set())
                ids.discard(doc_id)
                if not ids:
                    mapping.pop(key, None)


def _replace(old: dict, new: dict) -> None:
    """TinyDB update function: make the stored document exactly *new* (no stale keys)."""
    old.clear()
    old.update(new)
