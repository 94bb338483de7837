"""What ``claimwatch cases`` and ``claimwatch case ID ...`` do, apart from parsing arguments.

These commands run beside the daemon: they read ``case.json`` files (always complete, written
atomically) and write through the case folder's lock, so a note added while a reminder is being
filed is never lost. They need neither the message index nor the IMAP accounts.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import click

from daemon.errors import CaseError
from daemon.state import now_iso
from evidence_store.cases import load_cases, status_line, update_case
from evidence_store.export import export_case
from evidence_store.folder import README, CaseFolder
from evidence_store.views import (
    REASON_WORDS,
    STATUS_WORDS,
    URGENCY_COLOURS,
    amount_text,
    is_active,
    one_line,
    references,
    sort_cases,
    time_left,
    urgency,
)

COLUMNS = (("case", 34), ("status", 24), ("kind", 11), ("order", 20), ("amount", 12))
TIME_LEFT = 22


def list_cases(cases_dir: Path, show_all: bool) -> list[dict]:
    """Cases most urgent first; unless *show_all*, only the active ones, and not those filed from
    an old mailbox at the first sync (backfilled: their claims are long decided)."""
    cases = sort_cases(load_cases(cases_dir))
    return cases if show_all else [c for c in cases if is_active(c) and not c.get("backfilled")]


def format_cases(cases: list[dict], cases_dir: Path, show_all: bool, now: datetime) -> str:
    """The table ``claimwatch cases`` prints; the time left is coloured by urgency (click drops
    the colour when the output is not a terminal)."""
    if not cases:
        hint = "" if show_all else " (closed and backfilled ones: --all)"
        return f"no {'' if show_all else 'active '}cases{hint}; folders live in {cases_dir}"
    header = "".join(f"{name:{width}}" for name, width in COLUMNS)
    rows = [f"{header}{'time left':{TIME_LEFT}}evidence  reason"]
    for case in cases:
        refs = references(case)
        cells = (
            case["id"],
            STATUS_WORDS.get(case["status"], case["status"]),
            {"a_to_z": "A-to-z", "chargeback": "chargeback", "at_risk": "at risk"}.get(
                case["label"], case["label"]
            ),
            refs[0] if refs else "-",
            amount_text(case.get("amount")) if case.get("amount") else "-",
        )
        line = "".join(f"{_cut(c, w - 1):{w}}" for c, (_, w) in zip(cells, COLUMNS, strict=True))
        checklist = case.get("checklist", [])
        have = sum(1 for item in checklist if item.get("present"))
        reason = REASON_WORDS.get(case.get("claim_reason") or "", "-")
        left = f"{time_left_cell(case, now):{TIME_LEFT}}"
        colour = URGENCY_COLOURS.get(urgency(case, now) or "")
        left = click.style(left, fg=colour, bold=colour == "red" or None) if colour else left
        rows.append(f"{line}{left}{f'{have}/{len(checklist)}':10}{reason}")
    rows.append(f"\n{len(cases)} case(s); folders and index.html in {cases_dir}")
    return "\n".join(rows)


def time_left_cell(case: dict, now: datetime) -> str:
    """The time left while the seller has to act; otherwise what the case is waiting for."""
    if case.get("status") != "open":
        return "-"
    if not case.get("deadline"):
        return "no deadline"
    return time_left(case["deadline"], now)


def show_case(folder: CaseFolder) -> str:
    """``claimwatch case ID``: the case's README, which says everything a seller needs."""
    folder.read_case()  # a clear error when the case is damaged
    try:
        return (folder.path / README).read_text()
    except FileNotFoundError as e:
        raise CaseError(f"{folder.path / README}: missing; 'claimwatch run' rebuilds it") from e


def add_note(folder: CaseFolder, text: str) -> dict:
    text = text.strip()
    if not text:
        raise CaseError("an empty note: write what happened, e.g. 'called UPS, photo requested'")
    return update_case(folder, {"kind": "note", "at": now_iso(), "text": text})


def set_status(folder: CaseFolder, status: str) -> dict:
    return update_case(folder, status_line(folder, status))


def export(folder: CaseFolder, out: Path | None) -> Path:
    """Write the evidence pack (under the folder's lock: a consistent snapshot), then record it."""
    with folder.locked():
        path = export_case(folder.path, out)
    update_case(folder, {"kind": "export", "at": now_iso(), "file": str(path)})
    return path


def open_folder(folder: CaseFolder, command: str = "xdg-open") -> None:
    """Open the case folder in the desktop's file manager, and record that the seller looked
    (which meets the case's acknowledgement target)."""
    open_path(command, folder.path)
    record_viewed(folder.path, via="cli")


def open_path(command: str, path: Path) -> None:
    """Run *command* (``open_command``: xdg-open by default) with *path* as its last argument."""
    argv = shlex.split(command)
    if not argv or shutil.which(argv[0]) is None:
        hint = " (package xdg-utils)" if argv[:1] == ["xdg-open"] else ""
        name = argv[0] if argv else "open_command (empty)"
        raise CaseError(
            f"{name} not found{hint}; install it or set open_command; the path is {path}"
        )
    try:
        subprocess.run([*argv, str(path)], check=True, timeout=30, stdin=subprocess.DEVNULL)
    except (subprocess.SubprocessError, OSError) as e:
        raise CaseError(f"{argv[0]} could not open {path}: {e}") from e


def record_viewed(path: Path, via: str) -> dict:
    return update_case(CaseFolder(path), {"kind": "viewed", "at": now_iso(), "via": via})


def _cut(value: str, width: int) -> str:
    value = one_line(value, 200)
    return value if len(value) <= width else value[: width - 1] + "…"
