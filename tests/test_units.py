"""The systemd units: the committed files are the generated ones, systemd itself accepts them, and
``claimwatch service install|uninstall`` puts the user unit in place with this installation's
path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import claimwatch, require

from daemon.units import SHIPPED, SYSTEM_EXECUTABLE, USER_UNIT, shipped_units

CLAIMWATCH_BIN = Path(sys.executable).with_name("claimwatch")
HARDENING = (
    "Type=notify",
    "WatchdogSec=",
    "UMask=0077",
    "NoNewPrivileges=yes",
    "DynamicUser=yes",
    "ProtectSystem=strict",
    "PrivateTmp=yes",
    "LoadCredential=%i:",
)


def analyze() -> str:
    found = shutil.which("systemd-analyze")
    missing = None if found else "systemd-analyze is not installed (apt-get install systemd)"
    require(missing, "systemd unit checks")
    return str(found)


def user_env(tmp_path: Path) -> dict[str, str]:
    """A home and runtime directory of their own: systemd-analyze --user needs both, and %h in
    the unit is this home (where pipx would have put claimwatch)."""
    home, runtime = tmp_path / "home", tmp_path / "runtime"
    (home / ".local" / "bin").mkdir(parents=True)
    runtime.mkdir(mode=0o700)
    (home / ".local" / "bin" / "claimwatch").symlink_to(CLAIMWATCH_BIN)
    return dict(os.environ) | {
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(home / ".config"),
    }


def verify(*args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([analyze(), *args], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_committed_units_are_the_generated_ones():
    for name, text in shipped_units().items():
        assert (SHIPPED / name).read_text() == text, (
            "regenerate: .venv/bin/python -c 'from daemon.units import shipped_units, SHIPPED; "
            f"[(SHIPPED / n).write_text(t) for n, t in shipped_units().items()]' ({name})"
        )


def test_systemd_accepts_the_user_unit(tmp_path):
    verify("--user", "verify", str(SHIPPED / USER_UNIT), env=user_env(tmp_path))


def test_systemd_accepts_the_system_template(tmp_path):
    # an instance of the template, its ExecStart pointing at this installation's claimwatch
    # (systemd-analyze checks that the program exists; nothing is installed into /usr/local)
    text = (SHIPPED / "claimwatch@.service").read_text()
    assert text.count(SYSTEM_EXECUTABLE) == 1
    instance = tmp_path / "claimwatch@shop1.service"
    instance.write_text(text.replace(SYSTEM_EXECUTABLE, str(CLAIMWATCH_BIN)))
    verify("verify", str(instance))
    assert [h for h in HARDENING if h not in text] == []


def test_service_install_writes_a_unit_for_this_installation_and_uninstall_removes_it(tmp_path):
    env = user_env(tmp_path)
    config = tmp_path / "seller.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    done = claimwatch("service", "install", "--config", str(config), env=env)
    unit = Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user" / USER_UNIT
    assert unit.is_file(), done.stderr
    assert f"ExecStart={CLAIMWATCH_BIN} run --config {config}\n" in unit.read_text()
    assert unit.stat().st_mode & 0o777 == 0o644
    if done.returncode != 0:  # no user service manager here: the commands to run are named
        assert (
            "run yourself: systemctl --user daemon-reload; "
            "systemctl --user enable --now claimwatch.service"
        ) in done.stderr
    verify("--user", "verify", str(unit), env=env)

    printed = claimwatch("service", "install", "--print", "--config", str(config), env=env)
    assert printed.returncode == 0 and f"# {unit}\n" in printed.stdout
    assert "systemctl --user enable --now claimwatch.service" in printed.stdout

    removed = claimwatch("service", "uninstall", env=env)
    assert not unit.exists(), removed.stderr


def test_service_install_refuses_without_a_working_configuration(tmp_path):
    env = user_env(tmp_path)
    done = claimwatch("service", "install", "--config", str(tmp_path / "missing.toml"), env=env)
    assert done.returncode == 1 and "no such configuration file" in done.stderr
    assert not (Path(env["XDG_CONFIG_HOME"]) / "systemd").exists()


@pytest.mark.parametrize("value", ["/var/lib/claimwatch/shop1", "/var/lib/claimwatch/shop1:/x"])
def test_a_system_service_keeps_its_data_in_its_state_directory(monkeypatch, value):
    from daemon.config import default_config

    monkeypatch.setenv("STATE_DIRECTORY", value)
    assert default_config().data_dir == Path("/var/lib/claimwatch/shop1")
