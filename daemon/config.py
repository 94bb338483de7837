"""The configuration: one schema table from which validation and the example file both come.

Each key is declared once in :data:`GLOBAL_OPTIONS` or :data:`ACCOUNT_OPTIONS` with its parser,
default and help, so the documented example (:func:`example_config`) cannot drift from what the
loader accepts. Parsers are tiny functions raising :class:`ValueError`; the loader adds the file and
the key, so every :class:`ConfigError` reads like ``/path/config.toml: accounts[0] (amazon-fr).port:
expected an integer, got 'abc' (str)``.

Secrets are not configuration values: :func:`read_secret` lives in :mod:`daemon.secrets` and is
re-exported here.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import textwrap
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from daemon.errors import ConfigError
from daemon.secrets import check_private_file
from daemon.secrets import read_secret as read_secret

IDLE_LIMIT = 1740
"""RFC 2177 lets a server end an IDLE after 29 minutes, so a refresh must come sooner."""

SECRET_KEYS = ("password_command", "password_file", "password_env")


@dataclass(frozen=True)
class Account:
    """One IMAP mailbox to sync; its secret is deliberately absent (see :func:`read_secret`)."""

    name: str
    host: str
    port: int
    security: str
    username: str
    auth: str
    password_file: Path | None
    password_command: str | None
    password_env: str | None
    folders: tuple[str, ...]
    ca_file: Path | None
    idle: bool
    poll_interval: float


@dataclass(frozen=True)
class Config:
    """The validated configuration; ``path`` is None when no file exists and defaults apply."""

    path: Path | None
    data_dir: Path
    drop_folder: Path
    poll_interval: float
    idle: bool
    idle_refresh: float
    socket_timeout: float
    backoff_initial: float
    backoff_max: float
    fetch_batch: int
    fetch_batch_bytes: int
    log_level: str
    rules_file: Path
    review_threshold: float
    attachment_max_bytes: int
    deadlines_file: Path
    reminders: tuple[str | timedelta, ...]
    quiet_hours: tuple[time, time] | None
    backfill_age: timedelta
    desktop_notifications: bool
    notify_command: str | None
    burst: int
    routine_digest: time | None
    open_command: str
    accounts: tuple[Account, ...]


# Parsers: a raw TOML value in, a Python value or a ValueError saying what is accepted out.


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_error(expected: str, value: object) -> ValueError:
    return ValueError(f"expected {expected}, got {_show(value)} ({type(value).__name__})")


def _integer(low: int, high: int | None = None) -> Callable[[object], int]:
    wanted = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"

    def parse(value: object) -> int:
        # TOML's true is a Python int subclass; a bool where a number belongs is a mistake.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error("an integer", value)
        if value < low or (high is not None and value > high):
            raise ValueError(f"expected {wanted}, got {value}")
        return value

    return parse


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error("a number of seconds", value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"expected a number of seconds > 0, got {value!r}")
    return float(value)


def _fraction(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error("a number between 0 and 1", value)
    if not 0 < value < 1:
        raise ValueError(f"expected a number between 0 and 1 (exclusive), got {value!r}")
    return float(value)


def _idle_refresh(value: object) -> float:
    seconds = _seconds(value)
    if seconds >= IDLE_LIMIT:
        raise ValueError(
            f"expected a number of seconds > 0 and < {IDLE_LIMIT} (RFC 2177 lets a server end "
            f"an IDLE after 29 minutes), got {value!r}"
        )
    return seconds


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _type_error("true or false", value)
    return value


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _type_error("a non-empty string", value)
    return value


def _choice(*choices: str) -> Callable[[object], str]:
    wanted = "one of " + ", ".join(choices)

    def parse(value: object) -> str:
        if not isinstance(value, str):
            raise _type_error(wanted, value)
        if value not in choices:
            raise ValueError(f"expected {wanted}, got {value!r}")
        return value

    return parse


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def duration(value: object) -> timedelta:
    """A span written the way people write it: "48h", "7d", "90m", "1h30m", or seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _type_error('a duration such as "48h", "7d" or "1h30m"', value)
    if isinstance(value, str):
        text = value.strip()
        if not text or not re.fullmatch(r"(?:\d+(?:\.\d+)?\s*[dhms]\s*)+", text, re.I):
            raise ValueError(
                f'expected a duration such as "48h", "7d" or "1h30m" (d, h, m, s), got {value!r}'
            )
        seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in _DURATION_PART.findall(text))
    else:
        seconds = float(value)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"expected a duration > 0, got {value!r}")
    return timedelta(seconds=seconds)


def duration_text(span: timedelta) -> str:
    """ "48h", "7d", "1h30m": a duration as the configuration writes it."""
    seconds = int(span.total_seconds())
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _time_of_day(value: object) -> time:
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        hours, minutes = (int(part) for part in value.strip().split(":"))
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    raise _type_error('a time of day "HH:MM" (24-hour clock), e.g. "18:00"', value)


def _quiet_hours(value: object) -> tuple[time, time] | None:
    if value in ("", "off"):
        return None
    if not (isinstance(value, str) and value.count("-") == 1):
        raise _type_error('"HH:MM-HH:MM" (e.g. "22:00-07:00"), or "off"', value)
    start, end = (_time_of_day(part) for part in value.split("-"))
    if start == end:
        raise ValueError(f"quiet hours that start and end at the same time: {value!r}")
    return start, end


def _reminders(value: object) -> tuple[str | timedelta, ...]:
    """ "arrival", "overdue" and durations before the deadline, most distant first."""
    if not isinstance(value, list):
        raise _type_error('a list such as ["arrival", "24h", "6h", "1h", "overdue"]', value)
    marks: list[str | timedelta] = []
    for item in value:
        marks.append(item if item in ("arrival", "overdue") else duration(item))
    if len(set(marks)) != len(marks):
        raise ValueError(f"a reminder is listed twice in {value!r}")
    spans = sorted((m for m in marks if isinstance(m, timedelta)), reverse=True)
    words = [m for m in ("arrival", "overdue") if m in marks]
    return (*[w for w in words if w == "arrival"], *spans, *[w for w in words if w == "overdue"])


def _path(value: object) -> Path:
    return Path(_text(value)).expanduser()


_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _valid_name(value: object) -> bool:
    # "." and ".." match the pattern but would escape the directory they are joined to.
    return isinstance(value, str) and bool(_NAME.fullmatch(value)) and value not in (".", "..")


def _name(value: object) -> str:
    if not _valid_name(value):
        raise _type_error("1 to 64 letters, digits, '.', '_' or '-' (not '.' or '..')", value)
    return str(value)


def _env_name(value: object) -> str:
    if not (isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)):
        raise _type_error("an environment variable name (letters, digits, '_')", value)
    return value


def _folders(value: object) -> tuple[str, ...]:
    names_ok = isinstance(value, list) and all(isinstance(f, str) and f.strip() for f in value)
    if not (names_ok and value):
        raise _type_error('a non-empty list of folder names, e.g. ["INBOX"]', value)
    duplicates = sorted({f for f in value if value.count(f) > 1})
    if duplicates:
        raise ValueError(f"folder {duplicates[0]!r} is listed twice")
    return tuple(value)


def _readable_file(path: Path) -> None:
    if not path.is_file():
        raise ValueError(f"{path} does not exist or is not a file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{path} is not readable")


# Rules across keys, checked once every key of a table is parsed.


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _clear_text_only_to_loopback(account: Mapping[str, Any]) -> None:
    if account["security"] == "none" and not _is_loopback(account["host"]):
        raise ValueError(
            "'none' sends the password in clear text and is only allowed to a loopback host, "
            f"not {account['host']!r}; use 'tls' or 'starttls'"
        )


def _xoauth2_needs_command(account: Mapping[str, Any]) -> None:
    if account["auth"] == "xoauth2" and account["password_command"] is None:
        raise ValueError(
            "'xoauth2' requires password_command: a helper that prints a fresh OAuth2 access token"
        )


def _one_secret_source(account: Mapping[str, Any]) -> None:
    given = [key for key in SECRET_KEYS if account[key] is not None]
    if len(given) > 1:
        raise ValueError(f"set at most one of {', '.join(SECRET_KEYS)}, got {' and '.join(given)}")


def _backoff_ordered(config: Mapping[str, Any]) -> None:
    if config["backoff_max"] < config["backoff_initial"]:
        raise ValueError(
            f"expected a number >= backoff_initial ({config['backoff_initial']:g}), "
            f"got {config['backoff_max']:g}"
        )


# The schema.

REQUIRED: Any = object()


@dataclass(frozen=True)
class Option:
    """One key: how to parse it, its default, and what the example file says about it."""

    parse: Callable[[Any], Any]
    help: str
    # A value, REQUIRED, or a function of (this table's values so far, the enclosing table's).
    default: Any = REQUIRED
    shown_default: str | None = None  # the example file's wording of a computed default
    example: Any = None  # the value the example file shows when the default is none or computed
    set_in_example: bool = False  # uncommented in the example file (required keys always are)
    check: Callable[[Any], None] | None = None  # run on the value once its path is resolved


SHIPPED_RULES = Path(__file__).resolve().parents[1] / "config" / "rules.toml"
SHIPPED_DEADLINES = SHIPPED_RULES.with_name("deadlines.toml")


def xdg_dir(variable: str, fallback: str) -> Path:
    # The XDG spec says a relative value is invalid and must be ignored.
    value = os.environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else Path.home() / fallback


def _default_data_dir() -> Path:
    """systemd's StateDirectory= (the system template's /var/lib/claimwatch/<instance>) when
    claimwatch runs as a system service, else the user's XDG data directory."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if os.path.isabs(state):
        return Path(state)
    return xdg_dir("XDG_DATA_HOME", ".local/share") / "claimwatch"


GLOBAL_OPTIONS: dict[str, Option] = {
    "data_dir": Option(
        _path,
        "Where claimwatch keeps what it stores: the spool of raw mail, cases, the index, state and "
        'your own trained models. "~" is expanded; a relative path is taken from the directory of '
        "this file.",
        default=lambda top, _: _default_data_dir(),
        shown_default=(
            "$STATE_DIRECTORY under a systemd system service, else $XDG_DATA_HOME/claimwatch, or "
            "~/.local/share/claimwatch"
        ),
        example="~/.local/share/claimwatch",
    ),
    "drop_folder": Option(
        _path,
        "*.eml files put here are ingested with no mail server at all, then moved to its done/ "
        "sub-folder.",
        default=lambda top, _: top["data_dir"] / "inbox",
        shown_default='data_dir + "/inbox"',
        example="~/.local/share/claimwatch/inbox",
    ),
    "poll_interval": Option(
        _seconds,
        "Seconds between two checks of a mailbox when IDLE is off or the server does not offer it.",
        default=60.0,
    ),
    "idle": Option(
        _boolean,
        "Wait for new mail with IMAP IDLE when the server offers it, so that a claim shows up "
        "within seconds instead of at the next poll.",
        default=True,
    ),
    "idle_refresh": Option(
        _idle_refresh,
        "Seconds after which an IDLE is ended and issued again. Servers drop quiet connections "
        "(Gmail after about 10 minutes) and RFC 2177 lets them end an IDLE after 29 minutes, so it "
        f"must be below {IDLE_LIMIT}.",
        default=540.0,
    ),
    "socket_timeout": Option(
        _seconds,
        "Seconds without an answer after which a connection is taken as dead and reopened.",
        default=60.0,
    ),
    "backoff_initial": Option(
        _seconds,
        "Seconds to wait before reconnecting after a failure; the wait doubles with each failure "
        "in a row.",
        default=1.0,
    ),
    "backoff_max": Option(
        _seconds,
        "The longest wait between reconnection attempts, in seconds (at least backoff_initial). "
        "An outage is a normal state: claimwatch keeps retrying and keeps alerting meanwhile.",
        default=300.0,
    ),
    "fetch_batch": Option(
        _integer(1, 5000),
        "Messages fetched per UID FETCH command while catching up, from 1 to 5000.",
        default=200,
    ),
    "fetch_batch_bytes": Option(
        _integer(1),
        "Soft cap on the bytes fetched per UID FETCH command, so that a backlog of large "
        "attachments does not fill memory.",
        default=32 * 1024 * 1024,
        shown_default="33_554_432 (32 MiB)",
    ),
    "log_level": Option(
        _choice("debug", "info", "warning", "error"),
        "How much to log: debug, info, warning or error.",
        default="info",
    ),
    "rules_file": Option(
        _path,
        "The triage rules: named patterns on sender, subject and headers that force or veto a "
        "label (the safety net for known notification senders). Copy the shipped file to change "
        "it.",
        default=lambda top, _: SHIPPED_RULES,
        shown_default="config/rules.toml shipped with claimwatch",
        example="~/.config/claimwatch/rules.toml",
        check=_readable_file,
    ),
    "review_threshold": Option(
        _fraction,
        "A message the model keeps as routine is flagged needs_review when its tier-1 "
        "probability reaches this value, so that a doubtful claim is never silently routine.",
        default=0.15,
    ),
    "attachment_max_bytes": Option(
        _integer(1),
        "Largest attachment copied into a case folder's attachments/, in bytes. A larger one "
        "is listed in case.json as skipped and stays inside the original message in messages/.",
        default=25 * 1024 * 1024,
        shown_default="26_214_400 (25 MiB)",
    ),
    "deadlines_file": Option(
        _path,
        "The deadline policy: the response window per label and sender when a notice states no "
        "deadline of its own (A-to-z 48 h, Amazon Pay A-to-z 7 days, chargebacks 7 days, Amazon "
        "Pay chargebacks 11 days, buyers at risk 24 h), and the acknowledgement target of a new "
        "case. A deadline the notice states always wins. Copy the shipped file to change it.",
        default=lambda top, _: SHIPPED_DEADLINES,
        shown_default="config/deadlines.toml shipped with claimwatch",
        example="~/.config/claimwatch/deadlines.toml",
        check=_readable_file,
    ),
    "reminders": Option(
        _reminders,
        'When an open case raises an alert: "arrival" (a new claim, chargeback or buyer at '
        'risk), spans before its deadline ("24h", "6h", "1h"), and "overdue". Each fires once '
        "per case, across restarts; those that fell due while claimwatch was not running fire "
        "once, together, when it starts. A case marked responded or closed raises none.",
        default=("arrival", timedelta(hours=24), timedelta(hours=6), timedelta(hours=1), "overdue"),
        shown_default='["arrival", "24h", "6h", "1h", "overdue"]',
        example=["arrival", "24h", "6h", "1h", "overdue"],
    ),
    "quiet_hours": Option(
        _quiet_hours,
        'Local hours without alerts, "HH:MM-HH:MM" (may span midnight), or "off". Alerts that '
        "fall due meanwhile fire together when the quiet hours end; an overdue claim, chargeback "
        "or buyer at risk is never held back.",
        default=None,
        shown_default='"off"',
        example="22:00-07:00",
    ),
    "backfill_age": Option(
        duration,
        "At an account's first sync, messages older than this are filed (index, cases, "
        "evidence) but raise no alert, and their cases are marked backfilled (listed by "
        "'claimwatch cases --all' only): nobody wants a popup for last year's claims.",
        default=timedelta(days=14),
        shown_default='"14d"',
        example="14d",
    ),
    "desktop_notifications": Option(
        _boolean,
        "Raise alerts as desktop notifications over the session's D-Bus (freedesktop "
        "Notifications). When none can be shown (no session bus, as on a server), alerts go to "
        "notify_command; the log records every alert in any case.",
        default=True,
    ),
    "notify_command": Option(
        _text,
        "A command run with /bin/sh -c for each alert that no desktop notification delivered; it "
        "reads the alert as one JSON object on stdin (a hook for ntfy, mail or chat). It must "
        "finish within 30 seconds.",
        default=None,
        example="curl -s -H 'Priority: urgent' -d @- https://ntfy.example.com/claims",
    ),
    "burst": Option(
        _integer(1),
        "More alerts than this at once (40 claims after an outage) become one summary "
        "notification, updated in place, instead of one popup each.",
        default=3,
    ),
    "routine_digest": Option(
        _time_of_day,
        'Routine mail raises no alert; set a local time ("18:00") to get one low-urgency '
        "notification a day counting it.",
        default=None,
        example="18:00",
    ),
    "open_command": Option(
        _text,
        "The program that opens a case folder, for 'claimwatch case ID open' and a "
        "notification's Open case button; it gets the folder's path as its last argument.",
        default="xdg-open",
    ),
}


def _override(key: str, parse: Callable[[Any], Any], example: Any) -> Option:
    """An account key that defaults to the global key of the same name."""
    return Option(
        parse,
        f"Overrides the global {key} for this account.",
        default=lambda _, top: top[key],
        shown_default=f"the global {key}",
        example=example,
    )


ACCOUNT_OPTIONS: dict[str, Option] = {
    "name": Option(
        _name,
        "Names the account in logs, status and file names, and is the name of its systemd "
        "credential: 1 to 64 letters, digits, '.', '_' or '-', unique among the accounts.",
        example="amazon-fr",
    ),
    "host": Option(_text, "The IMAP server.", example="imap.example.com"),
    "security": Option(
        _choice("tls", "starttls", "none"),
        "tls: TLS from the first byte (port 993); starttls: a plain connection upgraded with "
        "STARTTLS (port 143), refused if the server does not offer it; none: no encryption, only "
        "allowed to a loopback host such as a local Dovecot or a mail bridge.",
        default="tls",
    ),
    "port": Option(
        _integer(1, 65535),
        "The server's port.",
        default=lambda account, _: 993 if account["security"] == "tls" else 143,
        shown_default='993 with security = "tls", else 143',
        example=993,
    ),
    "username": Option(_text, "The login name.", example="seller@example.com"),
    "auth": Option(
        _choice("login", "xoauth2"),
        "login: a password; xoauth2: an OAuth2 access token, which requires password_command to "
        "be a helper that prints a fresh token each time it runs.",
        default="login",
    ),
    "password_file": Option(
        _path,
        "A file holding the password (one trailing newline is ignored), readable by its owner "
        "only (chmod 600). Set at most one of password_command, password_file and password_env; "
        "with none of them, the systemd credential named after the account is read "
        "($CREDENTIALS_DIRECTORY/<name>, see LoadCredential= in systemd.exec(5)).",
        default=None,
        example="~/.config/claimwatch/amazon-fr.pass",
        set_in_example=True,
        check=check_private_file,
    ),
    "password_command": Option(
        _text,
        "A command run with /bin/sh -c each time the password is needed; what it prints on "
        "stdout, less the trailing newline, is the password. It must finish within 30 seconds.",
        default=None,
        example="pass show mail/amazon-fr",
    ),
    "password_env": Option(
        _env_name,
        "The name of an environment variable holding the password.",
        default=None,
        example="CLAIMWATCH_AMAZON_FR_PASSWORD",
    ),
    "folders": Option(_folders, "The folders to watch; they are only read.", default=("INBOX",)),
    "ca_file": Option(
        _path,
        "A PEM file of CA certificates to trust instead of the system's, for a server whose "
        "certificate comes from a private CA.",
        default=None,
        example="/path/to/ca.pem",
        check=_readable_file,
    ),
    "idle": _override("idle", _boolean, example=True),
    "poll_interval": _override("poll_interval", _seconds, example=60),
}

GLOBAL_RULES = (("backoff_max", _backoff_ordered),)
ACCOUNT_RULES = (
    ("security", _clear_text_only_to_loopback),
    ("auth", _xoauth2_needs_command),
    (None, _one_secret_source),
)


@dataclass(frozen=True)
class _Scope:
    """Where a value sits, so every error names the file and the key the user has to fix."""

    file: Path | None
    table: str = ""  # "" for the top level, "accounts[0] (amazon-fr)" for an account

    def error(self, message: str, key: str | None = None) -> ConfigError:
        where = ".".join(part for part in (self.table, key) if part)
        parts = [str(self.file or "<defaults>"), where, message]
        return ConfigError(": ".join(part for part in parts if part))


def default_config_path() -> Path:
    """``$CLAIMWATCH_CONFIG``, else ``$XDG_CONFIG_HOME/claimwatch/config.toml``."""
    explicit = os.environ.get("CLAIMWATCH_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return xdg_dir("XDG_CONFIG_HOME", ".config") / "claimwatch" / "config.toml"


def load_config(path: Path | None = None, *, required: bool = True) -> Config:
    """Read and validate the configuration, failing at start-up rather than at first use.

    With *path* None the :func:`default_config_path` is used, and if that file does not exist and
    *required* is false the defaults apply with no account (for commands that need none). A path
    given explicitly must exist: silently ignoring a mistyped ``--config`` would be worse.
    """
    explicit = path is not None
    file = Path(path if explicit else default_config_path()).expanduser().absolute()
    if not file.exists():
        if required or explicit:
            raise ConfigError(
                f"{file}: no such configuration file; to start, copy "
                "config/claimwatch.example.toml there and edit its [[accounts]] entry "
                "(or pass --config FILE, or set CLAIMWATCH_CONFIG)"
            )
        return default_config()
    return _build(_read_toml(file), _Scope(file), file.parent)


def default_config() -> Config:
    """The defaults with no account: for commands that must not touch the user's accounts."""
    return _build({}, _Scope(None), Path.cwd())


def _read_toml(file: Path) -> dict[str, Any]:
    scope = _Scope(file)
    try:
        with file.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise scope.error(f"invalid TOML: {e}") from e
    except UnicodeDecodeError as e:
        raise scope.error(f"not valid UTF-8 text ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise scope.error(f"cannot read the configuration file ({e.strerror})") from e


def _build(raw: dict[str, Any], scope: _Scope, base: Path) -> Config:
    values = _parse_table(raw, GLOBAL_OPTIONS, GLOBAL_RULES, scope, base, {}, extra=("accounts",))
    accounts = _parse_accounts(raw.get("accounts", []), scope, base, values)
    return Config(path=scope.file, accounts=accounts, **values)


def _parse_accounts(
    raw: object, scope: _Scope, base: Path, top: Mapping[str, Any]
) -> tuple[Account, ...]:
    if not isinstance(raw, list):
        raise scope.error(str(_type_error("[[accounts]] tables", raw)), "accounts")
    accounts: list[Account] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(raw):
        where = _Scope(scope.file, _account_label(index, table))
        if not isinstance(table, dict):
            raise where.error(str(_type_error("an [[accounts]] table", table)))
        values = _parse_table(table, ACCOUNT_OPTIONS, ACCOUNT_RULES, where, base, top)
        name = values["name"]
        if name in seen:
            raise where.error(
                f"duplicate account name {name!r} (also accounts[{seen[name]}]); "
                "account names must be unique",
                "name",
            )
        seen[name] = index
        accounts.append(Account(**values))
    return tuple(accounts)


def _account_label(index: int, table: object) -> str:
    name = table.get("name") if isinstance(table, dict) else None
    return f"accounts[{index}] ({name})" if _valid_name(name) else f"accounts[{index}]"


def _parse_table(
    raw: Mapping[str, Any],
    options: Mapping[str, Option],
    rules: tuple[tuple[str | None, Callable[[Mapping[str, Any]], None]], ...],
    scope: _Scope,
    base: Path,
    parent: Mapping[str, Any],
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    known = sorted([*options, *extra])
    for key in raw:
        if key not in known:
            raise scope.error(f"unknown key {key!r} (known keys: {', '.join(known)})")
    values: dict[str, Any] = {}
    for key, option in options.items():
        if key in raw:
            values[key] = _parse_value(option, raw[key], scope, key, base)
        elif option.default is REQUIRED:
            raise scope.error(f"missing required key {key!r}")
        elif callable(option.default):
            values[key] = option.default(values, parent)
        else:
            values[key] = option.default
    for key, rule in rules:
        try:
            rule(values)
        except ValueError as e:
            raise scope.error(str(e), key) from e
    return values


def _parse_value(option: Option, raw: object, scope: _Scope, key: str, base: Path) -> Any:
    try:
        value = option.parse(raw)
        if isinstance(value, Path) and not value.is_absolute():
            value = base / value
        if option.check is not None:
            option.check(value)
    except ValueError as e:
        raise scope.error(str(e), key) from e
    return value


_HEADER = """\
# claimwatch configuration (TOML).
#
# Copy this file to ~/.config/claimwatch/config.toml (or point --config or $CLAIMWATCH_CONFIG at
# it) and edit the [[accounts]] entry. A commented-out key shows its default: uncomment it to change
# it. This file is generated from the schema in daemon/config.py by example_config().
"""

_ACCOUNTS_INTRO = """\
# One [[accounts]] table per IMAP mailbox; repeat the table for more mailboxes."""


def example_config() -> str:
    """The documented example file, generated so that it always matches what the loader accepts."""
    parts = [_HEADER]
    parts += [_example_entry(key, option) for key, option in GLOBAL_OPTIONS.items()]
    parts.append(_ACCOUNTS_INTRO + "\n[[accounts]]\n")
    parts += [_example_entry(key, option) for key, option in ACCOUNT_OPTIONS.items()]
    return "\n".join(parts)


def _example_entry(key: str, option: Option) -> str:
    required = option.default is REQUIRED
    if required:
        default = "Required."
    elif option.shown_default is not None:
        default = f"Default: {option.shown_default}."
    elif option.default is None:
        default = "Default: not set."
    else:
        default = f"Default: {_toml(option.default)}."
    sample = option.example if option.example is not None else option.default
    prefix = "" if required or option.set_in_example else "# "
    lines = textwrap.wrap(f"{option.help} {default}", width=97)
    return "".join(f"# {line}\n" for line in lines) + f"{prefix}{key} = {_toml(sample)}\n"


def _toml(value: object) -> str:
    """A TOML literal for the example file's simple values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:_}" if value >= 10_000 else str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, timedelta):
        return json.dumps(duration_text(value))
    return json.dumps(str(value), ensure_ascii=False)
