"""The drop folder: ``*.eml`` files put there are spooled, then moved to ``done/``.

It needs no account and no network: mail exported from a webmail, a message saved from a desktop
client, or a whole offline archive goes in this way. A file is taken only once it is fully written:
when the kernel reports its writer closed it (inotify, through watchdog), when it was renamed in
(the safe way to drop a file), or, on file systems without inotify, when it has not changed for
``settle`` seconds. The original is moved away only after its bytes are durable in the spool, so a
crash in between just spools it again, which the content hash recognises.
"""

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from daemon.atomic import fsync_dir, make_private_dir
from daemon.spool import Origin, Spool

log = logging.getLogger(__name__)


def is_candidate(path: Path) -> bool:
    """Only visible ``*.eml`` files: writers use dot-files or other suffixes while writing."""
    return path.suffix.lower() == ".eml" and not path.name.startswith(".")


def _free_name(folder: Path, name: str) -> Path:
    """A name in *folder* that does not exist yet, so no earlier file in done/ is overwritten."""
    target = folder / name
    stem, suffix = os.path.splitext(name)
    for n in range(1, 10_000):
        if not target.exists():
            return target
        target = folder / f"{stem}-{n}{suffix}"
    return folder / f"{stem}-{time.time_ns()}{suffix}"


class DropFolder:
    """Spools the files of one drop folder; shared by ``run --once`` and the watcher."""

    def __init__(self, folder: Path, spool: Spool, settle: float = 2.0):
        self.folder = make_private_dir(folder)
        self.done = make_private_dir(folder / "done")
        self.spool, self.settle = spool, settle
        self._lock = threading.Lock()
        self._reported: set[tuple[str, float]] = set()

    def candidates(self) -> list[Path]:
        return sorted(
            Path(e.path) for e in os.scandir(self.folder) if e.is_file() and is_candidate(Path(e))
        )

    def scan(self, settled_only: bool) -> int:
        """Ingest every candidate (only those quiet for ``settle`` s if *settled_only*)."""
        added = 0
        for path in self.candidates():
            try:
                if settled_only and time.time() - path.stat().st_mtime < self.settle:
                    continue
            except FileNotFoundError:
                continue
            added += self.ingest(path)
        return added

    def ingest(self, path: Path) -> int:
        """Spool one file and move it to done/; return 1 if it was a new message, else 0."""
        with self._lock:
            try:
                raw = path.read_bytes()
                added = self.spool.add([(Origin.drop(path.name), raw)])
                os.rename(path, _free_name(self.done, path.name))
                fsync_dir(self.done)
            except FileNotFoundError:
                return 0  # taken already (a scan and an event raced) or removed by the user
            except OSError as e:
                self._report(path, e)
                return 0
        log.info("drop folder: %s %s", path.name, "spooled" if added else "already spooled")
        return len(added)

    def _report(self, path: Path, error: OSError) -> None:
        """Log an unreadable file once per version, not at every scan."""
        try:
            key = (str(path), path.stat().st_mtime)
        except OSError:
            key = (str(path), 0.0)
        if key not in self._reported:
            self._reported.add(key)
            log.error("drop folder: cannot take %s: %s; it stays where it is", path, error)


class _Events(FileSystemEventHandler):
    """Turns 'closed after writing', 'renamed in' and 'moved in whole' events into paths to
    ingest."""

    def __init__(self, paths: "queue.Queue[Path]", settle: float):
        self.paths, self.settle = paths, settle

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileMovedEvent):
            path = Path(os.fsdecode(event.dest_path))
        elif isinstance(event, FileClosedEvent):
            path = Path(os.fsdecode(event.src_path))
        elif isinstance(event, FileCreatedEvent) and self._settled(event.src_path):
            # moved in from another directory (mv keeps the mtime): inotify reports that as a
            # creation, with no "closed" to follow; a file being written has a fresh mtime and
            # is taken when it is closed
            path = Path(os.fsdecode(event.src_path))
        else:
            return
        if is_candidate(path):
            self.paths.put(path)

    def _settled(self, path: str | bytes) -> bool:
        try:
            return time.time() - os.stat(path).st_mtime >= self.settle
        except OSError:
            return False


class DropWatcher:
    """Watches the drop folder for the life of the daemon."""

    def __init__(
        self,
        drop: DropFolder,
        stop: threading.Event,
        on_new: Callable[[], None],
        rescan: float = 5.0,
    ):
        self.drop, self.stop, self.on_new, self.rescan = drop, stop, on_new, rescan
        self.paths: queue.Queue[Path] = queue.Queue()

    def run(self) -> None:
        observer = Observer()
        observer.schedule(
            _Events(self.paths, self.drop.settle), str(self.drop.folder), recursive=False
        )
        observer.start()
        try:
            self._notice(self.drop.scan(settled_only=False))
            next_scan = time.monotonic() + self.rescan
            while not self.stop.is_set():
                with contextlib.suppress(queue.Empty):
                    self._notice(self.drop.ingest(self.paths.get(timeout=0.5)))
                if time.monotonic() >= next_scan:
                    self._notice(self.drop.scan(settled_only=True))
                    next_scan = time.monotonic() + self.rescan
        finally:
            observer.stop()
            observer.join(timeout=5)

    def _notice(self, added: int) -> None:
        if added:
            self.on_new()
