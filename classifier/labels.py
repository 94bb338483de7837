"""The four labels and their tiers: the vocabulary of config, CLI, JSON and folders (DESIGN.md)."""

A_TO_Z = "a_to_z"
CHARGEBACK = "chargeback"
AT_RISK = "at_risk"
ROUTINE = "routine"

LABELS = (A_TO_Z, CHARGEBACK, AT_RISK, ROUTINE)
TIER1 = (A_TO_Z, CHARGEBACK, AT_RISK)


def tier_of(label: str) -> int:
    """1 for the labels that can cost the seller money, 2 for routine mail."""
    return 1 if label in TIER1 else 2


def check_label(label: str) -> str:
    """Validate a label given by a user (CLI, rules file); ValueError names the accepted ones."""
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
    return label
