"""``claimwatch service install|uninstall``: the user unit in place, enabled, started.

The unit is written with the absolute path of this installation's ``claimwatch`` (a venv, pipx or
a system install all differ) and, when one was given, the configuration file. systemctl is then
asked to reload, enable and start it; where it cannot be reached (no user manager in a container
or an ssh session without lingering), the exact commands are printed instead of failing silently.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from daemon.atomic import write_atomic
from daemon.config import load_config, xdg_dir
from daemon.errors import ClaimwatchError
from daemon.units import USER_UNIT, user_unit

SYSTEMCTL_TIMEOUT = 30


class ServiceError(ClaimwatchError):
    """The unit could not be installed or removed, or systemctl refused."""


def unit_path() -> Path:
    return xdg_dir("XDG_CONFIG_HOME", ".config") / "systemd" / "user" / USER_UNIT


def executable() -> Path:
    """This installation's claimwatch: beside the running interpreter (a venv, pipx), else on
    PATH."""
    beside = Path(sys.executable).with_name("claimwatch")
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside.absolute()
    found = shutil.which("claimwatch")
    if found is None:
        raise ServiceError(
            "cannot find the claimwatch command of this installation; install claimwatch "
            "(pip or pipx) and run 'claimwatch service install' from it"
        )
    return Path(found).absolute()


def install_commands() -> list[list[str]]:
    return [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", USER_UNIT],
    ]


def uninstall_commands() -> list[list[str]]:
    return [["systemctl", "--user", "disable", "--now", USER_UNIT]]


def render(config_path: Path | None) -> str:
    """The unit for this installation; the configuration must load (a unit that fails at once
    would only show up as a restart loop in the journal)."""
    config = load_config(config_path)
    explicit = config_path is not None or bool(os.environ.get("CLAIMWATCH_CONFIG"))
    return user_unit(str(executable()), config.path if explicit else None)


def install(config_path: Path | None) -> list[str]:
    """Write the unit and start it; returns what was done, line by line."""
    text = render(config_path)
    path = unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode(), mode=0o644)
    done = [f"wrote {path}"]
    return done + _systemctl(install_commands(), f"the unit is written to {path}")


def uninstall() -> list[str]:
    path = unit_path()
    done = []
    if path.exists():
        done += _systemctl(uninstall_commands(), "the unit stays until it is disabled", quiet=True)
        path.unlink()
        done.append(f"removed {path}")
        done += _systemctl([["systemctl", "--user", "daemon-reload"]], f"{path} is removed")
    else:
        done.append(f"no unit at {path}: nothing to remove")
    return done


def _systemctl(commands: list[list[str]], state: str, quiet: bool = False) -> list[str]:
    """Run *commands*; on the first failure raise with *state* and every command still to run."""
    done = []
    for index, command in enumerate(commands):
        shown = shlex.join(command)
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            result = None
            why = str(e)
        else:
            why = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["failed"]
            why = why[0]
        if result is not None and result.returncode == 0:
            done.append(f"ran {shown}")
            continue
        if quiet:
            done.append(f"{shown}: {why} (ignored)")
            continue
        rest = "; ".join(shlex.join(c) for c in commands[index:])
        raise ServiceError(f"{state}, but '{shown}' failed ({why}); run yourself: {rest}")
    return done
