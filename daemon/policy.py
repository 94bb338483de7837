"""The deadline policy: how long a seller has when a notice does not say.

An A-to-z notice that states "respond by 24 November" needs no policy. One that does not still
has a deadline, and guessing late loses the claim, so ``config/deadlines.toml`` gives a window per
label and sender (Amazon Pay's A-to-z window is a week, the marketplace's 48 hours) that errs
early. The policy is applied when a message is filed, and its result travels with the message
(``policy_deadline``, ``policy``, ``ack_by``), so a case's deadline stays a pure function of its
timeline and a changed policy file applies to the mail that comes after it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from classifier.labels import LABELS
from daemon.config import duration
from daemon.errors import ConfigError

_ENTRY_KEYS = {"name", "label", "sender", "window"}
_TOP_KEYS = {"acknowledge", "policy"}


@dataclass(frozen=True)
class Window:
    """One entry of the policy: *label* mail from a sender matching *sender* has *window*."""

    name: str
    label: str
    window: timedelta
    sender: re.Pattern | None = None

    def matches(self, label: str, sender: str) -> bool:
        return label == self.label and (self.sender is None or bool(self.sender.search(sender)))


@dataclass(frozen=True)
class DeadlinePolicy:
    """The windows in file order (the first match wins) and the acknowledgement target."""

    windows: tuple[Window, ...]
    acknowledge: timedelta
    path: Path | None = None

    def window_for(self, label: str, sender: str) -> Window | None:
        sender = sender or ""
        return next((w for w in self.windows if w.matches(label, sender)), None)

    def apply(self, label: str, sender: str, anchor: datetime) -> dict:
        """The fields a message carries into its case: the policy deadline and its source,
        and for tier-1 mail the time by which the seller should have looked at it."""
        window = self.window_for(label, sender)
        anchor = anchor.astimezone(UTC)
        fields: dict = {"policy_deadline": None, "policy": None, "ack_by": None}
        if window is not None:
            fields["policy_deadline"] = _iso(anchor + window.window)
            fields["policy"] = window.name
        if label != "routine":
            fields["ack_by"] = _iso(anchor + self.acknowledge)
        return fields


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def load_policy(path: Path) -> DeadlinePolicy:
    """Read and check the whole file at start-up: a typo must not surface at the first claim."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the deadline policy ({e.strerror})") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: invalid TOML in the deadline policy: {e}") from e
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (known: acknowledge, [[policy]])")
    try:
        acknowledge = duration(raw.get("acknowledge", "1h"))
    except ValueError as e:
        raise ConfigError(f"{path}: acknowledge: {e}") from e
    entries = raw.get("policy", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: no [[policy]] entries; copy the shipped config/deadlines.toml")
    windows = tuple(_window(path, i, entry) for i, entry in enumerate(entries))
    names = [w.name for w in windows]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{path}: policy name {twice[0]!r} is used twice; names must be unique")
    return DeadlinePolicy(windows, acknowledge, path)


def _window(path: Path, index: int, entry: object) -> Window:
    where = f"{path}: policy[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a [[policy]] table")
    if "name" in entry:
        where += f" ({entry['name']})"
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        known = ", ".join(sorted(_ENTRY_KEYS))
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {known})")
    for key in ("name", "label", "window"):
        if key not in entry:
            raise ConfigError(f"{where}: missing required key {key!r}")
    name, label = entry["name"], entry["label"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name):
        raise ConfigError(f"{where}.name: expected 1 to 64 letters, digits, '.', '_' or '-'")
    if label not in LABELS:
        raise ConfigError(f"{where}.label: expected one of {', '.join(LABELS)}, got {label!r}")
    try:
        window = duration(entry["window"])
    except ValueError as e:
        raise ConfigError(f"{where}.window: {e}") from e
    sender = entry.get("sender")
    try:
        pattern = re.compile(sender, re.IGNORECASE) if sender is not None else None
    except (re.error, TypeError) as e:
        raise ConfigError(f"{where}.sender: not a regular expression: {e}") from e
    return Window(name, label, window, pattern)
