"""The two human views of the evidence store: a case's README.md and the offline cases/index.html.

case.json and timeline.jsonl are written for programs; a seller facing a 48-hour deadline needs to
see at a glance what happened, what evidence is still missing and which case is most urgent, with
nothing but a text editor or a web browser and no network. These views are derived data: they are
rebuilt from case.json and the timeline after every change, so they never need migrating.

Everything here is a pure function returning text; the caller writes it atomically. Subjects,
senders, ids and notes come from hostile email: in the HTML page every such value is escaped and
every link URL-quoted; in Markdown newlines and control characters are flattened, so one entry
stays one line, and the characters that would break a table or a link are backslash-escaped.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, MutableMapping
from datetime import datetime
from urllib.parse import quote

from daemon.state import parse_time
from evidence_store.carriers import CARRIER_NAMES
from evidence_store.summary import ACTIVE, LABELS

SUBJECT_CHARS = 120
TEXT_CHARS = 1000  # a note or summary longer than this is cut in the views (the timeline keeps it)

LABEL_WORDS = {
    "a_to_z": "A-to-z Guarantee claim",
    "chargeback": "Chargeback",
    "at_risk": "Buyer at risk of claiming",
    "routine": "Routine message",
}
LABEL_SEVERITY = {label: rank for rank, label in enumerate(LABELS)}
REASON_WORDS = {
    "not_received": "item not received",
    "damaged": "item arrived damaged",
    "not_as_described": "item not as described",
    "wrong_item": "wrong item sent",
    "refund_after_return": "refund missing after a return",
}
STATUS_WORDS = {
    "open": "open",
    "responded": "responded",
    "under_review": "under review",
    "granted_amazon_funded": "granted (Amazon-funded)",
    "granted_seller_funded": "granted (seller-funded)",
    "denied": "denied (in your favour)",
    "withdrawn": "withdrawn",
    "closed": "closed",
}
MARKETPLACE_WORDS = {
    "amazon": "Amazon",
    "amazon_pay": "Amazon Pay",
    "shopify": "Shopify",
    "stripe": "Stripe",
    "paypal": "PayPal",
    "adyen": "Adyen",
    "other": "other",
}
REFERENCE_FIELDS = (
    ("order_ids", "Order id"),
    ("payment_refs", "Payment reference"),
    ("shop_orders", "Shop order"),
    ("claim_ids", "Claim id"),
)


# --- words and small formatting helpers, shared by both views -------------------------------------


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, all of it


def one_line(value: object, limit: int = TEXT_CHARS) -> str:
    """*value* as a single line of at most *limit* characters, control characters removed.

    ``str.split()`` splits on every Unicode line break (``\\r``, ``\\u2028``, ``\\x85``...), so
    a hostile subject cannot start a new Markdown list item or table row.
    """
    text = "" if value is None else str(value)
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def words(table: dict[str, str], key: object, missing: str = "not known") -> str:
    """The words for *key* in *table*; an unknown key as itself, readable; ``None`` as *missing*."""
    if key is None or key == "":
        return missing
    return table.get(str(key), one_line(str(key).replace("_", " "), 60))


def is_active(case: dict) -> bool:
    return case.get("status") in ACTIVE


def when(value: object, missing: str = "not known") -> str:
    """``2026-11-20 09:30 UTC`` (or ``+01:00``) for an ISO time; an unparsable one as given."""
    parsed = parse_time(value)
    if parsed is None:
        return missing if not value else one_line(value, 40)
    offset = parsed.utcoffset()
    zone = "UTC" if not offset else parsed.strftime("%z")
    zone = zone if zone == "UTC" else f"{zone[:3]}:{zone[3:]}"
    return f"{parsed:%Y-%m-%d %H:%M} {zone}"


def time_left(deadline: object, now: datetime) -> str:
    """ "2d 4h left", "5h 10m left", "40m left", "overdue by 3h": the deadline as a seller reads
    it at a glance (the exact time is in case.json and README.md)."""
    due = parse_time(deadline)
    if due is None:
        return "no deadline"
    seconds = int((due - now).total_seconds())
    text = _span(abs(seconds))
    return f"{text} left" if seconds > 0 else f"overdue by {text}"


def _span(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes and hours < 6 else f"{hours}h"
    return f"{max(minutes, 1)}m"


URGENCY_COLOURS = {"overdue": "red", "urgent": "red", "soon": "yellow", "later": "green"}


def urgency(case: dict, now: datetime) -> str | None:
    """How pressing an active case's deadline is: overdue, urgent (under 6 h), soon (under 24 h)
    or later; None for a case without a deadline or no longer waiting for the seller."""
    due = parse_time(case.get("deadline"))
    if due is None or case.get("status") != "open":
        return None
    left = (due - now).total_seconds()
    if left <= 0:
        return "overdue"
    return "urgent" if left < 6 * 3600 else "soon" if left < 86400 else "later"


def amount_text(amount: object) -> str:
    if not isinstance(amount, dict) or amount.get("value") in (None, ""):
        return "not known"
    return one_line(f"{amount.get('value')} {amount.get('currency') or ''}", 40)


def references(case: dict) -> list[str]:
    """Every order id, payment reference, shop order and claim id of *case*, in that order."""
    return [str(ref) for field, _ in REFERENCE_FIELDS for ref in case.get(field) or []]


def missing_items(case: dict) -> list[str]:
    return [one_line(i.get("title") or i.get("item"), 80) for i in _checklist(case) if not _has(i)]


def _checklist(case: dict) -> list[dict]:
    return [item for item in case.get("checklist") or [] if isinstance(item, dict)]


def _has(item: dict) -> bool:
    return item.get("present") is True


def _label_words(case: dict) -> str:
    return words(LABEL_WORDS, case.get("label"), "Case")


# --- README.md ------------------------------------------------------------------------------------


def render_readme(case: dict, timeline: list[dict]) -> str:
    """The case's README.md: what happened, the facts, the evidence checklist, the timeline.

    *case* is case.json as a dict, *timeline* the entries of timeline.jsonl in file order. Links
    are relative to the case folder, so the file reads the same in an editor, a Markdown viewer
    or a zip of the folder.
    """
    sections = [
        f"# {_label_words(case)}: {_md(case.get('id'), 200)}",
        _section("What happened", [_what_happened(case)]),
        _section("Facts", _facts_table(case)),
        _section("Evidence checklist", _checklist_lines(case)),
        _section("Tracking", _tracking_lines(case)),
        _section("Messages", _message_lines(case)),
        _section("Attachments", _attachment_lines(case)),
        _section("Your evidence files", _evidence_lines(case)),
        _section("Notes", _note_lines(case)),
        _section("Timeline", _timeline_lines(timeline)),
    ]
    return "\n\n".join(sections) + "\n"


def _section(title: str, lines: list[str]) -> str:
    return "\n".join([f"## {title}", "", *lines])


def _md(value: object, limit: int = TEXT_CHARS) -> str:
    """Untrusted text for Markdown: one line, with the characters that break a table or link
    (``\\``, ``|``, ``[``, ``]``, ``<``, ``>``, backticks) escaped. HTML inside it stays text."""
    text = one_line(value, limit)
    for char in "\\`|[]<>":
        text = text.replace(char, "\\" + char)
    return text


def _link(text: object, path: object) -> str:
    """A relative Markdown link to *path* (a file of the case folder), its target URL-quoted."""
    target = quote(one_line(path, 500))
    return f"[{_md(text, SUBJECT_CHARS) or _md(path, 200)}]({target})"


def _what_happened(case: dict) -> str:
    opener = _opening_message(case)
    sender = f" from {_md(opener.get('from'), 200)}" if opener and opener.get("from") else ""
    refs = references(case)
    about = f"order {_md(refs[0], 100)}" if refs else "an order not identified yet"
    if len(refs) > 1:
        about += f" (and {len(refs) - 1} more reference{'s' if len(refs) > 2 else ''})"
    reason = words(REASON_WORDS, case.get("claim_reason"), "no reason stated")
    place = words(MARKETPLACE_WORDS, case.get("marketplace"), "an unknown marketplace")
    parts = [
        f"{_opening_phrase(case)} on {place} about {about}: {reason}.",
        f"The case was opened on {when(case.get('created_at'))} by a message{sender}.",
        _latest_decision(case),
        f"Status now: {words(STATUS_WORDS, case.get('status'))}; "
        f"response deadline: {when(case.get('deadline'), 'not known yet')}.",
    ]
    return " ".join(parts)


def _opening_phrase(case: dict) -> str:
    return {
        "a_to_z": "The buyer filed an A-to-z Guarantee claim",
        "chargeback": "The buyer disputed the payment (a chargeback)",
        "at_risk": "A buyer wrote in a way that often leads to a claim",
    }.get(str(case.get("label")), "A message needs attention")


def _opening_message(case: dict) -> dict | None:
    messages = _messages(case)
    opened = [m for m in messages if m.get("role") == "opened"]
    return (opened or messages or [None])[0]


def _messages(case: dict) -> list[dict]:
    return [m for m in case.get("messages") or [] if isinstance(m, dict)]


def _latest_decision(case: dict) -> str:
    decided = [m for m in _messages(case) if m.get("decision")]
    if not decided:
        return "No decision has been announced yet."
    latest = max(decided, key=lambda m: _timestamp(m.get("date")) or -math.inf)
    decision = words(STATUS_WORDS, latest.get("decision"))
    return f"Latest decision: {decision} ({when(latest.get('date'))})."


def _facts_table(case: dict) -> list[str]:
    rows = [("Status", words(STATUS_WORDS, case.get("status"))), ("Kind", _label_words(case))]
    for field, title in REFERENCE_FIELDS:
        values = case.get(field) or []
        if values:
            rows.append((title + ("s" if len(values) > 1 else ""), ", ".join(map(str, values))))
    if not references(case):
        rows.append(("Order id", "none found yet"))
    rows += [
        ("Amount", amount_text(case.get("amount"))),
        ("Marketplace", words(MARKETPLACE_WORDS, case.get("marketplace"))),
        ("Claim reason", words(REASON_WORDS, case.get("claim_reason"), "not stated")),
        ("Deadline", _deadline_text(case)),
        ("Opened", when(case.get("created_at"))),
        ("Updated", when(case.get("updated_at"))),
    ]
    return ["| | |", "|---|---|", *(f"| {name} | {_md(value)} |" for name, value in rows)]


def _deadline_text(case: dict) -> str:
    """The deadline and whether the notice said so or claimwatch's policy assumed it: a seller
    should know when to check the marketplace's own figure."""
    text = when(case.get("deadline"), "not known yet")
    source = case.get("deadline_source") or ""
    if source == "stated":
        return f"{text} (stated in the notice)"
    if source.startswith("policy:"):
        return f"{text} (no deadline stated; claimwatch's default {source[7:]!r}, which errs early)"
    return text


def _checklist_lines(case: dict) -> list[str]:
    items = _checklist(case)
    if not items:
        return ["No checklist for this case."]
    lines = [_checklist_line(item) for item in items]
    missing = missing_items(case)
    if missing:
        lines += ["", f"{len(missing)} of {len(items)} missing: {_md(', '.join(missing))}."]
    else:
        lines += ["", f"Nothing missing: all {len(items)} items are present."]
    return lines


def _checklist_line(item: dict) -> str:
    tick = "x" if _has(item) else " "
    title = _md(item.get("title") or item.get("item"), 80)
    detail = _md(item.get("detail"), 200)
    return f"- [{tick}] {title} — {detail}" if detail else f"- [{tick}] {title}"


def _tracking_lines(case: dict) -> list[str]:
    lines = []
    for entry in case.get("tracking") or []:
        carrier = words(CARRIER_NAMES, entry.get("carrier"), "unknown carrier")
        lines.append(f"- {_md(carrier, 60)} {_md(entry.get('number'), 60)}{_source(entry)}")
    delivery = case.get("delivery")
    if isinstance(delivery, dict) and delivery.get("date"):
        lines.append(f"- Delivered: {when(delivery.get('date'))}{_source(delivery)}")
    return lines or ["No tracking number found yet."]


def _source(entry: dict) -> str:
    source = entry.get("source")
    return f" (from {_link(source.rsplit('/', 1)[-1], source)})" if source else ""


def _message_lines(case: dict) -> list[str]:
    lines = []
    for m in _messages(case):
        role = one_line(m.get("role") or "unknown", 20)
        decision = f", decision: {words(STATUS_WORDS, m['decision'])}" if m.get("decision") else ""
        lines.append(
            f"- {when(m.get('date'))} — {_link(m.get('subject') or '(no subject)', m.get('file'))}"
            f" — from {_md(m.get('from') or 'unknown sender', 200)}"
            f" — {words(LABEL_WORDS, m.get('label'), 'unlabelled')}, {role}{decision}"
        )
    return lines or ["No messages."]


def _attachment_lines(case: dict) -> list[str]:
    lines = []
    for a in case.get("attachments") or []:
        name = str(a.get("file") or "").rsplit("/", 1)[-1]
        kind = one_line(a.get("content_type") or "unknown type", 80)
        lines.append(f"- {_link(name, a.get('file'))} — {kind}, {_size(a.get('size'))}")
    for s in case.get("skipped_attachments") or []:
        lines.append(
            f"- Not kept: {_md(s.get('name'), SUBJECT_CHARS)} ({_size(s.get('size'))}):"
            f" {_md(s.get('reason'), 200)}"
        )
    return lines or ["No attachments."]


def _size(size: object) -> str:
    if not isinstance(size, int) or size < 0:
        return "size unknown"
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def _evidence_lines(case: dict) -> list[str]:
    files = case.get("evidence_files") or []
    lines = [f"- {_link(str(f).rsplit('/', 1)[-1], f)}" for f in files]
    return lines or ["None yet: put photos, proof of delivery or screenshots in evidence/."]


def _note_lines(case: dict) -> list[str]:
    notes = case.get("notes") or []
    lines = [f"- {when(n.get('at'))} — {_md(n.get('text'))}" for n in notes]
    return lines or ["No notes."]


def _timeline_lines(timeline: Iterable[dict]) -> list[str]:
    lines = []
    for entry in timeline:
        if isinstance(entry, dict):
            kind = one_line(entry.get("kind") or "unknown", 20)
            lines.append(f"- {when(entry.get('at'))} · {_md(kind)} · {_timeline_summary(entry)}")
    return lines or ["Nothing recorded yet."]


def _timeline_summary(entry: dict) -> str:
    kind = entry.get("kind")
    if kind == "message":
        subject = _md(entry.get("subject") or "(no subject)", SUBJECT_CHARS)
        moved = entry.get("status")
        after = f" (case now {words(STATUS_WORDS, moved)})" if moved else ""
        role = _md(entry.get("role") or "unknown", 20)
        label = words(LABEL_WORDS, entry.get("label"), "unlabelled")
        return f"{role}, {label}: {subject}{after}"
    if kind == "status":
        return f"{_md(entry.get('from') or '?', 40)} -> {_md(entry.get('status') or '?', 40)}"
    if kind == "note":
        return _md(entry.get("text"))
    if kind == "export":
        return _md(entry.get("file"), 500)
    return "(an entry of a kind this version does not know)"


# --- cases/index.html -----------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
.summary { color: #555; margin: 0 0 1em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.num { text-align: right; }
td.when, .status { white-space: nowrap; }
a { color: #0645ad; }
.status { font-weight: 600; border-radius: 3px; padding: .1em .4em; }
.status-open { background: #fde2e1; color: #a40000; }
.status-responded { background: #fff3cd; color: #7a5a00; }
.status-under_review { background: #e2ecfd; color: #0b3d91; }
tbody.final td, tbody.final a, tbody.final .status { color: #888; background: none; }
td.missing { color: #a40000; }
tr.empty td { text-align: center; color: #777; padding: 2em; }
"""

_COLUMNS = (
    "Case",
    "Status",
    "Kind",
    "Order",
    "Amount",
    "Reason",
    "Deadline",
    "Messages",
    "Evidence",
    "Updated",
    "Folder",
)


def render_index(
    cases: list[dict], generated_at: str, rows: MutableMapping[str, str] | None = None
) -> str:
    """cases/index.html: one self-contained page listing *cases* in the order given.

    No script, no external resource: it opens from ``file://`` with the network down. The caller
    sorts (see :func:`sort_cases`); *generated_at* is shown as given (an ISO time reads best).
    *rows* caches each case's rendered row by id: a caller that re-renders the page after each
    change drops the changed cases' rows from it, and the page costs one join, not one render
    per case.
    """
    active = sum(1 for case in cases if is_active(case))
    head = "".join(f"<th>{name}</th>" for name in _COLUMNS)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>claimwatch cases</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<h1>claimwatch cases</h1>",
            f'<p class="summary">{active} active, {len(cases)} total.'
            f" Generated {_h(when(generated_at, 'at an unknown time'))}.</p>",
            '<table id="cases">',
            f"<thead><tr>{head}</tr></thead>",
            *_index_bodies(cases, {} if rows is None else rows),
            "</table>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _h(value: object) -> str:
    return html.escape(one_line(value), quote=True)


def _index_bodies(cases: list[dict], rows: MutableMapping[str, str]) -> list[str]:
    """The rows in ``<tbody>`` groups, a new one each time activity changes, so the CSS can grey
    closed and final cases without a class on the row (``tr.case`` stays as it is)."""
    if not cases:
        colspan = len(_COLUMNS)
        return [f'<tbody><tr class="empty"><td colspan="{colspan}">No cases yet.</td></tr></tbody>']
    bodies: list[str] = []
    previous: bool | None = None
    for case in cases:
        active = is_active(case)
        if active != previous:
            if previous is not None:
                bodies.append("</tbody>")
            bodies.append('<tbody class="active">' if active else '<tbody class="final">')
            previous = active
        row = rows.get(case.get("id"))
        if row is None:
            row = rows[case.get("id")] = _index_row(case)
        bodies.append(row)
    bodies.append("</tbody>")
    return bodies


def _index_row(case: dict) -> str:
    case_id = str(case.get("id") or "")
    folder = quote(case_id, safe="") + "/"
    status = str(case.get("status") or "unknown")
    refs = references(case)
    order = refs[0] + (f" (+{len(refs) - 1})" if len(refs) > 1 else "") if refs else "—"
    cells = [
        f'<td><a href="{html.escape(folder)}README.md">{_h(case_id)}</a></td>',
        f'<td><span class="status status-{html.escape(quote(status, safe=""))}">'
        f"{_h(words(STATUS_WORDS, status))}</span></td>",
        f"<td>{_h(_label_words(case))}</td>",
        f"<td>{_h(order)}</td>",
        f'<td class="num">{_h(amount_text(case.get("amount")).replace("not known", "—"))}</td>',
        f"<td>{_h(words(REASON_WORDS, case.get('claim_reason'), '—'))}</td>",
        f'<td class="when">{_h(when(case.get("deadline"), "—"))}</td>',
        f'<td class="num">{len(_messages(case))}</td>',
        _checklist_cell(case),
        f'<td class="when">{_h(when(case.get("updated_at"), "—"))}</td>',
        f'<td><a href="{html.escape(folder)}">folder</a></td>',
    ]
    return f'<tr class="case" data-case-id="{_h(case_id)}">{"".join(cells)}</tr>'


def _checklist_cell(case: dict) -> str:
    items = _checklist(case)
    if not items:
        return "<td>—</td>"
    missing = missing_items(case)
    title = "Missing: " + ", ".join(missing) if missing else "Nothing missing"
    css = ' class="missing"' if missing else ""
    count = f"{len(items) - len(missing)}/{len(items)}"
    return f'<td{css} title="{_h(title)}">{count}</td>'


# --- order ----------------------------------------------------------------------------------------


def sort_cases(cases: list[dict]) -> list[dict]:
    """*cases*, most urgent first (a new list; *cases* is left as it is).

    Active cases (open, responded, under review) come first: the nearest deadline first, cases
    without a known deadline after the dated ones, then A-to-z before chargeback before at-risk,
    then the oldest first. The others follow, the most recently updated first. Ties go by id, so
    the order is the same on every run.
    """
    active = sorted((c for c in cases if is_active(c)), key=_urgency)
    inactive = sorted((c for c in cases if not is_active(c)), key=_recency)
    return active + inactive


def _timestamp(value: object) -> float | None:
    parsed = parse_time(value)
    return None if parsed is None else parsed.timestamp()


def _urgency(case: dict) -> tuple:
    deadline = _timestamp(case.get("deadline"))
    created = _timestamp(case.get("created_at"))
    return (
        deadline is None,
        deadline or 0.0,
        LABEL_SEVERITY.get(str(case.get("label")), len(LABEL_SEVERITY)),
        created is None,
        created or 0.0,
        str(case.get("id")),
    )


def _recency(case: dict) -> tuple:
    updated = _timestamp(case.get("updated_at"))
    return (updated is None, -(updated or 0.0), str(case.get("id")))
