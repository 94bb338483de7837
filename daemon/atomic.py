"""Durable file writes: what is on disk after a crash is either the old file or the new one.

Every state file claimwatch keeps goes through :func:`write_atomic` (temp file beside the target,
fsync, rename, fsync of the directory), the pattern Radicale and Maildir use, so a power cut or a
SIGKILL can never leave a half-written state or spool file behind.
"""

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from daemon.errors import ClaimwatchError


def fsync_dir(path: Path) -> None:
    """Make a rename or a new directory entry in *path* durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dir(path: Path) -> Path:
    """Create *path* and its missing parents readable by the owner only: mail is private.

    ``mkdir(parents=True)`` would give the parents the umask's mode, so each missing level is
    made here; directories that already exist (the user's home) are left as they are.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_file(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """A binary file that replaces *path* when the block ends without an exception.

    Writes go to a temp file beside *path* (readers see the old content meanwhile); it is
    fsynced, renamed over *path* and the directory fsynced. On an exception the temp file is
    removed and *path* left as it was. For writers that stream (a zip, a joblib dump); the file's
    ``name`` is the temp file's path.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        os.close(fd)
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace *path* with *data* so that readers see either the old or the new content."""
    with atomic_file(path, mode) as f:
        f.write(data)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Atomically write *obj* as indented JSON (state files are meant to be read by people too)."""
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_json(path: Path, default: Any) -> Any:
    """Read a JSON state file, or *default* when it does not exist yet."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return default
    except ValueError as e:
        raise ClaimwatchError(
            f"{path}: state file is not valid JSON ({e}); move it aside and claimwatch rebuilds it"
        ) from e
