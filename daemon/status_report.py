"""``claimwatch status``: what the daemon last wrote about its health, merged with the config.

It reads files only, so it works while the daemon runs, after it died, and with the network down.
"""

import os
from pathlib import Path

import click

from daemon.atomic import read_json
from daemon.config import Config
from daemon.drop_folder import is_candidate
from daemon.state import now
from evidence_store.commands import list_cases, time_left_cell
from evidence_store.views import URGENCY_COLOURS, urgency, when


def gather_status(config: Config) -> dict:
    """The status report as plain data (the ``--json`` output)."""
    saved = read_json(config.data_dir / "state" / "status.json", {"accounts": {}})
    accounts = []
    for account in config.accounts:
        entry = saved["accounts"].get(account.name, {})
        accounts.append(
            {
                "name": account.name,
                "host": account.host,
                "folders": list(account.folders),
                "last_sync": entry.get("last_sync"),
                "spooled": entry.get("spooled", 0),
                "connected": entry.get("connected"),
                "last_error": entry.get("last_error"),
                "last_error_at": entry.get("last_error_at"),
            }
        )
    return {
        "config": str(config.path) if config.path else None,
        "data_dir": str(config.data_dir),
        "accounts": accounts,
        "queue": _queue(config.data_dir, config.drop_folder),
        "daemon": saved.get("daemon"),
        "model": saved.get("model"),
        "cases": _active_cases(config.data_dir / "cases"),
        "last_errors": _last_errors(accounts, config.data_dir / "quarantine"),
    }


def _last_errors(accounts: list[dict], quarantine: Path, keep: int = 5) -> list[dict]:
    """The latest problems, newest first: each account's last connection error and the last
    messages quarantined (with why), so an operator sees at once what needs a hand."""
    errors = [
        {"at": a["last_error_at"], "source": f"account {a['name']}", "error": a["last_error"]}
        for a in accounts
        if a["last_error"]
    ]
    notes = sorted(
        (n for n in _names(quarantine) if n.endswith(".json")),
        key=lambda n: _mtime(quarantine / n),
        reverse=True,
    )[:keep]
    for name in notes:
        note = read_json(quarantine / name, {})
        errors.append(
            {
                "at": note.get("at"),
                "source": f"quarantine/{name[:-5]}",
                "error": note.get("reason", "unknown"),
            }
        )
    errors.sort(key=lambda e: e["at"] or "", reverse=True)
    return errors[:keep]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _active_cases(cases_dir: Path) -> list[dict]:
    """The active cases, most urgent first, as one line each would show them."""
    keys = ("id", "label", "status", "deadline", "deadline_source", "updated_at")
    moment = now()
    return [
        {k: case.get(k) for k in keys}
        | {"time_left": time_left_cell(case, moment), "urgency": urgency(case, moment)}
        for case in list_cases(cases_dir, show_all=False)
    ]


def _queue(data_dir: Path, drop_folder: Path) -> dict:
    """Counted from the disk, not from the status file, so it is right even after a crash."""
    return {
        "pending": _entries(data_dir / "spool" / "new"),
        "processed": _entries(data_dir / "spool" / "cur"),
        "quarantined": sum(1 for n in _names(data_dir / "quarantine") if n.endswith(".json")),
        "drop_folder_waiting": sum(1 for n in _names(drop_folder) if is_candidate(Path(n))),
    }


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def _entries(folder: Path) -> int:
    return len(_names(folder))


def format_status(report: dict) -> str:
    """The report for a terminal: one block per account, then the queue."""
    lines = [f"data dir: {report['data_dir']}", f"config:   {report['config'] or '(none)'}"]
    if not report["accounts"]:
        lines.append("accounts: none configured (the drop folder still works)")
    for a in report["accounts"]:
        state = {True: "connected", False: "disconnected", None: "never synced"}[a["connected"]]
        lines.append(f"account {a['name']} ({a['host']}, {', '.join(a['folders'])}): {state}")
        lines.append(f"  last sync: {a['last_sync'] or 'never'}   spooled: {a['spooled']}")
        if a["last_error"]:
            lines.append(f"  last error ({a['last_error_at']}): {a['last_error']}")
    model = report.get("model")
    if model:
        lines.append(
            f"model: {model['mode']} ({model['version'] or 'no model'}, {model['rules']} rules)"
        )
        if model.get("error"):
            lines.append(f"  model error: {model['error']}")
    q = report["queue"]
    lines.append(
        f"queue: {q['pending']} pending, {q['processed']} processed, "
        f"{q['quarantined']} quarantined, {q['drop_folder_waiting']} waiting in the drop folder"
    )
    errors = report.get("last_errors", [])
    if errors:
        lines.append("last errors:")
        lines += [f"  {e['at']} {e['source']}: {e['error']}" for e in errors]
    cases = report.get("cases", [])
    lines.append(
        f"active cases: {len(cases)}" + (" (claimwatch cases lists them)" if cases else "")
    )
    for case in cases[:10]:
        deadline = f", deadline {when(case['deadline'])}" if case["deadline"] else ""
        left = case["time_left"]
        colour = URGENCY_COLOURS.get(case["urgency"] or "")
        left = click.style(left, fg=colour, bold=colour == "red" or None) if colour else left
        lines.append(f"  {case['id']}: {case['label']}, {case['status']}, {left}{deadline}")
    return "\n".join(lines)
