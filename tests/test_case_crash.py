"""Crash safety of the case folders: SIGKILL the daemon while it files a heavy load of cases.

Issue 4: "SIGKILL during heavy case writing, restart: index and folders consistent, nothing lost".
Forty Amazon orders go into the drop folder (no account, no network), each with the mail of a
claim's life: a shipping confirmation, the buyer's complaint with photos (the same picture in
several orders, twice in some), the A-to-z claim and, for half of them, the decision. The real
daemon runs as a child process and is killed with SIGKILL three times, each time at a moment a
crash is hardest to recover from (a case half-open, a case.json behind its timeline, a message
file without its timeline line), and restarted; a ``run --once`` finishes the work. Then
everything must be there exactly once: in the spool, in the message index, in one case folder per
order, and ``case.json`` must be what the timeline implies. A second test tears a timeline line
by hand and checks the next runs repair it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sellermail
from support import CLAIMWATCH, claimwatch, spooled, wait_for

from evidence_store.carriers import identify
from evidence_store.folder import CaseFolder
from evidence_store.index import MessageIndex
from evidence_store.summary import summarize

ORDERS = 40
START = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
DECISIONS = {  # the decision notice's sentence -> the status it must move the case to
    "denied": "After review of the information you provided, the claim has been closed in your "
    "favour.",
    "granted_seller_funded": "After review, the claim has been granted. The buyer was refunded.",
}


# --- the mail ------------------------------------------------------------------------------------


def png(rgb: tuple[int, int, int], size: int = 4) -> bytes:
    """A small valid PNG of one colour: a buyer's photo of the broken lamp."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    # (no ancillary chunks: the same colour always gives the same bytes)


PHOTOS = [png(c) for c in ((200, 30, 30), (30, 160, 60), (40, 60, 210), (220, 200, 40))]


def ups_number(n: int) -> str:
    """A UPS number with a correct check digit (mod 10, letters valued (ord - 63) % 10)."""
    body = f"5R893903{1_000_003 + n * 7919:07d}"
    total = 0
    for i, c in enumerate(body):
        value = int(c) if c.isdigit() else (ord(c) - 63) % 10
        total += value * 2 if i % 2 else value
    return f"1Z{body}{(10 - total % 10) % 10}"


def order_id(n: int) -> str:
    return f"{402 + n % 5}-{5_550_000 + n * 37:07d}-{7_650_000 + n * 101:07d}"


@dataclass
class Mail:
    name: str  # the file name in the drop folder (the drop folder takes files in name order)
    raw: bytes


@dataclass
class Order:
    n: int
    id: str
    tracking: str
    decision: str | None
    mails: list[Mail] = field(default_factory=list)

    @property
    def case_id(self) -> str:
        return f"order-{self.id}"

    @property
    def status(self) -> str:
        return self.decision or "open"


def build_order(n: int) -> Order:
    """One order's mail. Every fourth buyer writes twice, the second time with the same photo
    again and a new one under the same name; every fifth shipping confirmation arrives last (a
    re-synced folder), so it joins the case as evidence instead of history."""
    oid = order_id(n)
    decision = (None, "denied", None, "granted_seller_funded")[n % 4]
    order = Order(n, oid, ups_number(n), decision)
    shipped = START + timedelta(hours=17 * n)
    alias = f"{hashlib.sha1(oid.encode()).hexdigest()[:13]}@marketplace.amazon.com"

    def mid(kind: str) -> str:
        return f"<{kind}.{oid}.{n}@test.claimwatch.invalid>"

    def add(when: datetime, kind: str, raw: bytes, late: bool = False) -> None:
        prefix = "zz-resync" if late else f"{when:%Y%m%dT%H%M}"
        order.mails.append(Mail(f"{prefix}-{oid}-{kind}.eml", raw))

    add(
        shipped,
        "ship",
        sellermail.message(
            "ship-confirm@amazon.com",
            f"Shipment confirmation for order {oid}",
            f"Shipment confirmation\n\nHello,\n\nYou have confirmed order {oid} as shipped.\n\n"
            f"Carrier: UPS\nTracking ID: {order.tracking}\nShip date: {shipped:%d/%m/%Y}\n\n"
            "The buyer has been notified of the shipment by e-mail.\n\nAmazon Seller Central\n",
            shipped,
            message_id=mid("ship"),
            headers={"X-Space-Notification-Type": "SHIPMENT_CONFIRMATION"},
        ),
        late=n % 5 == 2,
    )
    complained = shipped + timedelta(days=6, hours=3)
    photo = PHOTOS[n % 3]  # the same picture in several orders
    add(
        complained,
        "buyer",
        sellermail.message(
            alias,
            f"Item arrived damaged - order {oid}",
            f"Hello, the lamp of order {oid} arrived damaged: the ceramic base is cracked and "
            "the shade is torn. I want a refund. Photo attached.\n",
            complained,
            message_id=mid("buyer"),
            attachments=[("photo.png", photo)],
        ),
    )
    if n % 4 == 1:
        again = complained + timedelta(days=1, hours=2)
        add(
            again,
            "buyer2",
            sellermail.message(
                alias,
                f"RE: Item arrived damaged - order {oid}",
                f"Hello again, still no answer about order {oid}. The item is broken, here are "
                "the photos again and one more of the box, which was damaged too.\n",
                again,
                message_id=mid("buyer2"),
                attachments=[("photo.png", photo), ("photo.png", PHOTOS[3])],
                reply_to=mid("buyer"),
            ),
        )
    claimed = shipped + timedelta(days=14)
    add(
        claimed,
        "claim",
        sellermail.message(
            "atoz-guarantee-no-reply@amazon.com",
            f"A-to-z Guarantee claim for order {oid}",
            f"The buyer has filed an A-to-z Guarantee claim for order {oid}.\n"
            "Reason: item damaged. Claim amount: EUR 89.90.\n"
            "Please respond within 3 calendar days with tracking information and proof of "
            "delivery. If you do not respond, the claim may be granted to the buyer.\n",
            claimed,
            message_id=mid("claim"),
            headers={"X-Space-Notification-Type": "A_Z_CLAIM_RESPONDENT_NOTIFY"},
        ),
    )
    if decision:
        decided = shipped + timedelta(days=24, hours=5)
        add(
            decided,
            "decision",
            sellermail.message(
                "atoz-guarantee-no-reply@amazon.com",
                f"A-to-z Guarantee claim for order {oid}: decision",
                f"Order {oid}.\n{DECISIONS[decision]}\n",
                decided,
                message_id=mid("decision"),
                headers={"X-Space-Notification-Type": "A_Z_CLAIM_RESPONDENT_NOTIFY"},
            ),
        )
    return order


def build_orders() -> list[Order]:
    orders = [build_order(n) for n in range(ORDERS)]
    assert all(identify(o.tracking) == "ups" for o in orders)
    return orders


# --- the daemon ----------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Setup:
    config: Path
    data: Path
    drop: Path

    @property
    def cases(self) -> Path:
        return self.data / "cases"


def make_setup(tmp: Path) -> Setup:
    """No account at all: the drop folder is the only source (``run`` accepts that)."""
    data, drop = tmp / "data", tmp / "drop"
    config = tmp / "config.toml"
    config.write_text(f'data_dir = "{data}"\ndrop_folder = "{drop}"\n')
    drop.mkdir()
    return Setup(config, data, drop)


def drop_mail(setup: Setup, mails: list[Mail]) -> None:
    """Write each file under a dot-name, then rename it in: the safe way to drop a file."""
    for mail in mails:
        hidden = setup.drop / f".{mail.name}.part"
        hidden.write_bytes(mail.raw)
        hidden.rename(setup.drop / mail.name)


def timeline_lines(cases: Path) -> int:
    """Complete lines across every case's timeline (what the daemon has filed so far)."""
    total = 0
    for path in cases.glob("*/timeline.jsonl"):
        with contextlib.suppress(FileNotFoundError):
            total += path.read_bytes().count(b"\n")
    return total


def start_daemon(setup: Setup, log: Path) -> subprocess.Popen:
    """``claimwatch run`` in its own session (so the whole group can be killed), logging to a
    file: a pipe nobody reads would fill up and stall the daemon."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [*CLAIMWATCH, "run", "--config", str(setup.config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )


def kill_hard(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def run_once(setup: Setup) -> None:
    result = claimwatch("run", "--once", "--config", str(setup.config), timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def _timelines(cases: Path) -> list[tuple[Path, list[dict]]]:
    return [(p, CaseFolder(p).read_timeline()) for p in sorted(cases.iterdir()) if p.is_dir()]


def case_half_open(cases: Path) -> bool:
    """A case being opened: the history of its order is filed, its first notice not yet."""
    return any(
        lines and not any(e.get("tier") == 1 for e in lines) for _, lines in _timelines(cases)
    )


def views_behind(cases: Path) -> bool:
    """A timeline line is written, the case's case.json not rewritten yet."""
    for path in cases.iterdir():
        try:
            last = (path / "timeline.jsonl").read_bytes().splitlines()[-1]
            case = json.loads((path / "case.json").read_bytes())
        except (FileNotFoundError, NotADirectoryError, IndexError):
            continue
        with contextlib.suppress(ValueError):  # a torn line, a case.json being replaced
            if json.loads(last)["at"] != case["updated_at"]:
                return True
    return False


def message_in_flight(cases: Path) -> bool:
    """A message's .eml is being stored or is stored in its case, its timeline line not yet
    written. (Counted cheaply: the window is a few milliseconds.)"""
    for path in cases.iterdir():
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            stored = len(os.listdir(path / "messages"))
            if stored > (path / "timeline.jsonl").read_bytes().count(b"\n"):
                return True
    return False


MOMENTS = {
    "case half-open": case_half_open,
    "case.json behind": views_behind,
    "message in flight": message_in_flight,
}
KILLS = (  # (fraction of the expected timeline lines, moment): three SIGKILLs, three restarts
    (0.15, "case half-open"),
    (0.45, "case.json behind"),
    (0.75, "message in flight"),
)


# --- the checks ----------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def message_id_of(raw: bytes) -> str:
    return next(
        line.split(b":", 1)[1].strip().decode()
        for line in raw.splitlines()
        if line.lower().startswith(b"message-id:")
    )


def check_spool_and_index(setup: Setup, mails: list[Mail]) -> dict[str, str]:
    """Every dropped file is spooled once and processed, nothing quarantined, and the message
    index holds one entry per spooled message. Returns spool name -> Message-ID."""
    files = spooled(setup.data)
    assert sorted(p.read_bytes() for p in files) == sorted(m.raw for m in mails)
    assert os.listdir(setup.data / "spool" / "new") == [], "messages left unprocessed"
    quarantine = setup.data / "quarantine"
    assert not quarantine.exists() or os.listdir(quarantine) == [], os.listdir(quarantine)
    assert sorted(p.name for p in setup.drop.glob("*.eml")) == [], "files left in the drop folder"
    names = {p.name.split(":", 1)[0]: message_id_of(p.read_bytes()) for p in files}
    with MessageIndex(setup.data / "index") as index:
        assert len(index) == len(names)
        for name, message_id in names.items():
            entry = index.get(name)
            assert entry is not None, f"{name} ({message_id}) is not in the message index"
            assert entry["message_id"] == message_id
    return names


def check_case(setup: Setup, order: Order, spool_names: dict[str, str]) -> None:
    folder = CaseFolder(setup.cases / order.case_id)
    where = order.case_id
    raw_timeline = (folder.path / "timeline.jsonl").read_bytes()
    assert raw_timeline.endswith(b"\n"), f"{where}: the timeline ends in a torn line"
    lines = [json.loads(line) for line in raw_timeline.splitlines()]  # every line whole
    timeline = folder.read_timeline()
    assert timeline == lines
    messages = [e for e in timeline if e["kind"] == "message"]
    assert len(messages) == len(timeline), f"{where}: only message lines were expected"

    # Each message of the order exactly once, by spool file; nothing from another order.
    expected = {message_id_of(m.raw): m for m in order.mails}
    spool_files = [m["spool_file"] for m in messages]
    assert len(spool_files) == len(set(spool_files)), f"{where}: a message was filed twice"
    assert sorted(m["message_id"] for m in messages) == sorted(expected), where
    assert all(spool_names[m["spool_file"]] == m["message_id"] for m in messages), where
    for m in messages:
        kind = expected[m["message_id"]].name.rsplit("-", 1)[1].removesuffix(".eml")
        if kind == "ship":
            assert m["tier"] == 2 and m["role"] in ("history", "evidence"), (where, m)
            assert m["tracking"] == [{"carrier": "ups", "number": order.tracking}], (where, m)
        else:
            assert m["tier"] == 1, (where, kind, m["label"], m["role"])

    # messages/: one file per timeline line, byte for byte the original; nothing else.
    referenced = sorted(m["file"] for m in messages)
    on_disk = sorted(f"messages/{p.name}" for p in (folder.path / "messages").iterdir())
    assert referenced == on_disk, where
    for m in messages:
        assert (folder.path / m["file"]).read_bytes() == expected[m["message_id"]].raw, where

    # attachments/: each referenced file there with its hash, each content once, nothing else.
    records = [a for m in messages for a in m["attachments"]]
    for a in records:
        assert sha256((folder.path / a["file"]).read_bytes()) == a["sha256"], (where, a)
    stored = {p.name: sha256(p.read_bytes()) for p in (folder.path / "attachments").iterdir()}
    assert len(set(stored.values())) == len(stored), f"{where}: duplicate attachments {stored}"
    assert sorted(f"attachments/{n}" for n in stored) == sorted({a["file"] for a in records})
    photos = {sha256(PHOTOS[order.n % 3])} | ({sha256(PHOTOS[3])} if order.n % 4 == 1 else set())
    assert set(stored.values()) == photos, where

    # case.json is what the timeline implies, and says what the mail said.
    case = folder.read_case()
    assert case == summarize(order.case_id, timeline, folder.evidence_files()), where
    assert case["status"] == order.status, (where, case["status"])
    assert {"carrier": "ups", "number": order.tracking} in [
        {k: t[k] for k in ("carrier", "number")} for t in case["tracking"]
    ], where
    assert case["order_ids"] == [order.id]
    assert (folder.path / "README.md").is_file()


def check_consistent(setup: Setup, orders: list[Order]) -> None:
    mails = [m for o in orders for m in o.mails]
    spool_names = check_spool_and_index(setup, mails)
    folders = {p.name for p in setup.cases.iterdir() if p.is_dir()}
    wanted = {o.case_id for o in orders}
    extra = {  # what an unexpected folder holds: (role, label) of each timeline line
        name: [(e.get("role"), e.get("label")) for e in CaseFolder(path).read_timeline()]
        for name, path in ((n, setup.cases / n) for n in sorted(folders - wanted))
    }
    assert (extra, sorted(wanted - folders)) == ({}, []), "not exactly one case per order"
    leftovers = [str(p.relative_to(setup.cases)) for p in setup.cases.rglob(".*.tmp")]
    assert leftovers == [], f"temp files left under cases/: {leftovers}"
    for order in orders:
        check_case(setup, order, spool_names)
    index_html = (setup.cases / "index.html").read_text()
    missing = [o.case_id for o in orders if o.case_id not in index_html]
    assert missing == [], f"cases/index.html does not list {missing}"


# --- the tests -----------------------------------------------------------------------------------


def test_sigkill_during_heavy_case_writing_loses_nothing(tmp_path):
    orders = build_orders()
    mails = [m for o in orders for m in o.mails]
    expected_lines = len(mails)  # one timeline line per message, in the case of its order
    setup = make_setup(tmp_path)
    drop_mail(setup, mails)
    log = tmp_path / "daemon.log"

    caught, seen = [], 0
    for fraction, moment in KILLS:
        # Past the mark, at least one line written by this run of the daemon, and at the moment
        # wanted if it shows up before another tenth of the work is done (else kill anyway).
        target = max(int(fraction * expected_lines), seen + 1)
        give_up = target + expected_lines // 10

        def now(target=target, give_up=give_up, moment=moment) -> bool:
            lines = timeline_lines(setup.cases)
            return lines >= give_up or (lines >= target and MOMENTS[moment](setup.cases))

        proc = start_daemon(setup, log)
        try:
            reached = wait_for(now, timeout=30, interval=0.001)
        finally:
            kill_hard(proc)
        seen = timeline_lines(setup.cases)
        assert reached, f"the daemon did not reach {target} timeline lines:\n{tail(log)}"
        assert seen < expected_lines, "the daemon finished before it could be killed"
        left = "left on disk" if MOMENTS[moment](setup.cases) else "missed"
        caught.append(f"kill at {seen}/{expected_lines} lines, {moment}: {left}")

    run_once(setup)
    print("\n".join(["", *caught]))
    check_consistent(setup, orders)
    assert timeline_lines(setup.cases) == expected_lines


def test_a_torn_timeline_line_is_repaired_on_the_next_run(tmp_path):
    order = build_order(1)  # two buyer messages, a claim and a decision: denied
    *first, decision = order.mails
    assert decision.name.endswith("-decision.eml")
    setup = make_setup(tmp_path)
    drop_mail(setup, first)
    run_once(setup)
    folder = CaseFolder(setup.cases / order.case_id)
    assert folder.read_case()["status"] == "open"

    # A crash mid-append: half of a line, no newline; and case.json lost with it.
    timeline = folder.path / "timeline.jsonl"
    whole = timeline.read_bytes()
    last = whole.splitlines()[-1]
    with open(timeline, "ab") as f:
        f.write(last[: len(last) // 2])
    (folder.path / "case.json").unlink()

    run_once(setup)
    lines = folder.read_timeline()
    assert len(lines) == len(first), "the torn tail must be skipped, the lines before it kept"
    assert folder.read_case() == summarize(order.case_id, lines, folder.evidence_files())
    assert folder.read_case()["status"] == "open"

    # The next append cuts the torn tail off and starts on a clean line.
    drop_mail(setup, [decision])
    run_once(setup)
    raw = timeline.read_bytes()
    assert raw.startswith(whole) and raw.endswith(b"\n")
    parsed = [json.loads(line) for line in raw.splitlines()]
    assert parsed == folder.read_timeline()
    assert sorted(e["message_id"] for e in parsed) == sorted(
        message_id_of(m.raw) for m in order.mails
    )
    assert parsed[-1]["message_id"] == message_id_of(decision.raw)
    case = folder.read_case()
    assert case == summarize(order.case_id, parsed, folder.evidence_files())
    assert case["status"] == "denied"
    check_consistent(setup, [order])
