"""The deadline a case gets when its notice states none (config/deadlines.toml), how a case's
deadline follows its notices, when a case reopens, and which reminders are due when."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
import sellermail
from support import claimwatch

from daemon.alerts import AlertLedger, Scheduler, describe, in_quiet_hours
from daemon.config import default_config
from daemon.errors import ConfigError
from daemon.policy import load_policy
from evidence_store.summary import reopened_status, summarize
from evidence_store.views import time_left

SHIPPED = Path(__file__).resolve().parents[1] / "config" / "deadlines.toml"
SENT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)

# (label, sender, window, policy name): the shipped defaults err early
POLICY = [
    ("a_to_z", "atoz-guarantee-no-reply@amazon.fr", 48 * H, "a-to-z"),
    ("a_to_z", "amazon-pay-seller-guarantee@amazon.com", 7 * D, "amazon-pay-a-to-z"),
    ("chargeback", "cb-seller-notification@amazon.com", 7 * D, "marketplace-chargeback"),
    ("chargeback", "amazon-pay-chargebacks@amazon.de", 11 * D, "amazon-pay-chargeback"),
    ("chargeback", "notifications@stripe.com", 7 * D, "processor-dispute"),
    ("chargeback", "service@paypal.de", 7 * D, "processor-dispute"),
    ("at_risk", "k7x2m9q4@marketplace.amazon.it", 24 * H, "buyer-at-risk"),
    ("at_risk", "jane@example.com", 24 * H, "buyer-at-risk"),
    ("routine", "ship-confirm@amazon.es", 24 * H, "routine"),
]


@pytest.mark.parametrize(("label", "sender", "window", "name"), POLICY)
def test_shipped_policy(label, sender, window, name):
    due = load_policy(SHIPPED).apply(label, sender, SENT)
    assert (due["policy_deadline"], due["policy"]) == ((SENT + window).isoformat(), name)
    assert due["ack_by"] == (None if label == "routine" else (SENT + H).isoformat())


# Notices that state no deadline: classify --json reports none stated, and the policy's.
UNSTATED = [
    (
        "amazon-pay-seller-guarantee@amazon.com",
        "Amazon Pay: A-to-z Guarantee claim for order S01-1234567-1234567",
        "A buyer filed an A-to-z Guarantee claim for order S01-1234567-1234567. Please "
        "provide tracking information in Seller Central.",
        7 * D,
    ),
    (
        "cb-seller-notification@amazon.com",
        "Chargeback notification for order 171-5551234-7654321",
        "We have received a chargeback from the buyer's bank for order 171-5551234-7654321. "
        "Please provide information about the order.",
        7 * D,
    ),
    (
        "atoz-guarantee-no-reply@amazon.de",
        "A-bis-z-Garantieantrag zu Bestellung 302-1234567-1234567",
        "Ein Käufer hat einen A-bis-z-Garantieantrag zu Bestellung 302-1234567-1234567 "
        "eingereicht. Bitte geben Sie uns Informationen zur Bestellung.",
        48 * H,
    ),
]


@pytest.mark.parametrize(("sender", "subject", "body", "window"), UNSTATED)
def test_a_notice_without_a_stated_deadline_gets_the_policy_default(
    tmp_path, sender, subject, body, window
):
    eml = tmp_path / "notice.eml"
    eml.write_bytes(sellermail.message(sender, subject, body, SENT))
    done = claimwatch("classify", "--json", str(eml), env={"CLAIMWATCH_CONFIG": "/nonexistent"})
    result = json.loads(done.stdout)
    assert result["deadline"] is None
    assert result["policy_deadline"] == (SENT + window).isoformat()


BROKEN = [
    ("", "no [[policy]] entries; copy the shipped config/deadlines.toml"),
    ('acknowledge = "soon"\n', 'acknowledge: expected a duration such as "48h"'),
    ('[[policy]]\nname = "x"\nlabel = "claim"\nwindow = "2d"\n', "policy[0] (x).label: expected"),
    ('[[policy]]\nname = "x"\nlabel = "a_to_z"\n', "policy[0] (x): missing required key 'window'"),
    (
        '[[policy]]\nname = "x"\nlabel = "a_to_z"\nwindow = "2d"\nsender = "(amazon"\n',
        "policy[0] (x).sender: not a regular expression",
    ),
    (
        '[[policy]]\nname = "x"\nlabel = "a_to_z"\nwindow = "2d"\nwindows = "3d"\n',
        "policy[0] (x): unknown key 'windows'",
    ),
    (
        '[[policy]]\nname = "x"\nlabel = "a_to_z"\nwindow = "2d"\n' * 2,
        "policy name 'x' is used twice",
    ),
    ("[[policy]\n", "invalid TOML in the deadline policy"),
]


@pytest.mark.parametrize(("text", "problem"), BROKEN)
def test_a_broken_policy_file_names_what_is_wrong(tmp_path, text, problem):
    path = tmp_path / "deadlines.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert str(err.value).startswith(f"{path}: ") and problem in str(err.value)


def test_run_refuses_to_start_on_a_broken_policy_file(tmp_path):
    policy = tmp_path / "deadlines.toml"
    policy.write_text('acknowledge = "1h"\n')
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\ndeadlines_file = "{policy}"\n')
    done = claimwatch("run", "--once", "--config", str(config))
    assert done.returncode != 0 and f"{policy}: no [[policy]] entries" in done.stderr
    assert "Traceback" not in done.stderr


# --- a case's deadline follows its notices ------------------------------------------------------


def notice(at: datetime, role: str = "joined", label: str = "a_to_z", **fields) -> dict:
    policy = load_policy(SHIPPED).apply(label, "atoz-guarantee-no-reply@amazon.com", at)
    line = {
        "kind": "message",
        "at": at.isoformat(),
        "date": at.isoformat(),
        "role": role,
        "file": f"messages/{at:%Y%m%d%H%M}.eml",
        "label": label,
        "tier": 1,
        "deadline": None,
    }
    return line | policy | fields


def deadline_of(*timeline: dict) -> tuple[str | None, str | None]:
    case = summarize("order-1", list(timeline), [])
    return case["deadline"], case["deadline_source"]


def test_the_policy_deadline_applies_when_no_notice_states_one():
    assert deadline_of(notice(SENT, "opened")) == ((SENT + 48 * H).isoformat(), "policy:a-to-z")


def test_a_reminder_that_states_nothing_does_not_push_the_deadline_back():
    first = notice(SENT, "opened")
    assert deadline_of(first, notice(SENT + D)) == ((SENT + 48 * H).isoformat(), "policy:a-to-z")


def test_a_stated_deadline_wins_and_a_later_one_moves_it():
    stated = (SENT + 3 * D).isoformat()
    moved = (SENT + 5 * D).isoformat()
    first = notice(SENT, "opened", deadline=stated)
    assert deadline_of(first) == (stated, "stated")
    assert deadline_of(first, notice(SENT + D, deadline=moved)) == (moved, "stated")
    assert deadline_of(first, notice(SENT + D)) == (stated, "stated")  # a silent reminder


def test_a_new_claim_after_the_old_deadline_starts_afresh():
    old = notice(SENT, "opened", backfill=True)
    new = notice(SENT + 60 * D)
    assert deadline_of(old, new) == ((SENT + 62 * D).isoformat(), "policy:a-to-z")


def test_history_does_not_set_the_deadline():
    history = notice(SENT - D, "history", deadline=(SENT + H).isoformat())
    assert deadline_of(history, notice(SENT, "opened"))[1] == "policy:a-to-z"


def test_the_acknowledgement_target_is_met_by_any_action_of_the_seller():
    opened = notice(SENT, "opened")
    case = summarize("order-1", [opened], [])
    assert case["acknowledge_by"] == (SENT + H).isoformat() and case["acknowledged_at"] is None
    note = {"kind": "note", "at": (SENT + 0.5 * H).isoformat(), "text": "on it"}
    case = summarize("order-1", [opened, note], [])
    assert case["acknowledge_by"] is None and case["acknowledged_at"] == note["at"]
    chargeback = notice(SENT + D, label="chargeback")  # new tier-1 mail after the note
    case = summarize("order-1", [opened, note, chargeback], [])
    assert case["acknowledge_by"] == (SENT + D + H).isoformat()


REOPEN = [
    # (status, label of the new notice, its decision, labels the case had, new status)
    ("responded", "a_to_z", None, {"at_risk"}, "open"),  # answered the buyer, who claimed anyway
    ("denied", "chargeback", None, {"a_to_z"}, "open"),  # claim denied, then a chargeback
    ("closed", "a_to_z", "open", {"a_to_z"}, "open"),  # a claim filed again on a closed case
    ("responded", "at_risk", None, {"at_risk"}, "open"),  # the buyer wrote again
    ("responded", "a_to_z", None, {"a_to_z"}, None),  # a reminder of the answered claim
    ("under_review", "at_risk", None, {"a_to_z", "at_risk"}, None),
    ("denied", "a_to_z", None, {"a_to_z"}, None),  # a late copy of the claim
    ("open", "chargeback", None, {"a_to_z"}, None),
]


@pytest.mark.parametrize(("status", "label", "decision", "seen", "expected"), REOPEN)
def test_when_new_mail_reopens_a_case(status, label, decision, seen, expected):
    assert reopened_status(status, label, decision, seen) == expected


# --- which reminders are due --------------------------------------------------------------------


def case_at(deadline: datetime | None, **fields) -> dict:
    return {
        "id": "order-171-5551234-7654321",
        "status": "open",
        "label": "a_to_z",
        "backfilled": False,
        "deadline": deadline.isoformat() if deadline else None,
        "deadline_source": "stated",
        "acknowledge_by": None,
        "order_ids": ["171-5551234-7654321"],
        "amount": None,
        "claim_reason": None,
        "messages": [{"file": "messages/a.eml", "role": "opened", "label": "a_to_z"}],
    } | fields


def scheduler(tmp_path: Path, **config) -> Scheduler:
    settings = dataclasses.replace(default_config(), data_dir=tmp_path, **config)
    return Scheduler(settings, AlertLedger(tmp_path), tmp_path / "cases")


def test_due_reminders_coalesce_into_one_alert_about_the_most_pressing(tmp_path):
    due = SENT + 72 * H
    [alert] = scheduler(tmp_path).due([case_at(due)], SENT + 70 * H)
    assert alert.kind == "reminder" and alert.title == "A-to-z claim · 2h left"
    assert sorted(alert.keys) == sorted(
        ["new:messages/a.eml", f"1d:{due.isoformat()}", f"6h:{due.isoformat()}"]
    )


def test_a_moved_deadline_arms_the_reminders_again(tmp_path):
    plan = scheduler(tmp_path)
    first, later = SENT + 30 * H, SENT + 80 * H
    [alert] = plan.due([case_at(first)], SENT + 7 * H)
    plan.ledger.record([alert], "log")
    plan.sent([alert])
    assert plan.due([case_at(first)], SENT + 7 * H) == []
    [again] = plan.due([case_at(later)], SENT + 57 * H)
    assert again.keys == [f"1d:{later.isoformat()}"]


def test_an_alert_being_sent_is_not_handed_over_twice(tmp_path):
    plan = scheduler(tmp_path)
    assert len(plan.due([case_at(SENT + D)], SENT)) == 1
    assert plan.due([case_at(SENT + D)], SENT) == []  # in flight, not yet in the ledger


@pytest.mark.parametrize(
    "fields",
    [{"status": "responded"}, {"status": "denied"}, {"backfilled": True}, {"label": "routine"}],
)
def test_no_alert_for_an_answered_decided_backfilled_or_routine_case(tmp_path, fields):
    assert scheduler(tmp_path).due([case_at(SENT - H, **fields)], SENT) == []


def test_reminders_can_be_narrowed(tmp_path):
    plan = scheduler(tmp_path, reminders=("overdue",))
    assert plan.due([case_at(SENT + H)], SENT) == []
    [alert] = plan.due([case_at(SENT - H)], SENT)
    assert alert.kind == "overdue" and alert.title == "A-to-z claim · overdue by 1h"


@pytest.mark.parametrize(
    ("hours", "local", "quiet"),
    [
        ((time(22), time(7)), time(23, 30), True),
        ((time(22), time(7)), time(6, 59), True),
        ((time(22), time(7)), time(7), False),
        ((time(22), time(7)), time(12), False),
        ((time(12), time(14)), time(13), True),
        ((time(12), time(14)), time(14), False),
        (None, time(3), False),
    ],
)
def test_quiet_hours_may_span_midnight(monkeypatch, hours, local, quiet):
    monkeypatch.setenv("TZ", "UTC")
    moment = datetime.combine(SENT.date(), local, tzinfo=UTC)
    assert in_quiet_hours(hours, moment) is quiet


@pytest.mark.parametrize(
    ("left", "text"),
    [
        (71 * H, "2d 23h left"),
        (48 * H, "2d left"),
        (5 * H + 30 * timedelta(minutes=1), "5h 30m left"),
        (23 * H + 59 * timedelta(minutes=1), "23h left"),
        (timedelta(seconds=20), "1m left"),
        (-30 * timedelta(minutes=1), "overdue by 30m"),
        (-3 * D, "overdue by 3d"),
    ],
)
def test_time_left_reads_at_a_glance(left, text):
    assert time_left((SENT + left).isoformat(), SENT) == text


def test_an_alert_names_order_amount_and_reason(tmp_path):
    case = case_at(
        SENT + 30 * H,
        amount={"value": "89.90", "currency": "EUR"},
        claim_reason="damaged",
    )
    alert = describe(case, "new", ["new:messages/a.eml"], SENT, tmp_path)
    assert alert.title == "A-to-z claim · 1d 6h left"
    assert alert.body.splitlines()[:2] == [
        "Order 171-5551234-7654321 · 89.90 EUR · item arrived damaged",
        "New A-to-z Guarantee claim",
    ]
    assert alert.payload()["time_left_seconds"] == 30 * 3600


def test_cases_colour_the_time_left_by_urgency(tmp_path):
    from evidence_store.commands import format_cases

    cases = [
        case_at(SENT - H, id="order-a", checklist=[]),
        case_at(SENT + 2 * H, id="order-b", checklist=[]),
        case_at(SENT + 12 * H, id="order-c", checklist=[]),
        case_at(SENT + 3 * D, id="order-d", checklist=[]),
        case_at(SENT + H, id="order-e", checklist=[], status="responded"),
    ]
    rows = format_cases(cases, tmp_path, False, SENT).splitlines()[1:6]
    red, yellow, green = "\x1b[31m\x1b[1m", "\x1b[33m", "\x1b[32m"
    assert red + "overdue by 1h" in rows[0]
    assert red + "2h left" in rows[1]
    assert yellow + "12h left" in rows[2]
    assert green + "3d left" in rows[3]
    assert "\x1b[" not in rows[4] and rows[4].split()[5] == "-"  # answered: nothing to count


def test_the_cases_command_prints_no_colour_codes_into_a_pipe(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    folder = tmp_path / "cases" / "order-a"
    folder.mkdir(parents=True)
    case = summarize("order-a", [notice(SENT, "opened")], [])
    (folder / "case.json").write_text(json.dumps(case))
    done = claimwatch(
        "cases", "--config", str(config), env={"CLAIMWATCH_NOW": (SENT + H).isoformat()}
    )
    assert "1d 23h left" in done.stdout and "\x1b[" not in done.stdout


def test_a_claim_supersedes_the_buyers_response_target():
    buyer = notice(SENT, "opened", label="at_risk")
    claim = notice(SENT + 2 * H, label="a_to_z")
    # the buyer's 24 h target would come first, but the buyer escalated: the claim's 48 h count
    assert deadline_of(buyer, claim) == ((SENT + 50 * H).isoformat(), "policy:a-to-z")


def test_a_buyer_writing_on_a_claim_case_does_not_move_the_claims_deadline():
    stated = (SENT + 3 * D).isoformat()
    claim = notice(SENT, "opened", deadline=stated)
    buyer = notice(SENT + H, label="at_risk", deadline=(SENT + 2 * H).isoformat())
    assert deadline_of(claim, buyer) == (stated, "stated")
    late = notice(SENT + 4 * D, label="at_risk")  # after the claim's deadline: afresh
    assert deadline_of(claim, late) == ((SENT + 5 * D).isoformat(), "policy:buyer-at-risk")


def test_a_chargeback_on_an_open_claim_keeps_the_nearer_deadline():
    claim = notice(SENT, "opened")  # 48 h
    chargeback = notice(SENT + H, label="chargeback")  # 7 days
    assert deadline_of(claim, chargeback) == ((SENT + 48 * H).isoformat(), "policy:a-to-z")
