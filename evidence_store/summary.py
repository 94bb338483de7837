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
        "deadline": _deadline(notices),
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


def _deadline(notices: list[dict]) -> str | None:
    """The deadline the latest notice states (a reminder restates or moves it). Without one, the
    case has none yet: the deadline policy of the alerts issue fills that gap."""
    stated = [m["deadline"] for m in notices if m.get("deadline") and m.get("role") != "history"]
    return stated[-1] if stated else None


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
