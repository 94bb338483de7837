"""What ``claimwatch cases`` and ``claimwatch case ID ...`` do, apart from parsing arguments.

These commands run beside the daemon: they read ``case.json`` files (always complete, written
atomically) and write through the case folder's lock, so a note added while a reminder is being
filed is never lost. They need neither the message index nor the IMAP accounts.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from daemon.errors import CaseError
from daemon.state import now_iso
from evidence_store.cases import load_cases, status_line, update_case
from evidence_store.export import export_case
from evidence_store.folder import README, CaseFolder
from evidence_store.views import (
    REASON_WORDS,
    STATUS_WORDS,
    amount_text,
    is_active,
    one_line,
    references,
    sort_cases,
)

COLUMNS = (("case", 34), ("status", 24), ("kind", 11), ("order", 20), ("amount", 12))


def list_cases(cases_dir: Path, show_all: bool) -> list[dict]:
    """Cases most urgent first; only the active ones unless *show_all*."""
    cases = sort_cases(load_cases(cases_dir))
    return cases if show_all else [c for c in cases if is_active(c)]


def format_cases(cases: list[dict], cases_dir: Path, show_all: bool) -> str:
    """The table ``claimwatch cases`` prints."""
    if not cases:
        hint = "" if show_all else " (closed ones: --all)"
        return f"no {'' if show_all else 'active '}cases{hint}; folders live in {cases_dir}"
    header = "".join(f"{name:{width}}" for name, width in COLUMNS) + "evidence  reason"
    rows = [header]
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
        rows.append(f"{line}{f'{have}/{len(checklist)}':10}{reason}")
    rows.append(f"\n{len(cases)} case(s); folders and index.html in {cases_dir}")
    return "\n".join(rows)


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


def open_folder(folder: CaseFolder) -> None:
    """Open the case folder in the desktop's file manager."""
    opener = shutil.which("xdg-open")
    if opener is None:
        raise CaseError(f"xdg-open not found (package xdg-utils); the folder is {folder.path}")
    try:
        subprocess.run([opener, str(folder.path)], check=True, timeout=30)
    except (subprocess.SubprocessError, OSError) as e:
        raise CaseError(f"xdg-open could not open {folder.path}: {e}") from e


def _cut(value: str, width: int) -> str:
    value = one_line(value, 200)
    return value if len(value) <= width else value[: width - 1] + "…"
