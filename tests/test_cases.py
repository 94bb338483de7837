"""Cases: routing by order, reference and thread, history, late evidence, status lifecycle,
attachments (hostile names, duplicates, size cap), idempotent refiling and crash repair.

The verdict of each message is set by the test, so these tests pin the evidence store, not the
classifier; everything else is real: parsed mail, the message index, case folders on disk.
"""

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sellermail
from sellermail import PNG
from support import claimwatch

from classifier.triage import Verdict
from daemon.message import Attachment, parse_message
from daemon.triage import index_entry
from evidence_store.cases import CaseStore, case_id_for, find_case, update_case
from evidence_store.checklist import items_for
from evidence_store.commands import set_status
from evidence_store.folder import CaseFolder
from evidence_store.index import MessageIndex
from evidence_store.summary import summarize

ORDER = "171-5551234-7654321"
START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
TIERS = {"a_to_z": 1, "chargeback": 1, "at_risk": 1, "routine": 2}


class Mailbox:
    """A spool directory, the index and the case store, as the daemon wires them."""

    def __init__(self, root: Path, cap: int = 25 * 1024 * 1024) -> None:
        self.root = root
        self.spool = root / "spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        self.index = MessageIndex(root / "index")
        self.cap = cap
        self.store = self.open_store()
        self.count = 0

    def open_store(self) -> CaseStore:
        read = lambda name: (self.spool / name).read_bytes()  # noqa: E731
        return CaseStore(self.root / "cases", self.index, read, attachment_max_bytes=self.cap)

    def receive(self, raw: bytes, label: str) -> str | None:
        """Spool, index and file one message with the verdict *label*; returns its case id."""
        self.count += 1
        name = f"msg{self.count:04d}"
        (self.spool / name).write_bytes(raw)
        message = parse_message(raw)
        verdict = Verdict(label, TIERS[label], 0.99, False, ("test",), "test")
        entry = index_entry(name, {}, message, verdict)
        self.index.add(entry)
        case_id = self.store.file(entry, message)
        self.store.flush()
        return case_id

    def case(self, case_id: str) -> dict:
        return json.loads((self.root / "cases" / case_id / "case.json").read_text())

    def timeline(self, case_id: str) -> list[dict]:
        return CaseFolder(self.root / "cases" / case_id).read_timeline()


@pytest.fixture
def box(tmp_path):
    mailbox = Mailbox(tmp_path / "data")
    yield mailbox
    mailbox.index.close()


def test_a_claim_gathers_the_orders_earlier_messages(box):
    assert box.receive(sellermail.shipping(ORDER, START), "routine") is None  # no case yet
    case_id = box.receive(sellermail.claim(ORDER, START + timedelta(days=21)), "a_to_z")
    assert case_id == f"order-{ORDER}"
    case = box.case(case_id)
    assert [(m["role"], m["label"]) for m in case["messages"]] == [
        ("history", "routine"),
        ("opened", "a_to_z"),
    ]
    assert case["tracking"][0]["number"] == sellermail.UPS
    assert case["tracking"][0]["source"] == case["messages"][0]["file"]
    assert case["status"] == "open"
    assert case["claim_reason"] == "not_received"
    assert case["amount"] == {"value": "89.90", "currency": "EUR"}
    assert case["deadline"] == (START + timedelta(days=24)).isoformat()  # "within 3 calendar days"
    checklist = {item["item"]: item["present"] for item in case["checklist"]}
    assert checklist == {
        "carrier": True,
        "tracking_number": True,
        "delivery_date": False,
        "proof_of_delivery": False,
    }


def test_evidence_arriving_after_the_claim_joins_the_case(box):
    case_id = box.receive(sellermail.claim(ORDER, START + timedelta(days=21)), "a_to_z")
    assert box.case(case_id)["tracking"] == []
    # a re-synced folder brings the older shipping confirmation, then a delivery notice
    assert box.receive(sellermail.shipping(ORDER, START), "routine") == case_id
    assert box.receive(sellermail.delivered(ORDER, START + timedelta(days=3)), "routine") == case_id
    case = box.case(case_id)
    assert [m["role"] for m in case["messages"]] == ["opened", "evidence", "evidence"]
    assert [t["number"] for t in case["tracking"]] == [sellermail.UPS]
    assert case["delivery"]["date"].startswith("2026-10-04")
    assert all(item["present"] for item in case["checklist"][:3])


def test_reminder_and_decision_join_and_move_the_status(box):
    case_id = box.receive(sellermail.claim(ORDER, START), "a_to_z")
    assert box.receive(sellermail.reminder(ORDER, START + timedelta(days=1)), "a_to_z") == case_id
    assert box.case(case_id)["status"] == "open"
    box.receive(sellermail.decision(ORDER, START + timedelta(days=3), "denied"), "a_to_z")
    assert box.case(case_id)["status"] == "denied"
    # a late reminder does not reopen a decided claim; an appeal's outcome replaces the first
    box.receive(sellermail.reminder(ORDER, START + timedelta(days=4)), "a_to_z")
    assert box.case(case_id)["status"] == "denied"
    box.receive(
        sellermail.decision(ORDER, START + timedelta(days=9), "granted_amazon_funded"), "a_to_z"
    )
    assert box.case(case_id)["status"] == "granted_amazon_funded"
    timeline = box.timeline(case_id)
    assert [line["status"] for line in timeline] == [
        None,
        None,
        "denied",
        None,
        "granted_amazon_funded",
    ]
    visible = [n for n in os.listdir(box.root / "cases") if not n.startswith(".")]
    assert sorted(visible) == ["index.html", case_id]


def test_a_buyer_reply_in_the_thread_joins_without_an_order_id(box):
    first = _plain("buyer@example.com", "My parcel", "Where is my parcel? I paid 3 weeks ago!")
    case_id = box.receive(first, "at_risk")
    assert case_id.startswith("thread-")
    root_id = parse_message(first).message_id
    reply = _plain("buyer@example.com", "Re: My parcel", "Still nothing.", reply_to=root_id)
    assert box.receive(reply, "at_risk") == case_id
    assert len(box.case(case_id)["messages"]) == 2


def test_a_report_naming_many_orders_joins_no_case(box):
    case_id = box.receive(sellermail.claim(ORDER, START), "a_to_z")
    orders = [ORDER, "171-1111111-2222222", "171-3333333-4444444", "171-5555555-6666666"]
    report = _plain("payments@amazon.com", "Settlement report", "Orders: " + ", ".join(orders))
    assert box.receive(report, "routine") is None
    assert len(box.case(case_id)["messages"]) == 1


def test_filing_the_same_message_twice_changes_nothing(box):
    case_id = box.receive(sellermail.claim(ORDER, START), "a_to_z")
    before = (box.root / "cases" / case_id / "timeline.jsonl").read_bytes()
    entry = box.index.get("msg0001")
    message = parse_message((box.spool / "msg0001").read_bytes())
    assert box.store.file(entry, message) == case_id
    assert (box.root / "cases" / case_id / "timeline.jsonl").read_bytes() == before


HOSTILE_NAMES = [
    "../../evil.sh",
    "/etc/passwd",
    "..\\..\\windows\\system32\\evil.exe",
    "photo\x00.png.exe",
    "CON",
    ".hidden",
    "a" * 400 + ".png",
    "tab\tbreak.png",
    "\u202egnp.exe",
]


def test_hostile_attachment_names_never_escape_the_case_folder(box, tmp_path):
    photos = [(name, PNG + name.encode("utf-8", "surrogateescape")) for name in HOSTILE_NAMES]
    case_id = box.receive(sellermail.buyer_damaged(ORDER, START, photos), "at_risk")
    folder = box.root / "cases" / case_id
    stored = sorted((folder / "attachments").iterdir())
    assert len(stored) == len(HOSTILE_NAMES)
    for path in stored:
        assert path.parent == folder / "attachments"
        assert not path.name.startswith(".")
        assert len(path.name.encode()) <= 255
        assert not any(c in path.name for c in "/\\\x00\t\u202e")
    outside = {p for p in tmp_path.rglob("*") if folder not in p.parents and p != folder}
    assert not [p for p in outside if "evil" in p.name or "passwd" in p.name]


def test_an_attachment_built_with_a_hostile_name_is_cleaned_again(tmp_path):
    folder = CaseFolder(tmp_path / "cases" / "order-1")
    payload = b"evidence"
    sha = hashlib.sha256(payload).hexdigest()
    attachment = Attachment("../../../escaped.txt", "text/plain", len(payload), payload, sha)
    with folder.locked():
        stored, skipped = folder.store_attachment(attachment, {}, cap=1000)
    assert skipped is None
    assert stored["file"] == "attachments/escaped.txt"
    assert (folder.path / "attachments" / "escaped.txt").read_bytes() == payload
    assert not (tmp_path / "escaped.txt").exists()


def test_a_duplicate_attachment_is_stored_once(box):
    case_id = box.receive(sellermail.buyer_damaged(ORDER, START, [("photo.png", PNG)]), "at_risk")
    again = sellermail.buyer_damaged(ORDER, START + timedelta(hours=2), [("IMG_0001.png", PNG)])
    assert box.receive(again, "at_risk") == case_id
    other = PNG + b"other"
    box.receive(sellermail.buyer_damaged(ORDER, START, [("photo.png", other)]), "at_risk")
    folder = box.root / "cases" / case_id
    assert sorted(os.listdir(folder / "attachments")) == ["photo-2.png", "photo.png"]
    case = box.case(case_id)
    assert [a["file"] for a in case["attachments"]] == [
        "attachments/photo.png",
        "attachments/photo.png",
        "attachments/photo-2.png",
    ]
    assert {item["item"]: item["present"] for item in case["checklist"]}["photos"] is True


def test_an_attachment_over_the_cap_is_listed_not_copied(tmp_path):
    box = Mailbox(tmp_path / "data", cap=10)
    try:
        case_id = box.receive(sellermail.buyer_damaged(ORDER, START, [("big.png", PNG)]), "at_risk")
    finally:
        box.index.close()
    case = box.case(case_id)
    assert case["attachments"] == []
    assert case["skipped_attachments"][0]["name"] == "big.png"
    assert "10 byte cap" in case["skipped_attachments"][0]["reason"]
    assert not (tmp_path / "data" / "cases" / case_id / "attachments").exists()
    # the original message, with the attachment inside, is kept byte for byte
    kept = tmp_path / "data" / "cases" / case_id / case["messages"][0]["file"]
    assert kept.read_bytes() == (tmp_path / "data" / "spool" / "msg0001").read_bytes()


CASE_IDS = [
    ({"order_ids": [ORDER], "payment_refs": ["P01-1234567-1234567"]}, f"order-{ORDER}"),
    ({"payment_refs": ["P01-1234567-1234567"]}, "pay-P01-1234567-1234567"),
    ({"payment_refs": ["dp_1NvXyzAbCdEfGhIj"]}, "dispute-dp_1NvXyzAbCdEfGhIj"),
    ({"shop_orders": ["#1344"], "claim_ids": ["4455667788"]}, "shop-1344"),
    ({"claim_ids": ["R-20261"]}, "claim-R-20261"),
    ({"claim_ids": ["../../x/1234"]}, "claim-.._.._x_1234"),
]


@pytest.mark.parametrize(("refs", "expected"), CASE_IDS)
def test_case_ids_are_readable_and_stable(refs, expected):
    assert case_id_for({"spool_file": "x"} | refs) == expected


def test_a_thread_case_is_named_after_the_threads_root():
    root = {"spool_file": "a", "message_id": "<root@x>"}
    reply = {"spool_file": "b", "message_id": "<r@x>", "references": ["<root@x>"]}
    assert case_id_for(root) == case_id_for(reply)
    assert case_id_for(root).startswith("thread-")


CHECKLISTS = [
    (
        "a_to_z",
        "not_received",
        ("carrier", "tracking_number", "delivery_date", "proof_of_delivery"),
    ),
    ("at_risk", "damaged", ("photos", "listing", "packing_evidence")),
    ("a_to_z", "not_as_described", ("photos", "listing", "packing_evidence")),
    ("a_to_z", "refund_after_return", ("return_tracking", "refund_proof")),
    ("chargeback", None, ("order_details", "delivery_proof", "buyer_communication")),
    (
        "chargeback",
        "not_received",
        (
            "carrier",
            "tracking_number",
            "delivery_date",
            "proof_of_delivery",
            "order_details",
            "delivery_proof",
            "buyer_communication",
        ),
    ),
]


@pytest.mark.parametrize(("label", "reason", "items"), CHECKLISTS)
def test_the_checklist_follows_the_claim_reason(label, reason, items):
    assert items_for(label, reason) == items


def test_files_the_seller_adds_to_evidence_tick_the_checklist(box):
    case_id = box.receive(sellermail.claim(ORDER, START), "a_to_z")
    evidence = box.root / "cases" / case_id / "evidence"
    evidence.mkdir()
    (evidence / "preuve-de-livraison.pdf").write_bytes(b"%PDF-1.4")
    case = update_case(CaseFolder(box.root / "cases" / case_id), _note("POD from UPS"))
    proof = next(i for i in case["checklist"] if i["item"] == "proof_of_delivery")
    assert proof == {
        "item": "proof_of_delivery",
        "title": "Proof of delivery",
        "present": True,
        "detail": "evidence/preuve-de-livraison.pdf",
    }


def test_a_restart_rebuilds_case_json_from_the_timeline(box):
    case_id = box.receive(sellermail.claim(ORDER, START), "a_to_z")
    folder = box.root / "cases" / case_id
    good = json.loads((folder / "case.json").read_text())
    (folder / "case.json").write_text('{"status": "stale"')  # as if killed mid-rewrite (no rename)
    (folder / ".case.json.1234.tmp").write_text("partial")  # a killed writer's temp file
    box.store = box.open_store()
    assert json.loads((folder / "case.json").read_text()) == good
    assert not list(folder.glob(".*.tmp"))


def test_a_torn_timeline_line_is_cut_before_the_next_append(box):
    case_id = box.receive(sellermail.claim(ORDER, START), "a_to_z")
    path = box.root / "cases" / case_id / "timeline.jsonl"
    with path.open("ab") as f:
        f.write(b'{"kind": "message", "spool_file": "msg0009", "fi')  # killed mid-append
    folder = CaseFolder(path.parent)
    assert len(folder.read_timeline()) == 1
    box.receive(sellermail.reminder(ORDER, START + timedelta(days=1)), "a_to_z")
    lines = path.read_bytes().splitlines()
    assert [json.loads(line)["role"] for line in lines] == ["opened", "joined"]
    case = box.case(case_id)
    assert case == summarize(case_id, folder.read_timeline(), [])


def test_index_html_lists_every_case(box):
    first = box.receive(sellermail.claim(ORDER, START), "a_to_z")
    second = box.receive(sellermail.claim("171-0000001-0000002", START), "a_to_z")
    page = (box.root / "cases" / "index.html").read_text()
    assert f'data-case-id="{first}"' in page and f'data-case-id="{second}"' in page


def test_find_case_by_id_reference_or_prefix(box):
    case_id = box.receive(sellermail.claim(ORDER, START), "a_to_z")
    box.receive(sellermail.claim("171-0000001-0000002", START), "a_to_z")
    cases = box.root / "cases"
    assert find_case(cases, case_id).id == case_id
    assert find_case(cases, ORDER).id == case_id
    assert find_case(cases, "order-171-555").id == case_id
    with pytest.raises(Exception, match="matches 2 cases"):
        find_case(cases, "order-171")
    with pytest.raises(Exception, match=r"no case matches '\.\./etc'"):
        find_case(cases, "../etc")


def _note(text: str) -> dict:
    return {"kind": "note", "at": "2026-11-22T10:00:00+00:00", "text": text}


def _plain(sender: str, subject: str, body: str, reply_to: str | None = None) -> bytes:
    return sellermail.message(sender, subject, body, START, reply_to=reply_to)


def test_case_open_hands_the_folder_to_xdg_open(box, tmp_path):
    """No desktop here: a stand-in xdg-open on PATH records what it was asked to open."""
    case_id = box.receive(sellermail.claim(ORDER, START), "a_to_z")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opener = bin_dir / "xdg-open"
    opener.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "opened"}\n')
    opener.chmod(0o755)
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{box.root}"\n')
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = claimwatch("case", ORDER, "open", "--config", str(config), env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "opened").read_text().strip() == str(box.root / "cases" / case_id)
    case = json.loads((box.root / "cases" / case_id / "case.json").read_text())
    assert case["acknowledged_at"] is not None  # looking at the case meets its ack target
    assert case["acknowledge_by"] is None
    env["PATH"] = "/nonexistent"
    missing = claimwatch("case", ORDER, "open", "--config", str(config), env=env)
    assert missing.returncode == 1 and "xdg-open not found" in missing.stderr
    config.write_text(f'data_dir = "{box.root}"\nopen_command = "{opener} --new-window"\n')
    done = claimwatch("case", ORDER, "open", "--config", str(config), env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "opened").read_text().split() == [
        "--new-window",
        str(box.root / "cases" / case_id),
    ]


def test_the_daemons_index_keeps_what_a_case_command_changed(box):
    """A status set with 'claimwatch case' while the daemon runs must survive its next rewrite
    of index.html (the daemon holds every case in memory)."""
    first = box.receive(sellermail.claim(ORDER, START), "a_to_z")
    responded = {"kind": "status", "at": START.isoformat(), "status": "responded", "from": "open"}
    update_case(CaseFolder(box.root / "cases" / first), responded)
    box.receive(sellermail.claim("171-0000001-0000002", START), "a_to_z")  # the daemon rewrites
    page = (box.root / "cases" / "index.html").read_text()
    row = next(line for line in page.splitlines() if f'data-case-id="{first}"' in line)
    assert "status-responded" in row
    assert box.store.cases[first]["status"] == "responded"


def test_new_claims_reopen_an_answered_or_decided_case(box):
    case_id = box.receive(sellermail.buyer_damaged(ORDER, START), "at_risk")
    set_status(CaseFolder(box.root / "cases" / case_id), "responded")
    # the buyer was answered, and claimed anyway
    box.receive(sellermail.claim(ORDER, START + timedelta(days=2)), "a_to_z")
    assert box.case(case_id)["status"] == "open"
    box.receive(sellermail.decision(ORDER, START + timedelta(days=9)), "a_to_z")
    assert box.case(case_id)["status"] == "denied"
    # a claim filed again on the decided order ("has filed an A-to-z Guarantee claim")
    box.receive(sellermail.claim(ORDER, START + timedelta(days=30)), "a_to_z")
    assert box.case(case_id)["status"] == "open"
