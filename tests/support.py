"""Helpers shared by the tests: a config for a test mailbox, the claimwatch command, the spool."""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

CLAIMWATCH = [sys.executable, "-m", "daemon"]


def write_config(tmp: Path, server, user, extra: str = "", account_extra: str = "") -> Path:
    """A config for one loopback account of the test Dovecot; returns its path."""
    secret = tmp / "imap.pass"
    secret.write_text(user.password + "\n")
    secret.chmod(0o600)
    path = tmp / "config.toml"
    defaults = {"backoff_initial": "0.2", "backoff_max": "1.0", "socket_timeout": "10"}
    given = {line.split("=")[0].strip() for line in extra.splitlines() if "=" in line}
    quick = "".join(f"{k} = {v}\n" for k, v in defaults.items() if k not in given)
    path.write_text(
        f'data_dir = "{tmp / "data"}"\n'
        f"{quick}{extra}\n"
        "[[accounts]]\n"
        'name = "test"\nhost = "127.0.0.1"\n'
        f'port = {server.port}\nsecurity = "none"\n'
        f'username = "{user.name}"\npassword_file = "{secret}"\n'
        f"{account_extra}\n"
    )
    return path


def claimwatch(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run the real command line in a child process, the way a user or systemd does."""
    return subprocess.run(
        [*CLAIMWATCH, *args], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def spooled(data_dir: Path) -> list[Path]:
    """Every message file in the spool, processed or not."""
    spool = data_dir / "spool"
    if not (spool / "cur").is_dir():
        return []  # the daemon has not started yet
    return [spool / sub / n for sub in ("new", "cur") for n in os.listdir(spool / sub)]


def spooled_bytes(data_dir: Path) -> list[bytes]:
    return [p.read_bytes() for p in spooled(data_dir)]


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll *predicate* until it holds or *timeout* seconds pass (bounded, like every test loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def require(missing: str | None, what: str) -> None:
    """Skip a test whose real component (*what*) is missing, with the reason; under CI fail
    instead, so that CI can never go green by skipping the tests that need it."""
    if missing is None:
        return
    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"{missing}; CI is set, so {what} may not be skipped", pytrace=False)
    pytest.skip(missing)
