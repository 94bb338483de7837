"""The command line as users meet it: errors in one line, status, the demo."""

import json
import os
import subprocess
import time
from pathlib import Path

from tests import mailgen
from tests.dbus_session import require_dbus, session_bus
from tests.support import claimwatch, write_config


def test_a_config_error_is_one_line_naming_file_and_key(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('data_dir = "/tmp/x"\npoll_intervall = 5\n')
    result = claimwatch("run", "--once", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.startswith(f"claimwatch: error: {config}: unknown key 'poll_intervall'")
    assert "Traceback" not in result.stderr


def test_status_reports_last_sync_spooled_count_and_last_error(imap_user, tmp_path):
    server, user = imap_user.server, imap_user.name
    server.append(user, "INBOX", mailgen.generate(4, seed=30))
    config = write_config(tmp_path, server, imap_user)
    assert claimwatch("run", "--once", "--config", str(config)).returncode == 0
    report = json.loads(claimwatch("status", "--json", "--config", str(config)).stdout)
    (account,) = report["accounts"]
    assert account["name"] == "test" and account["spooled"] == 4
    assert account["last_sync"] and account["last_error"] is None
    assert report["queue"]["processed"] == 4 and report["queue"]["pending"] == 0

    wrong = tmp_path / "imap.pass"
    wrong.write_text("not-the-password\n")
    failed = claimwatch("run", "--once", "--config", str(config))
    assert failed.returncode == 1
    assert "not-the-password" not in failed.stderr
    report = json.loads(claimwatch("status", "--json", "--config", str(config)).stdout)
    assert (
        "AUTHENTICATIONFAILED" in report["accounts"][0]["last_error"]
        or "uthentication" in (report["accounts"][0]["last_error"])
    )
    [error] = report["last_errors"]
    assert error["source"] == "account test" and error["error"] == account_error(report)
    text = claimwatch("status", "--config", str(config)).stdout
    assert "account test" in text and "last error" in text and "spooled: 4" in text

    (tmp_path / "data" / "inbox" / "empty.eml").write_bytes(b"")  # quarantined: no message
    wrong.write_text(imap_user.password + "\n")
    assert claimwatch("run", "--once", "--config", str(config)).returncode == 0
    report = json.loads(claimwatch("status", "--json", "--config", str(config)).stdout)
    sources = [e["source"].split("/")[0] for e in report["last_errors"]]
    assert sorted(sources) == ["account test", "quarantine"]
    assert any("empty message" in e["error"] for e in report["last_errors"])


def account_error(report: dict) -> str:
    return report["accounts"][0]["last_error"]


def test_status_works_before_any_run(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'data_dir = "{tmp_path / "never"}"\n')
    result = claimwatch("status", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "none configured" in result.stdout and "0 pending" in result.stdout


def test_demo_runs_on_the_bundled_samples_without_any_config(tmp_path):
    env_home = tmp_path / "home"
    env_home.mkdir()
    env = {**os.environ, "HOME": str(env_home), "XDG_CONFIG_HOME": str(env_home / "c")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # no desktop: the demo prints its alerts
    env["XDG_RUNTIME_DIR"] = str(env_home)
    started = time.monotonic()
    result = claimwatch("demo", "--data-dir", str(tmp_path / "demo"), env=env)
    assert time.monotonic() - started < 60  # the README promises the flow in minutes
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "03-a-to-z-claim-fr.eml" in out and "405-1234567-1234567" in out
    assert any(line.startswith("a_to_z") and "03-a-to-z" in line for line in out.splitlines())
    assert "Réclamation au titre de la garantie A à Z" in out
    assert "quarantined 09-broken-empty.eml: cannot parse: empty message" in out
    assert "9 sample messages served by an IMAP server on 127.0.0.1:" in out
    assert len(list((tmp_path / "demo" / "spool" / "cur").iterdir())) == 9  # synced over IMAP
    assert "clock: 2026-11-21 09:00 UTC" in out  # the same story on any day
    cases = tmp_path / "demo" / "cases"
    assert (cases / "order-405-1234567-1234567" / "case.json").exists()
    assert (cases / "index.html").exists()
    claim_row = next(line for line in out.splitlines() if line.startswith("order-405-1234567"))
    assert "open" in claim_row and "A-to-z" in claim_row and "89.90 EUR" in claim_row
    assert "2d 5h left" in claim_row  # "within 3 calendar days" of its Date, seen next morning
    assert not (cases / "order-171-4455667-8899001").exists()  # the shipping notice is routine
    alerts = out[out.index("\nalerts:") :].splitlines()[1:]
    assert "  A-to-z claim · 2d 5h left  [printed here (no desktop session bus)]" in alerts
    assert len([a for a in alerts if "·" in a]) == 5  # one per tier-1 case


def test_the_demo_shows_its_alerts_on_a_desktop_when_there_is_one(tmp_path):
    require_dbus()
    with session_bus(tmp_path) as bus:
        result = claimwatch("demo", "--data-dir", str(tmp_path / "demo"), env=bus.env)
        assert result.returncode == 0, result.stderr
        [summary] = bus.wait_for_notifications(1, 20)
    # five tier-1 cases at once: one summary, not five popups
    assert summary["summary"].startswith("5 cases need attention: ")
    assert summary["hints"]["urgency"] == 2
    assert "[on your desktop]" in result.stdout


def test_the_readmes_first_command_works_from_a_fresh_clone_within_2_minutes(tmp_path):
    """What a newcomer types first: a clone, 'tests/setup && .venv/bin/claimwatch demo'. The
    clone takes what is committed, so a file missing from git fails here, not on their machine."""
    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    command = next(line for line in readme.splitlines() if "claimwatch demo" in line)
    command = command.split("#")[0].strip()
    assert command == "tests/setup && .venv/bin/claimwatch demo"
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["XDG_RUNTIME_DIR"] = str(tmp_path)
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=300
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert "A-to-z claim · 2d 5h left" in done.stdout
    assert took < 120, f"the README's first command took {took:.0f} s"
