"""A case's ``case.json``, computed from its timeline.

The timeline is the case's record of truth: append-only, one line per message and per action.
Everything in ``case.json`` is a pure function of it (and of the seller's ``evidence/`` files), so
a crash between appending to the timeline and rewriting ``case.json`` is repaired by computing it
again, and no two files can disagree for long.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from daemon.state import parse_time
from evidence_store.checklist import Holdings, checklist
from evidence_store.index import REFERENCE_FIELDS

FORMAT = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LABELS = ("a_to_z", "chargeback", "at_risk")  # the most severe first
ACTIVE = ("open", "responded", "under_review")
OUTCOMES = ("granted_amazon_funded", "granted_seller_funded", "denied", "withdrawn")
STATUSES = (*ACTIVE, *OUTCOMES, "closed")
# How far along the lifecycle a status is: a notice moves a case forward, never back (a late
# reminder does not reopen a denied claim), but an outcome may replace another (an appeal).
RANK = {"open": 0, "responded": 1, "under_review": 2, "closed": 3} | dict.fromkeys(OUTCOMES, 4)

_MARKETPLACES = (  # (part of the sender's address, marketplace); the first match wins
    ("amazon-pay", "amazon_pay"),
    ("pay.amazon", "amazon_pay"),
    ("amazon", "amazon"),
    ("shopify", "shopify"),
    ("stripe", "stripe"),
    ("paypal", "paypal"),
    ("adyen", "adyen"),
)


def next_status(current: str, decision: str | None) -> str | None:
    """The status a notice's *decision* moves a case to, or None when it does not move it."""
    if decision not in STATUSES or decision == current:
        return None
    if RANK[decision] > RANK[current] or (RANK[decision] == 4 and RANK[current] == 4):
        return decision
    return None


def reopened_status(current: str, label: str, decision: str | None, seen: set[str]) -> str | None:
    """ "open" when a tier-1 message puts the ball back in the seller's court, else None.

    A case that was answered or decided is not over when a new claim arrives: a buyer whose
    message was answered may still file an A-to-z claim, a denied claim may be followed by a
    chargeback. Without this, the case would stay "responded" and its new deadline would raise no
    reminder. So: a claim or chargeback of a kind the case has not had, a notice that a claim was
    filed on a closed or decided case, and a buyer writing again after the seller answered, all
    reopen it. *seen* holds the labels of the case's earlier notices.
    """
    if current == "open":
        return None
    if label in ("a_to_z", "chargeback") and label not in seen:
        return "open"
    if decision == "open" and RANK[current] >= RANK["closed"]:
        return "open"
    if label == "at_risk" and current == "responded":
        return "open"
    return None


def is_buyer(message: dict) -> bool:
    """A buyer wrote it: an at-risk message, or mail relayed by Amazon's buyer-seller service."""
    relayed = "@marketplace.amazon." in (message.get("from") or "")
    return message.get("label") == "at_risk" or relayed


def marketplace(sender: str) -> str:
    """The marketplace or payment processor behind a notice, from its sender's address."""
    sender = sender.lower()
    return next((name for part, name in _MARKETPLACES if part in sender), "other")


def summarize(case_id: str, timeline: list[dict], evidence_files: list[str]) -> dict:
    """The whole ``case.json`` of *case_id*, as ``evidence_store/case-folder.md`` lays it out."""
    messages = [e for e in timeline if e.get("kind") == "message"]
    notices = [m for m in messages if m.get("tier") == 1]
    first = notices[0] if notices else (messages[0] if messages else {})
    labels = [label for label in LABELS if any(m.get("label") == label for m in notices)]
    label = labels[0] if labels else first.get("label", "routine")
    reason = next((m["claim_reason"] for m in notices if m.get("claim_reason")), None)
    tracking, tracked = _tracking(messages)
    attachments = [a | {"source": m["file"]} for m in messages for a in m.get("attachments", [])]
    refs = {key: _union(m.get(key) for m in notices or messages) for key in REFERENCE_FIELDS}
    amount = _amount(notices) or _amount(messages)
    delivery = _delivery(messages)
    listed = [_message(m) for m in messages]
    holdings = Holdings(
        tracking=tracked,
        delivery=delivery,
        messages=[
            entry | {"buyer": is_buyer(m)} for entry, m in zip(listed, messages, strict=True)
        ],
        attachments=attachments,
        evidence_files=evidence_files,
        order_refs=[r for key in REFERENCE_FIELDS for r in refs[key]],
        amount=amount,
    )
    return {
        "format": FORMAT,
        "id": case_id,
        "status": current_status(timeline),
        "label": label,
        "labels": labels,
        "marketplace": marketplace(first.get("from") or ""),
        "language": first.get("language") or "en",
        "claim_reason": reason,
        "created_at": timeline[0]["at"] if timeline else None,
        "updated_at": timeline[-1]["at"] if timeline else None,
        **_deadline(notices),
        **_acknowledgement(timeline),
        "backfilled": bool(notices) and all(m.get("backfill") for m in _current(notices)),
        **refs,
        "amount": amount,
        "tracking": tracking,
        "delivery": delivery,
        "messages": listed,
        "attachments": attachments,
        "skipped_attachments": [
            s | {"source": m["file"]} for m in messages for s in m.get("skipped_attachments", [])
        ],
        "evidence_files": evidence_files,
        "checklist": checklist(label, reason, holdings),
        "notes": [{"at": e["at"], "text": e["text"]} for e in timeline if e["kind"] == "note"],
        "exports": [{"at": e["at"], "file": e["file"]} for e in timeline if e["kind"] == "export"],
    }


def current_status(timeline: list[dict]) -> str:
    """The last status a notice or the seller set; a case starts open."""
    status = "open"
    for entry in timeline:
        if entry.get("status") in STATUSES:
            status = entry["status"]
    return status


def _message(m: dict) -> dict:
    return {
        "file": m["file"],
        "date": m.get("date"),
        "from": m.get("from"),
        "subject": m.get("subject"),
        "label": m.get("label"),
        "role": m.get("role"),
        "decision": m.get("decision"),
        "backfill": bool(m.get("backfill")),
    }


def _tracking(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """Each tracking number once, with the message it came from (and, for the checklist, that
    message's subject and reason: a return's tracking number is told apart by them)."""
    seen: dict[tuple[str, str], dict] = {}
    for m in messages:
        for t in m.get("tracking", []):
            key = (t["carrier"], t["number"])
            if key not in seen:
                seen[key] = {
                    "carrier": t["carrier"],
                    "number": t["number"],
                    "source": m["file"],
                    "subject": m.get("subject") or "",
                    "reason": m.get("claim_reason"),
                }
    public = [{k: t[k] for k in ("carrier", "number", "source")} for t in seen.values()]
    return public, list(seen.values())


def _current(notices: list[dict]) -> list[dict]:
    """The tier-1 messages the case is about now: those filed as it opened or later, not the
    earlier ones pulled in as history."""
    return [m for m in notices if m.get("role") != "history"]


def _deadline(notices: list[dict]) -> dict:
    """The case's deadline and where it comes from, read through its notices in filing order.

    A deadline a notice states replaces the one before it (a reminder restates or moves it). A
    notice that states none brings its policy deadline (daemon/policy.py), which counts when the
    case had no deadline, or when the one it had passed before this notice was sent (a new claim
    on an old order starts afresh), or when it is earlier: a reminder that states nothing must not
    push the deadline back. A claim or chargeback supersedes a buyer's message (the buyer
    escalated: the claim's deadline is the one that costs money), and a buyer writing on a claim
    case does not move the claim's deadline.
    """
    due: datetime | None = None
    due_label = None
    found: dict = {"deadline": None, "deadline_source": None}
    for m in _current(notices):
        stated = parse_time(m.get("deadline"))
        moment = stated or parse_time(m.get("policy_deadline"))
        if moment is None:
            continue
        label = m.get("label")
        sent = parse_time(m.get("date")) or parse_time(m.get("at")) or moment
        lapsed = due is None or sent >= due
        buyer_on_claim = label == "at_risk" and due_label in CLAIMS
        escalated = label in CLAIMS and due_label == "at_risk"
        if not lapsed and buyer_on_claim:
            continue
        if lapsed or escalated or stated or moment < due:
            due, due_label = moment, label
            source = "stated" if stated else f"policy:{m['policy']}"
            deadline = m["deadline"] if stated else m["policy_deadline"]
            found = {"deadline": deadline, "deadline_source": source}
    return found


CLAIMS = ("a_to_z", "chargeback")


SELLER_ACTIONS = ("note", "status", "export", "viewed")


def _awaits_acknowledgement(entry: dict) -> bool:
    new = entry.get("kind") == "message" and entry.get("role") in ("opened", "joined")
    return (
        new and entry.get("tier") == 1 and bool(entry.get("ack_by")) and not entry.get("backfill")
    )


def _acknowledgement(timeline: list[dict]) -> dict:
    """When the seller last acted on the case, and by when the tier-1 mail that came after that
    should be looked at (the internal acknowledgement target; None once the seller has acted)."""
    acted = None
    ack_by = None
    for entry in timeline:
        if entry.get("kind") in SELLER_ACTIONS:
            acted, ack_by = entry.get("at"), None
        elif _awaits_acknowledgement(entry):
            ack_by = ack_by or entry["ack_by"]
    return {"acknowledge_by": ack_by, "acknowledged_at": acted}


def _amount(messages: list[dict]) -> dict | None:
    return next((m["amounts"][0] for m in messages if m.get("amounts")), None)


def _delivery(messages: list[dict]) -> dict | None:
    """The latest delivery notice among routine messages (a buyer's or a claim's "delivered"
    is what the dispute is about, not a proof)."""
    notices = [m for m in messages if m.get("delivered") and m.get("label") == "routine"]
    if not notices:
        return None
    latest = max(notices, key=lambda m: parse_time(m.get("date")) or _EPOCH)
    return {"date": latest.get("date"), "source": latest["file"]}


def _union(lists: Iterable[list[str] | None]) -> list[str]:
    return list(dict.fromkeys(item for items in lists for item in items or []))
