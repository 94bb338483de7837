"""Account passwords and OAuth2 tokens, fetched from their source each time one is needed.

A secret is never kept in the configuration, never cached and never logged: it is read at the moment
of logging in, so a rotated password or a fresh OAuth2 token is picked up without a restart, and a
secret that is not in memory cannot leak through a traceback or a ``repr``.

Sources, in order: ``password_command``, ``password_file``, ``password_env`` (the loader allows at
most one), then the systemd credential ``$CREDENTIALS_DIRECTORY/<account name>``
(``LoadCredential=``).

(Within the package this module is ``daemon.secrets``; it does not shadow the standard library's
``secrets`` for code importing it by its absolute name.)
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.errors import SecretError

if TYPE_CHECKING:
    from daemon.config import Account

COMMAND_TIMEOUT = 30.0
"""Seconds a ``password_command`` may take; a helper waiting on a prompt nobody sees must not hang
the daemon forever."""


def read_secret(account: Account, *, timeout: float = COMMAND_TIMEOUT) -> str:
    """Return the account's password (or, with ``auth = "xoauth2"``, its access token).

    Called at each login rather than once at start-up so that rotated secrets and short-lived
    tokens work. Raises :class:`SecretError` saying which source failed and how to fix it; the
    message never contains the secret nor the output of ``password_command``.
    """
    if account.password_command is not None:
        return _from_command(account.name, account.password_command, timeout)
    if account.password_file is not None:
        return _from_file(account.name, account.password_file)
    if account.password_env is not None:
        return _from_env(account.name, account.password_env)
    return _from_credentials(account.name)


def check_private_file(path: Path) -> None:
    """Raise ValueError unless *path* is a regular file that only its owner may read or write.

    Shared by the loader (so a bad mode stops the daemon at start-up) and by :func:`read_secret`
    (so a file whose mode changed since then is still refused).
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist") from None
    except OSError as e:
        raise ValueError(f"{path} cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file")
    if mode & 0o077:
        raise ValueError(
            f"{path} is {_exposure(mode)} by group/others (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {shlex.quote(str(path))}"
        )


def _exposure(mode: int) -> str:
    """Say how group/others can reach the file, so the message matches what ``ls -l`` shows."""
    kinds = [
        word
        for bits, word in ((0o044, "readable"), (0o022, "writable"), (0o011, "executable"))
        if mode & bits
    ]
    return " and ".join(kinds)


def _from_file(name: str, path: Path) -> str:
    try:
        check_private_file(path)
    except ValueError as e:
        raise SecretError(f"account {name!r}: password_file {e}") from None
    return _read_text(name, f"password_file {path}", path)


def _from_credentials(name: str) -> str:
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise _no_source(name, "$CREDENTIALS_DIRECTORY is not set")
    path = Path(directory) / name
    if not path.is_file():
        raise _no_source(name, f"there is no credential file {path}")
    return _read_text(name, f"systemd credential {path}", path)


def _no_source(name: str, why: str) -> SecretError:
    return SecretError(
        f"account {name!r}: no password source ({why}); set password_command, password_file or "
        f"password_env in its [[accounts]] entry, or give the service a systemd credential named "
        f"{name!r} (LoadCredential={name}:/path/to/secret)"
    )


def _read_text(name: str, source: str, path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SecretError(f"account {name!r}: cannot read {source} ({e.strerror})") from None
    return _secret_from_bytes(name, source, data)


def _from_env(name: str, variable: str) -> str:
    value = os.environ.get(variable)
    if value is None:
        raise SecretError(f"account {name!r}: password_env variable {variable!r} is not set")
    if not value:
        raise SecretError(f"account {name!r}: password_env variable {variable!r} is empty")
    return value


def _from_command(name: str, command: str, timeout: float) -> str:
    # A process group of its own, so a timeout kills the whole pipeline, not just the shell.
    try:
        with subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
        ) as proc:
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise SecretError(
                    f"account {name!r}: password_command did not finish within {timeout:g} s "
                    "(is it waiting for input?)"
                ) from None
    except OSError as e:
        raise SecretError(f"account {name!r}: cannot run password_command ({e})") from None
    if proc.returncode != 0:
        raise SecretError(
            f"account {name!r}: password_command {_exit_text(proc.returncode)}: {_last_line(err)}"
        )
    return _secret_from_bytes(name, "password_command output", out)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _last_line(stderr: bytes) -> str:
    """The command's own explanation is usually its last line of stderr (``gpg: ...``)."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no error output)"


def _secret_from_bytes(name: str, source: str, data: bytes) -> str:
    """Decode a secret, dropping the one trailing newline that ``echo`` and editors add."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise SecretError(f"account {name!r}: {source} is not valid UTF-8") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise SecretError(f"account {name!r}: {source} is empty")
    return text
