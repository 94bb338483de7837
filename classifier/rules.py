"""Triage rules: named patterns on sender, subject and headers that force or veto a label.

They are the safety net for notification senders whose meaning is fixed (Amazon's A-to-z and
chargeback addresses, the ``X-Space-Notification-Type`` header), and they complement the model
rather than replace it: a relayed buyer message has the same sender whether it is a thank-you or a
threat. A rule is declarative data in ``config/rules.toml``; its name becomes the reason recorded
for the decision it made, so a seller can see why a message was flagged.

    [[rules]]
    name = "amazon-a-to-z-sender"
    label = "a_to_z"                        # force this label...
    sender = '^atoz-guarantee-no-reply@amazon\\.'
    # veto = ["at_risk"]                    # ...or forbid labels instead
    # subject = 'regex'   header = "X-Space-Notification-Type"   pattern = '^A_Z_'

Every condition given must match (regular expressions, case-insensitive, searched anywhere).
"""

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from classifier.labels import LABELS
from daemon.errors import ConfigError
from daemon.message import SELECTED_HEADERS, Message

SHIPPED_RULES = Path(__file__).resolve().parents[1] / "config" / "rules.toml"
_KEYS = {"name", "description", "label", "veto", "sender", "subject", "header", "pattern"}


@dataclass(frozen=True)
class Rule:
    """One named rule; ``label`` forces, ``veto`` forbids."""

    name: str
    label: str | None = None
    veto: tuple[str, ...] = ()
    sender: re.Pattern | None = None
    subject: re.Pattern | None = None
    header: str | None = None
    pattern: re.Pattern | None = None
    description: str = ""

    def matches(self, message: Message) -> bool:
        if self.sender and not self.sender.search(message.from_addr):
            return False
        if self.subject and not self.subject.search(message.subject):
            return False
        if self.header:
            value = message.headers.get(self.header)
            if value is None or (self.pattern and not self.pattern.search(value)):
                return False
        return True


@dataclass
class RuleOutcome:
    """What the rules decided for one message."""

    forced: str | None = None
    forced_by: str | None = None
    vetoed: dict[str, str] = field(default_factory=dict)  # label -> rule name


class RuleSet:
    """The rules of one file, applied in file order: the first forcing rule wins."""

    def __init__(self, rules: list[Rule], path: Path | None = None):
        self.rules, self.path = rules, path

    def apply(self, message: Message) -> RuleOutcome:
        outcome = RuleOutcome()
        for rule in self.rules:
            if not rule.matches(message):
                continue
            if rule.label and outcome.forced is None:
                outcome.forced, outcome.forced_by = rule.label, rule.name
            for label in rule.veto:
                outcome.vetoed.setdefault(label, rule.name)
        return outcome


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and validate a rules file; errors name the file, the rule and the key."""
    path = path or SHIPPED_RULES
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the rules file ({e.strerror})") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from e
    unknown = set(data) - {"rules"}
    if unknown:
        raise ConfigError(f"{path}: unknown key {sorted(unknown)[0]!r} (expected [[rules]] tables)")
    rules = [_rule(path, index, table) for index, table in enumerate(data.get("rules", []))]
    names = [r.name for r in rules]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{path}: two rules are named {name!r}; names must be unique")
    return RuleSet(rules, path)


def _rule(path: Path, index: int, table: dict) -> Rule:
    where = f"{path}: rules[{index}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a [[rules]] table")
    if "name" in table:
        where += f" ({table['name']})"
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {sorted(_KEYS)})")
    if not isinstance(table.get("name"), str) or not table["name"]:
        raise ConfigError(f"{where}: missing required key 'name'")
    if ("label" in table) == ("veto" in table):
        raise ConfigError(f"{where}: set exactly one of 'label' (force) and 'veto' (forbid)")
    if not {"sender", "subject", "header"} & set(table):
        raise ConfigError(f"{where}: give at least one condition: sender, subject or header")
    return Rule(
        name=table["name"],
        label=_label(where, "label", table["label"]) if "label" in table else None,
        veto=tuple(_label(where, "veto", v) for v in _list(where, table.get("veto", []))),
        sender=_regex(where, "sender", table.get("sender")),
        subject=_regex(where, "subject", table.get("subject")),
        header=_header(where, table.get("header")),
        pattern=_regex(where, "pattern", table.get("pattern")),
        description=str(table.get("description", "")),
    )


def _label(where: str, key: str, value: object) -> str:
    if value not in LABELS:
        raise ConfigError(f"{where}.{key}: expected one of {', '.join(LABELS)}, got {value!r}")
    return value


def _list(where: str, value: object) -> list:
    if not isinstance(value, list):
        raise ConfigError(f"{where}.veto: expected a list of labels, got {value!r}")
    return value


def _regex(where: str, key: str, value: object) -> re.Pattern | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}: expected a regular expression string, got {value!r}")
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as e:
        raise ConfigError(f"{where}.{key}: invalid regular expression {value!r}: {e}") from e


def _header(where: str, value: object) -> str | None:
    if value is None:
        return None
    known = {h.lower() for h in SELECTED_HEADERS}
    if not isinstance(value, str) or value.lower() not in known:
        raise ConfigError(
            f"{where}.header: {value!r} is not a header the parser keeps "
            f"(one of: {', '.join(SELECTED_HEADERS)})"
        )
    return value
