"""The human views of a case: README.md and cases/index.html, the latter also in a real Chromium."""

from __future__ import annotations

import copy
import os
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support import require

from evidence_store.views import render_index, render_readme, sort_cases

CHROMIUM = "/usr/bin/chromium"
HOSTILE = "<img src=x onerror=alert(1)>"

SAMPLE = {
    "format": 1,
    "id": "order-171-5551234-7654321",
    "status": "open",
    "label": "a_to_z",
    "labels": ["a_to_z", "at_risk"],
    "marketplace": "amazon",
    "language": "fr",
    "claim_reason": "not_received",
    "created_at": "2026-11-20T09:30:12+00:00",
    "updated_at": "2026-11-21T08:00:03+00:00",
    "deadline": None,
    "order_ids": ["171-5551234-7654321"],
    "payment_refs": [],
    "shop_orders": [],
    "claim_ids": [],
    "amount": {"value": "89.90", "currency": "EUR"},
    "tracking": [
        {
            "carrier": "ups",
            "number": "1Z999AA10123456784",
            "source": "messages/2026-10-28T1012-routine-3f2a9c1b.eml",
        }
    ],
    "delivery": {
        "date": "2026-10-30T14:02:00+00:00",
        "source": "messages/2026-10-30T1402-routine-77aa01cd.eml",
    },
    "messages": [
        {
            "file": "messages/2026-10-28T1012-routine-3f2a9c1b.eml",
            "date": "2026-10-28T10:12:00+00:00",
            "from": "ship-confirm@amazon.fr",
            "subject": "Votre colis a été expédié",
            "label": "routine",
            "role": "history",
            "decision": None,
        },
        {
            "file": "messages/2026-11-20T0930-a_to_z-0b1c2d3e.eml",
            "date": "2026-11-20T09:30:00+00:00",
            "from": "atoz-guarantee-no-reply@amazon.fr",
            "subject": "Réclamation au titre de la garantie A-to-z",
            "label": "a_to_z",
            "role": "opened",
            "decision": "open",
        },
    ],
    "attachments": [
        {
            "file": "attachments/photo.jpg",
            "sha256": "9f8e",
            "size": 48211,
            "content_type": "image/jpeg",
            "source": "messages/2026-11-19T1800-at_risk-aa11bb22.eml",
        }
    ],
    "skipped_attachments": [
        {
            "name": "video.mp4",
            "size": 90000000,
            "reason": "larger than the 25 MiB cap",
            "source": "messages/x.eml",
        }
    ],
    "evidence_files": ["evidence/proof of delivery.pdf"],
    "checklist": [
        {"item": "carrier", "title": "Carrier", "present": True, "detail": "UPS"},
        {
            "item": "tracking_number",
            "title": "Tracking number",
            "present": True,
            "detail": "1Z999AA10123456784",
        },
        {
            "item": "delivery_date",
            "title": "Delivery date",
            "present": True,
            "detail": "2026-10-30",
        },
        {
            "item": "proof_of_delivery",
            "title": "Proof of delivery",
            "present": False,
            "detail": "add it to evidence/ (e.g. evidence/proof-of-delivery.pdf)",
        },
    ],
    "notes": [
        {"at": "2026-11-20T10:00:00+00:00", "text": "Called UPS, photo of doorstep requested"}
    ],
    "exports": [{"at": "2026-11-20T11:00:00+00:00", "file": "/home/x/claim.zip"}],
}

TIMELINE = [
    {
        "kind": "message",
        "at": "2026-11-20T09:30:12+00:00",
        "role": "history",
        "file": "messages/2026-10-28T1012-routine-3f2a9c1b.eml",
        "subject": "Votre colis a été expédié",
        "label": "routine",
        "status": None,
    },
    {
        "kind": "message",
        "at": "2026-11-20T09:30:12+00:00",
        "role": "opened",
        "file": "messages/2026-11-20T0930-a_to_z-0b1c2d3e.eml",
        "subject": "Réclamation au titre de la garantie A-to-z",
        "label": "a_to_z",
        "status": None,
    },
    {"kind": "note", "at": "2026-11-20T10:00:00+00:00", "text": "Called UPS"},
    {"kind": "export", "at": "2026-11-20T11:00:00+00:00", "file": "/home/x/claim.zip"},
    {"kind": "status", "at": "2026-11-21T08:00:03+01:00", "status": "responded", "from": "open"},
]


def case(**changes) -> dict:
    """A deep copy of SAMPLE with *changes* applied."""
    result = copy.deepcopy(SAMPLE)
    result.update(changes)
    return result


def section(markdown: str, title: str) -> list[str]:
    """The non-empty lines of the ``## title`` section of *markdown*."""
    lines = markdown.splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [line for line in lines[start:end] if line]


# --- README.md ------------------------------------------------------------------------------------


def test_readme_tells_what_happened_with_the_facts():
    text = render_readme(SAMPLE, TIMELINE)
    assert text.splitlines()[0] == "# A-to-z Guarantee claim: order-171-5551234-7654321"
    what = " ".join(section(text, "What happened"))
    assert "order 171-5551234-7654321" in what
    assert "item not received" in what
    assert "atoz-guarantee-no-reply@amazon.fr" in what
    assert "2026-11-20 09:30 UTC" in what
    assert "Latest decision: open" in what
    facts = section(text, "Facts")
    assert "| Status | open |" in facts
    assert "| Order id | 171-5551234-7654321 |" in facts
    assert "| Amount | 89.90 EUR |" in facts
    assert "| Marketplace | Amazon |" in facts
    assert "| Claim reason | item not received |" in facts
    assert "| Deadline | not known yet |" in facts
    assert "| Opened | 2026-11-20 09:30 UTC |" in facts


def test_readme_names_every_reference_and_a_known_deadline():
    text = render_readme(
        case(
            label="chargeback",
            order_ids=[],
            payment_refs=["P01-1234567-1234567"],
            claim_ids=["98765432", "98765433"],
            deadline="2026-11-24T18:00:00+01:00",
        ),
        [],
    )
    assert text.startswith("# Chargeback: ")
    facts = section(text, "Facts")
    assert "| Payment reference | P01-1234567-1234567 |" in facts
    assert "| Claim ids | 98765432, 98765433 |" in facts
    assert not any(line.startswith("| Order id") for line in facts)
    assert "| Deadline | 2026-11-24 18:00 +01:00 |" in facts


def test_readme_checklist_ticks_present_items_and_counts_the_missing():
    lines = section(render_readme(SAMPLE, TIMELINE), "Evidence checklist")
    assert lines == [
        "- [x] Carrier — UPS",
        "- [x] Tracking number — 1Z999AA10123456784",
        "- [x] Delivery date — 2026-10-30",
        "- [ ] Proof of delivery — add it to evidence/ (e.g. evidence/proof-of-delivery.pdf)",
        "1 of 4 missing: Proof of delivery.",
    ]


def test_readme_lists_tracking_messages_attachments_and_evidence_as_links():
    text = render_readme(SAMPLE, TIMELINE)
    tracking = section(text, "Tracking")
    assert tracking[0].startswith("- UPS 1Z999AA10123456784 (from [")
    assert "(messages/2026-10-28T1012-routine-3f2a9c1b.eml))" in tracking[0]
    assert tracking[1].startswith("- Delivered: 2026-10-30 14:02 UTC")
    messages = section(text, "Messages")
    assert len(messages) == 2
    assert (
        "[Réclamation au titre de la garantie A-to-z](messages/2026-11-20T0930-a_to_z-0b1c2d3e.eml)"
        in messages[1]
    )
    assert "from atoz-guarantee-no-reply@amazon.fr" in messages[1]
    assert "A-to-z Guarantee claim, opened" in messages[1]
    assert "2026-11-20 09:30 UTC" in messages[1]
    assert "Routine message, history" in messages[0]
    attachments = section(text, "Attachments")
    assert attachments[0] == "- [photo.jpg](attachments/photo.jpg) — image/jpeg, 47.1 KiB"
    assert attachments[1].startswith("- Not kept: video.mp4 (85.8 MiB): larger than")
    evidence = section(text, "Your evidence files")
    assert evidence == ["- [proof of delivery.pdf](evidence/proof%20of%20delivery.pdf)"]
    assert section(text, "Notes") == [
        "- 2026-11-20 10:00 UTC — Called UPS, photo of doorstep requested"
    ]


def test_readme_timeline_has_one_line_per_entry_in_file_order():
    assert section(render_readme(SAMPLE, TIMELINE), "Timeline") == [
        "- 2026-11-20 09:30 UTC · message · history, Routine message: Votre colis a été expédié",
        "- 2026-11-20 09:30 UTC · message · opened, A-to-z Guarantee claim:"
        " Réclamation au titre de la garantie A-to-z",
        "- 2026-11-20 10:00 UTC · note · Called UPS",
        "- 2026-11-20 11:00 UTC · export · /home/x/claim.zip",
        "- 2026-11-21 08:00 +01:00 · status · open -> responded",
    ]


def test_readme_keeps_a_hostile_subject_or_note_on_one_short_line():
    forged = "Refund\r\n- [x] Proof of delivery — forged\u2028## Timeline\n" + "x" * 500
    hostile = case(
        messages=[{**SAMPLE["messages"][1], "subject": forged}],
        notes=[{"at": "2026-11-20T10:00:00+00:00", "text": "line one\nline two\x00"}],
    )
    timeline = [
        {
            "kind": "message",
            "at": "2026-11-20T09:30:12+00:00",
            "role": "opened",
            "label": "a_to_z",
            "subject": forged,
        },
        {"kind": "note", "at": "2026-11-20T10:00:00+00:00", "text": "line one\nline two"},
    ]
    text = render_readme(hostile, timeline)
    assert "\x00" not in text and "\u2028" not in text and "\r" not in text
    assert text.splitlines().count("## Timeline") == 1
    assert "- [x] Proof of delivery" not in text  # the forged tick stayed inside the subject
    assert len(section(text, "Messages")) == 1
    assert len(section(text, "Timeline")) == 2
    assert section(text, "Notes") == ["- 2026-11-20 10:00 UTC — line one line two"]
    line = section(text, "Timeline")[0]
    subject = line.split(" · opened, A-to-z Guarantee claim: ", 1)[1].replace("\\", "")
    assert subject.startswith("Refund - [x] Proof of delivery — forged ## Timeline xxx")
    assert subject.endswith("…")
    assert len(subject) <= 120


def test_readme_of_a_bare_case_says_what_is_not_known_yet():
    bare = case(
        label="at_risk",
        claim_reason=None,
        amount=None,
        delivery=None,
        order_ids=[],
        tracking=[],
        messages=[],
        attachments=[],
        skipped_attachments=[],
        evidence_files=[],
        checklist=[],
        notes=[],
    )
    text = render_readme(bare, [])
    assert text.startswith("# Buyer at risk of claiming: ")
    assert "| Amount | not known |" in text
    assert "| Claim reason | not stated |" in text
    assert "| Order id | none found yet |" in text
    assert section(text, "Tracking") == ["No tracking number found yet."]
    assert section(text, "Messages") == ["No messages."]
    assert section(text, "Timeline") == ["Nothing recorded yet."]
    assert section(text, "Evidence checklist") == ["No checklist for this case."]


# --- cases/index.html -----------------------------------------------------------------------------


class Dom(HTMLParser):
    """The rows (``tr.case``), their cells and every element name seen in a page."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[dict] = []
        self.tags: list[str] = []
        self.links: list[str] = []
        self.table_ids: list[str] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append(tag)
        if tag == "table":
            self.table_ids.append(attributes.get("id") or "")
        if tag == "a":
            self.links.append(attributes.get("href") or "")
        if tag == "tr" and "case" in (attributes.get("class") or "").split():
            self.rows.append({"id": attributes.get("data-case-id"), "cells": [], "titles": []})
        if tag == "td" and self.rows:
            self._cell = []
            self.rows[-1]["titles"].append(attributes.get("title"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1]["cells"].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def three_cases() -> list[dict]:
    hostile = case(
        id=f"thread-{HOSTILE}",
        label="at_risk",
        order_ids=[HOSTILE],
        checklist=[{"item": "x", "title": HOSTILE, "present": False, "detail": HOSTILE}],
        amount={"value": "1", "currency": "<script>alert(2)</script>"},
    )
    closed = case(id="pay-P01-1234567-1234567", status="denied", label="chargeback", order_ids=[])
    closed["payment_refs"] = ["P01-1234567-1234567"]
    return [case(deadline="2026-11-22T18:00:00+00:00"), hostile, closed]


def test_index_lists_cases_in_the_given_order_with_their_facts():
    page = render_index(three_cases(), "2026-11-21T08:00:03+00:00")
    dom = Dom(page)
    assert dom.table_ids == ["cases"]
    assert "<title>claimwatch cases</title>" in page
    assert "2 active, 3 total." in page
    ids = [row["id"] for row in dom.rows]
    assert ids == ["order-171-5551234-7654321", f"thread-{HOSTILE}", "pay-P01-1234567-1234567"]
    first = dom.rows[0]["cells"]
    assert first == [
        "order-171-5551234-7654321",
        "open",
        "A-to-z Guarantee claim",
        "171-5551234-7654321",
        "89.90 EUR",
        "item not received",
        "2026-11-22 18:00 UTC",
        "2",
        "3/4",
        "2026-11-21 08:00 UTC",
        "folder",
    ]
    assert dom.rows[0]["titles"][8] == "Missing: Proof of delivery"
    last = dom.rows[2]["cells"]
    assert last[1:4] == ["denied (in your favour)", "Chargeback", "P01-1234567-1234567"]
    assert last[6] == "—"
    assert "order-171-5551234-7654321/README.md" in dom.links
    assert "order-171-5551234-7654321/" in dom.links
    assert '<tbody class="final">' in page


def test_index_escapes_everything_that_came_from_mail():
    page = render_index(three_cases(), "<script>alert(3)</script>")
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    dom = Dom(page)
    assert "img" not in dom.tags and "script" not in dom.tags
    hostile = dom.rows[1]
    assert hostile["id"] == f"thread-{HOSTILE}"  # escaped in the markup, intact as a value
    assert hostile["cells"][0] == f"thread-{HOSTILE}"
    assert hostile["cells"][3] == HOSTILE
    assert hostile["titles"][8] == f"Missing: {HOSTILE}"
    href = "thread-%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/README.md"
    assert href in dom.links


def test_index_link_cannot_leave_the_cases_folder_or_change_scheme():
    dom = Dom(render_index([case(id="javascript:alert(1)//x/../../etc")], "now"))
    assert dom.links[0] == "javascript%3Aalert%281%29%2F%2Fx%2F..%2F..%2Fetc/README.md"


def test_index_of_no_cases_says_so():
    page = render_index([], "2026-11-21T08:00:03+00:00")
    dom = Dom(page)
    assert dom.rows == []
    assert "No cases yet." in "".join(dom.text)
    assert "0 active, 0 total." in page


# --- order ----------------------------------------------------------------------------------------


def summary(case_id, status="open", label="a_to_z", deadline=None, created=None, updated=None):
    return {
        "id": case_id,
        "status": status,
        "label": label,
        "deadline": deadline,
        "created_at": created or "2026-11-20T09:00:00+00:00",
        "updated_at": updated or "2026-11-20T09:00:00+00:00",
    }


SORT_CASES = [
    pytest.param(
        [
            summary("late", deadline="2026-11-25T00:00:00+00:00"),
            summary("none"),
            summary("soon", deadline="2026-11-22T00:00:00+00:00"),
        ],
        ["soon", "late", "none"],
        id="nearest-deadline-first-then-undated",
    ),
    pytest.param(
        [
            summary("utc", deadline="2026-11-22T10:00:00+00:00"),
            summary("paris", deadline="2026-11-22T10:30:00+01:00"),
        ],
        ["paris", "utc"],
        id="deadlines-compared-across-time-zones",
    ),
    pytest.param(
        [summary("risk", label="at_risk"), summary("cb", label="chargeback"), summary("az")],
        ["az", "cb", "risk"],
        id="severity-when-no-deadline",
    ),
    pytest.param(
        [
            summary("risk-soon", label="at_risk", deadline="2026-11-21T00:00:00+00:00"),
            summary("az-later", deadline="2026-11-23T00:00:00+00:00"),
        ],
        ["risk-soon", "az-later"],
        id="deadline-outranks-severity",
    ),
    pytest.param(
        [
            summary("new", created="2026-11-20T12:00:00+00:00"),
            summary("old", created="2026-11-19T12:00:00+00:00"),
        ],
        ["old", "new"],
        id="oldest-first-on-a-tie",
    ),
    pytest.param(
        [
            summary("closed-old", status="closed", deadline="2026-11-01T00:00:00+00:00"),
            summary("closed-new", status="denied", updated="2026-11-21T00:00:00+00:00"),
            summary("review", status="under_review"),
            summary("answered", status="responded", label="at_risk"),
        ],
        ["review", "answered", "closed-new", "closed-old"],
        id="active-first-then-recently-updated",
    ),
    pytest.param([], [], id="empty"),
]


@pytest.mark.parametrize(("cases", "expected"), SORT_CASES)
def test_sort_cases_puts_the_most_urgent_first(cases, expected):
    original = [c["id"] for c in cases]
    assert [c["id"] for c in sort_cases(cases)] == expected
    assert [c["id"] for c in cases] == original  # the caller's list is left alone


# --- in a real browser ----------------------------------------------------------------------------


def require_chromium() -> None:
    """Skip on a developer machine without Chromium; fail when CI is set, so CI cannot go green
    by skipping the only test that renders the page."""
    missing = f"{CHROMIUM} is missing (tests/setup test installs it: apt-get install -y chromium)"
    require(None if os.access(CHROMIUM, os.X_OK) else missing, "the browser test")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def test_index_renders_in_headless_chromium(tmp_path):
    require_chromium()
    cases_dir = tmp_path / "cases"
    cases_dir.mkdir()
    index = cases_dir / "index.html"
    index.write_text(render_index(three_cases(), "2026-11-21T08:00:03+00:00"), encoding="utf-8")

    dumped = chromium(tmp_path, "--dump-dom", index.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = Dom(dumped.stdout)
    assert [row["id"] for row in dom.rows] == [
        "order-171-5551234-7654321",
        f"thread-{HOSTILE}",
        "pay-P01-1234567-1234567",
    ]
    assert dom.table_ids == ["cases"]
    assert "img" not in dom.tags and "script" not in dom.tags
    assert dom.rows[1]["cells"][3] == HOSTILE  # shown as text, not run

    screenshot = tmp_path / "index.png"
    shot = chromium(
        tmp_path, f"--screenshot={screenshot}", "--window-size=1280,800", index.as_uri()
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 5000
