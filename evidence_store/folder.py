"""One case folder on disk: its lock, its append-only timeline and the files it holds.

The folder is the seller's as much as ours: they browse it, zip it, add photos to ``evidence/``,
and the ``claimwatch case`` commands write to it while the daemon runs. So every writer takes
the folder's lock (``flock`` on ``.lock``, held for one message or one action), every file is
written atomically (temp file, fsync, rename), and the timeline is only ever appended to.

A SIGKILL can leave three traces, each repaired here or by reprocessing: a torn last timeline
line (cut off before the next append, skipped when read), temp files (removed under the lock),
and a message or attachment file whose timeline line never got written (the message is
processed again on restart; names are deterministic, so it lands on the same file).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

from daemon.atomic import fsync_dir, make_private_dir, write_atomic
from daemon.errors import CaseError
from daemon.message import Attachment, safe_filename
from daemon.state import parse_time

log = logging.getLogger(__name__)

TIMELINE = "timeline.jsonl"
CASE_JSON = "case.json"
README = "README.md"
LOCK = ".lock"
SUBFOLDERS = ("messages", "attachments", "evidence")


class CaseFolder:
    """``data_dir/cases/<case-id>/``. Methods that write expect :meth:`locked` to be held."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.id = self.path.name

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock: one writer at a time, daemon or command line."""
        make_private_dir(self.path)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def read_timeline(self) -> list[dict]:
        """Every complete timeline line; a torn last line (a crash mid-append) is left out."""
        try:
            data = (self.path / TIMELINE).read_bytes()
        except FileNotFoundError:
            return []
        entries = []
        lines = data.split(b"\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError:
                if number < len(lines):  # not the torn tail: worth a word in the log
                    log.warning("%s: line %d is not JSON; skipped", self.path / TIMELINE, number)
        return entries

    def append(self, entry: dict) -> None:
        """Append one line to the timeline, durably, after cutting off any torn tail."""
        path = self.path / TIMELINE
        line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size:
                end = _last_newline_end(fd, size)
                if end != size:
                    log.warning("%s: cutting off a torn last line (%d bytes)", path, size - end)
                    os.ftruncate(fd, end)
                    size = end
            os.lseek(fd, size, os.SEEK_SET)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if size == 0:
            fsync_dir(self.path)

    def store_message(self, name: str, raw: bytes) -> str:
        """Keep the original message, byte for byte, read-only; returns its relative path."""
        directory = make_private_dir(self.path / "messages")
        target = directory / name
        if not target.exists():
            write_atomic(target, raw, mode=0o400)
        return f"messages/{name}"

    def store_attachment(
        self, attachment: Attachment, known: dict[str, str], cap: int
    ) -> tuple[dict | None, dict | None]:
        """Copy *attachment* into ``attachments/`` unless the case holds its content already.

        *known* maps content hashes to the files already stored, and is updated. Returns
        ``(stored, skipped)``: one of them describes what happened.
        """
        if attachment.size > cap:
            reason = f"larger than the {cap:,} byte cap; it stays inside the original message"
            return None, {"name": attachment.filename, "size": attachment.size, "reason": reason}
        if attachment.sha256 not in known:
            known[attachment.sha256] = self._place(attachment)
        record = {
            "file": known[attachment.sha256],
            "sha256": attachment.sha256,
            "size": attachment.size,
            "content_type": attachment.content_type,
        }
        return record, None

    def _place(self, attachment: Attachment) -> str:
        """Write the attachment under its safe name, or name-2, name-3... if another file has it.

        The name is cleaned again here (the folder must never be escaped, whoever built the
        Attachment) and the result checked to sit directly in ``attachments/``.
        """
        directory = make_private_dir(self.path / "attachments")
        name = safe_filename(attachment.filename, "attachment.bin")
        stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
        for n in range(1, 1000):
            candidate = name if n == 1 else f"{stem}-{n}{dot}{ext}"
            target = directory / candidate
            if target.parent.resolve() != directory.resolve() or target.is_symlink():
                raise CaseError(f"{target}: attachment name escapes the case folder")
            if not target.exists():
                write_atomic(target, attachment.payload)
                return f"attachments/{candidate}"
            if _sha256(target) == attachment.sha256:  # left by a crash before the timeline line
                return f"attachments/{candidate}"
        raise CaseError(f"{directory}: 1000 attachments named {name!r}; rename some of them")

    def evidence_files(self) -> list[str]:
        """The seller's own files in ``evidence/`` (relative paths, sorted, dotfiles left out)."""
        directory = self.path / "evidence"
        if not directory.is_dir():
            return []
        found = (p.relative_to(directory) for p in directory.rglob("*") if p.is_file())
        return sorted(
            f"evidence/{p}" for p in found if not any(part.startswith(".") for part in p.parts)
        )

    def write_views(self, case: dict, readme: str) -> None:
        """Replace ``case.json`` and ``README.md`` atomically."""
        text = json.dumps(case, indent=2, ensure_ascii=False) + "\n"
        write_atomic(self.path / CASE_JSON, text.encode())
        write_atomic(self.path / README, readme.encode())

    def read_case(self) -> dict:
        """``case.json`` as last written; a :class:`CaseError` saying what to do if it is missing,
        unreadable or damaged."""
        path = self.path / CASE_JSON
        try:
            case = json.loads(path.read_bytes())
        except FileNotFoundError as e:
            raise CaseError(
                f"{path}: not found, so {self.path} is not a claimwatch case folder; "
                "`claimwatch cases --all` lists the cases"
            ) from e
        except OSError as e:
            raise CaseError(f"{path}: cannot be read ({e.strerror}); check its permissions") from e
        except ValueError as e:
            raise CaseError(
                f"{path}: not valid JSON ({e}); 'claimwatch run' rebuilds it from timeline.jsonl"
            ) from e
        if not isinstance(case, dict):
            raise CaseError(f"{path}: holds no case object (a JSON object is expected); repair it")
        return case

    def remove_temp_files(self) -> None:
        """Delete temp files a killed writer left behind (only ever called under the lock)."""
        for directory in (self.path, *(self.path / sub for sub in SUBFOLDERS[:2])):
            if directory.is_dir():
                for leftover in directory.glob(".*.tmp"):
                    leftover.unlink(missing_ok=True)


def message_file_name(entry: dict) -> str:
    """``2026-11-20T0930-a_to_z-0b1c2d3e.eml``: sorts by date, says what it is, and is the same
    every time the same spooled message is filed (the hash is of its spool name)."""
    date = parse_time(entry.get("date"))
    stamp = date.astimezone(UTC).strftime("%Y-%m-%dT%H%M") if date else "undated"
    digest = hashlib.sha256(entry["spool_file"].encode()).hexdigest()[:8]
    label = safe_filename(str(entry.get("label") or "message"), "message")
    return f"{stamp}-{label}-{digest}.eml"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _last_newline_end(fd: int, size: int) -> int:
    """The offset just after the last newline of the file (0 if none)."""
    position = size
    while position > 0:
        start = max(0, position - 4096)
        chunk = os.pread(fd, position - start, start)
        index = chunk.rfind(b"\n")
        if index >= 0:
            return start + index + 1
        position = start
    return 0
