"""Per-message cost of the evidence store with 1k, 10k and 50k messages already indexed.

Every message the daemon processes goes through the store: ``MessageIndex.add`` (one fsynced
journal line), then ``CaseStore.file`` (opens or joins a case folder: copies the .eml and its
attachments, appends the timeline, rewrites case.json and README.md, each write fsynced), and
``CaseStore.flush`` (cases/index.html: after a chunk of 50 if the last rewrite is 2 s old,
and once when the queue is empty). A seller's mailbox only grows, so
none of that may grow with it; issue 4's target: the cost at 50k within 1.5x of the cost at 1k.
Classification is left out: it does not depend on the store's size (bench/classify.py).

How it measures, and why:

- The state at each size is built once, from one deterministic stream of realistic messages (an
  order confirmation, a UPS shipping notice, a buyer's question and a delivery notice per order;
  one order in five gets a claim or a buyer's complaint instead of the delivery notice, so 5% of
  messages are tier-1 and N/20 cases exist, opened through ``CaseStore.file`` with their order's
  history, up to ``--max-cases``). Every message is really parsed and really extracted
  (``evidence_of``); the verdict (label, tier) is set by hand, so no classifier is needed. fsync
  is switched off while building (setup, not measured) and one sync(2) follows.
- Each round copies every state (``index/``, ``cases/``; the spooled prefill messages are shared
  read-only) to a fresh directory and opens it in a fresh process, like a daemon start: the index
  and the case store are opened (start-up cost), then M new messages are handled exactly as
  ``ClassifyHandler`` does, a chunk of 50 at a time: per message ``index.add(entry)`` then
  ``cases.file(entry, message)``, per chunk ``cases.flush(at_most_every=INDEX_INTERVAL)``, after
  the last chunk ``cases.flush()``. Only that is timed; the new
  messages are spooled, parsed and extracted beforehand.
- The M messages: 85% routine (UPS shipping notices with valid check digits for new orders; one
  in 17 of them a delivery notice for an order that has a case, so it joins as evidence), 10%
  tier-1 notices for existing cases (reminders, decisions, a buyer's photo), 5% tier-1 messages
  opening a case for an order the index knows (its history is pulled in). Claims concern recent
  orders, so the cases and orders they hit are the most recent ones at every N: the work per
  message is the same and only the store's size differs.
- A message's cost is its own ``add`` + ``file`` time plus its share of the index.html
  rewrites (their total time over the messages handled).
- The disk switches between fast and slow spells (fsync 0.15 ms, then 4 ms, for seconds to tens
  of seconds), so whole runs one after the other would compare the sizes across spells. The
  sizes' processes take turns chunk by chunk instead (the order rotating), so all see the same
  spells; medians of the rounds are reported, and the cost without the time spent in fsync too.
- An index compaction (O(size), once per O(size) messages) rarely falls inside a 1,000-message
  window at 50k, so its amortised cost is timed apart and shown beside.
- Under /var/tmp, not /tmp: creating a file in /tmp is ~30x slower on these machines.

Run: .venv/bin/python bench/store.py [--sizes 1000,10000,50000] [--messages 1000] [--rounds 3]
     .venv/bin/python bench/store.py --quick        # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from multiprocessing import Pool
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifier.triage import Verdict  # noqa: E402
from daemon.message import Message, parse_message  # noqa: E402
from daemon.state import now_iso  # noqa: E402
from daemon.triage import index_entry  # noqa: E402
from evidence_store.carriers import identify  # noqa: E402
from evidence_store.cases import INDEX_INTERVAL, CaseStore  # noqa: E402
from evidence_store.index import MessageIndex  # noqa: E402
from evidence_store.language import detect_language  # noqa: E402
from evidence_store.views import render_index, sort_cases  # noqa: E402

CHUNK = 50  # the daemon's processing chunk (Processor.drain)
PER_ORDER = 4  # prefill messages per order
CASE_EVERY = 5  # one order in five has a claim or a complaint
RECENT_CASES = 50  # joins go to the most recent cases ...
RECENT_ORDERS = 200  # ... and new cases to the most recent orders without one
EPOCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DOMAIN = "bench.claimwatch.invalid"
SELLER = "Atelier Lumière <orders@atelier-lumiere.example>"
AMAZON = "Amazon Seller Central <seller-notification@amazon.fr>"
ATOZ = "Amazon <atoz-guarantee-no-reply@amazon.fr>"


# -- messages --------------------------------------------------------------------------------------


def order_id(k: int) -> str:
    """A unique, well-formed Amazon order id for order *k*."""
    return f"{402 + k % 7:03d}-{(k * 7919 + 1234567) % 10**7:07d}-{k:07d}"


def ups_number(k: int) -> str:
    """A UPS 1Z number for order *k* whose check digit passes (tried with the extractor's lib)."""
    base = f"1ZA1B2C303{k:07d}"
    for digit in range(10):
        if identify(f"{base}{digit}") == "ups":
            return f"{base}{digit}"
    raise AssertionError(f"no UPS check digit for {base}")


def buyer(k: int) -> str:
    return f"Buyer {k % 97} <b{k:07x}q@marketplace.amazon.fr>"


def photo(seed: int, size: int = 24_000) -> bytes:
    """A small JPEG-looking file, different for every seed (attachments are stored by hash)."""
    return b"\xff\xd8\xff\xe0" + random.Random(seed).randbytes(size) + b"\xff\xd9"


def compose(kind: str, k: int, i: int, when: datetime) -> bytes:
    """The raw bytes of message *i* of *kind* about order *k*."""
    oid, ups = order_id(k), ups_number(k)
    msg = EmailMessage(policy=SMTP)
    msg["To"] = "seller@atelier-lumiere.example"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<{kind}.{k}.{i}@{DOMAIN}>"
    attach = False
    if kind == "order":
        msg["From"], msg["Subject"] = AMAZON, f"Sold, ship now: order {oid}"
        body = (
            f"Congratulations, you sold an item on amazon.fr.\nOrder ID: {oid}\n"
            f"Item: Ceramic table lamp, linen shade. Quantity: 1. Price: {29 + k % 60},90 EUR\n"
            "Please ship this item within 2 days and confirm shipment in Seller Central.\n"
        )
    elif kind == "shipping":
        msg["From"], msg["Subject"] = SELLER, f"Your order {oid} has shipped"
        body = (
            f"Hello,\n\nyour order {oid} has shipped with UPS.\nTracking number: {ups}\n"
            "Estimated delivery: in 2 to 3 working days.\n\nAtelier Lumière\n"
        )
    elif kind == "question":
        msg["From"], msg["Subject"] = buyer(k), f"Question from buyer about order {oid}"
        body = f"Hello, does the lamp of order {oid} come with a bulb? Thank you.\n"
    elif kind == "delivered":
        msg["From"], msg["Subject"] = SELLER, f"Your UPS parcel {ups} has been delivered"
        body = f"Your parcel {ups} for order {oid} was delivered on {when:%d %B %Y} at the door.\n"
    elif kind == "claim":
        msg["From"], msg["Subject"] = ATOZ, f"A-to-z Guarantee claim for order {oid}"
        body = (
            f"The buyer has filed an A-to-z Guarantee claim for order {oid}.\n"
            f"Reason: item not received. Claim amount: {29 + k % 60},90 EUR.\n"
            "Please respond within 3 calendar days with tracking and proof of delivery. "
            "Without a response the claim may be granted to the buyer.\n"
        )
    elif kind in ("not_received", "damaged", "photo_again"):
        msg["From"], msg["Subject"] = buyer(k), f"Re: Question from buyer about order {oid}"
        msg["In-Reply-To"] = f"<question.{k}.{4 * k + 2}@{DOMAIN}>"
        if kind == "not_received":
            body = f"I have still not received my order {oid}. I will open a claim with Amazon.\n"
        else:
            body = (
                f"The lamp of order {oid} arrived damaged, the shade is broken. Photo attached.\n"
            )
            attach = True
    elif kind == "reminder":
        msg["From"], msg["Subject"] = ATOZ, f"Reminder: A-to-z Guarantee claim for order {oid}"
        body = (
            f"We are still waiting for your response to the claim for order {oid}. "
            "Please respond within 24 hours.\n"
        )
    elif kind == "decision":
        msg["From"], msg["Subject"] = ATOZ, f"Decision on the A-to-z claim for order {oid}"
        body = (
            f"We have reviewed the A-to-z Guarantee claim for order {oid}.\n"
            "The claim has been decided in your favour.\n"
        )
    else:
        raise ValueError(kind)
    msg.set_content(body)
    if attach:
        msg.add_attachment(photo(i), maintype="image", subtype="jpeg", filename="photo.jpg")
    return msg.as_bytes()


TIER_1 = {"claim": "a_to_z", "reminder": "a_to_z", "decision": "a_to_z"}
TIER_1 |= dict.fromkeys(("not_received", "damaged", "photo_again"), "at_risk")


def spool_name(i: int) -> str:
    return f"{1772438400 + i}.M{i}P4242.bench"


def entry_for(name: str, i: int, kind: str, message: Message) -> dict:
    """The index entry the daemon builds (``index_entry``), with the verdict set by hand."""
    label = TIER_1.get(kind, "routine")
    origin = {"source": "imap", "account": "amazon-fr", "folder": "INBOX", "uidvalidity": 1}
    tier = 1 if label != "routine" else 2
    verdict = Verdict(label, tier, 0.97, False, (f"bench: {kind}",), "bench")
    return index_entry(name, {"origin": origin | {"uid": i, "filename": ""}}, message, verdict)


def prefill_kind(i: int) -> tuple[str, int]:
    """Prefill message *i*: (kind, order). Order k has messages 4k..4k+3."""
    k, position = divmod(i, PER_ORDER)
    if position < 3:
        return ("order", "shipping", "question")[position], k
    if k % CASE_EVERY == CASE_EVERY - 1:
        return ("claim", "not_received", "damaged")[(k // CASE_EVERY) % 3], k
    return "delivered", k


def prefill_item(i: int) -> tuple[str, bytes, dict, str]:
    """(spool name, raw, entry, kind) of prefill message *i* (run in a worker pool)."""
    kind, k = prefill_kind(i)
    raw = compose(kind, k, i, EPOCH + timedelta(minutes=i))
    name = spool_name(i)
    return name, raw, entry_for(name, i, kind, parse_message(raw)), kind


def case_orders(n: int, max_cases: int) -> list[int]:
    """Orders that have a case once prefill messages 0..n-1 are filed, oldest first."""
    last = n // PER_ORDER  # orders 0..last-1 have all their messages
    cased = [k for k in range(last) if k % CASE_EVERY == CASE_EVERY - 1]
    return cased[:max_cases]


def new_messages(n: int, m: int, max_cases: int, seed: int) -> list[tuple[str, int]]:
    """The M timed messages for size *n*: (kind, order), the same in every round."""
    rng = random.Random(seed * 1_000_003 + n)
    cases = case_orders(n, max_cases)[-RECENT_CASES:]
    last = n // PER_ORDER
    plain = [
        k for k in range(max(0, last - RECENT_ORDERS * 2), last) if k % CASE_EVERY != CASE_EVERY - 1
    ]
    fresh = rng.sample(plain[-RECENT_ORDERS:], min(len(plain[-RECENT_ORDERS:]), m // 20 + 1))
    kinds: list[tuple[str, int]] = []
    for j in range(m):
        slot, turn = j % 20, j // 20
        if slot == 0 and cases:
            kinds.append((("reminder", "decision")[turn % 2], rng.choice(cases)))
        elif slot == 1 and cases:
            kinds.append(("photo_again", rng.choice(cases)))
        elif slot == 2 and fresh:
            kinds.append((("claim", "not_received", "damaged")[turn % 3], fresh[turn % len(fresh)]))
        elif slot == 3 and cases:
            kinds.append(("delivered", rng.choice(cases)))
        else:
            kinds.append(("shipping", last + 1 + j))
    return kinds


# -- building the indexed states -------------------------------------------------------------------


@contextmanager
def fsync_off() -> Iterator[None]:
    """Setup only: the state built is the same, the disk gets one sync(2) at the end."""
    real = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = real
        os.sync()


def spool_reader(new: Path, cur: Path) -> Callable[[str], bytes]:
    """``Spool.read``: new/ for messages being processed, cur/ (``:2,S``) for processed ones."""

    def read(name: str) -> bytes:
        path = new / name
        return (path if path.exists() else cur / f"{name}:2,S").read_bytes()

    return read


def build(work: Path, sizes: list[int], max_cases: int) -> dict[int, dict]:
    """Index prefill messages 0..max(sizes)-1 once, keeping the state of each size.

    A state is ``index/`` and ``cases/``. The spooled prefill messages are in one ``spool/cur``
    shared by all (a state of N only knows messages 0..N-1; nothing writes to cur/ in a run).
    """
    data, cur = work / "build", work / "spool" / "cur"
    cur.mkdir(parents=True)
    built: dict[int, dict] = {}
    started = time.perf_counter()
    with fsync_off(), Pool(max(1, min(2, os.cpu_count() or 1))) as pool:
        index = MessageIndex(data / "index")
        cases = CaseStore(data / "cases", index, spool_reader(data / "new", cur))
        items = pool.imap(prefill_item, range(max(sizes)), chunksize=200)
        for i, (name, raw, entry, _) in enumerate(items, 1):
            (cur / f"{name}:2,S").write_bytes(raw)
            index.add(entry)
            if entry["tier"] == 1 and len(cases.cases) < max_cases:
                cases.file(entry, parse_message(raw))
            if i in sizes:
                cases.flush()
                if i < max(sizes):
                    shutil.copytree(data, work / f"state-{i}", symlinks=True)
                capped = len(case_orders(i, 10**9)) > max_cases
                built[i] = {"cases": len(cases.cases), "capped": capped}
                print(
                    f"  built N={i:,}: {len(cases.cases):,} cases"
                    f"{' (capped by --max-cases)' if capped else ''}, "
                    f"{time.perf_counter() - started:.0f} s so far",
                    flush=True,
                )
        index.close()
    data.rename(work / f"state-{max(sizes)}")
    return built


# -- one timed run, in its own process -------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """The current RSS: the peak alone hides what the store holds behind the imports' peak."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class FsyncMeter:
    """Counts fsync calls and their time (a perf_counter pair: ~1 us against 0.1 to 4 ms each)."""

    def __init__(self) -> None:
        self.calls, self.seconds, self.real = 0, 0.0, os.fsync

    def __call__(self, fd: int) -> None:
        t0 = time.perf_counter()
        self.real(fd)
        self.seconds += time.perf_counter() - t0
        self.calls += 1


class TimedRun:
    """The store of one size, opened in this process, fed M new messages a chunk at a time."""

    def __init__(self, data: Path, cur: Path, n: int, m: int, max_cases: int, seed: int) -> None:
        self.data, self.n = data, n
        new = data / "spool" / "new"
        new.mkdir(parents=True)
        self.todo = []
        for j, (kind, k) in enumerate(new_messages(n, m, max_cases, seed)):
            i = 10**8 + j  # distinct from every prefill message
            raw = compose(kind, k, i, EPOCH + timedelta(days=40, minutes=j))
            name = spool_name(i)
            (new / name).write_bytes(raw)  # spooled before processing, as in the daemon
            message = parse_message(raw)
            self.todo.append((kind, entry_for(name, i, kind, message), message))
        detect_language("warm up")  # langid loads its model on first use: once per daemon
        os.sync()  # nobody pays for the copy's or these files' write-back
        self.rss_base = rss_mb()  # imports, langid's model, the M messages; the store next

        t0 = time.perf_counter()
        self.index = MessageIndex(data / "index")
        self.index_open = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.cases = CaseStore(data / "cases", self.index, spool_reader(new, cur))
        self.store_open = time.perf_counter() - t0
        self.indexed, self.cases_before = len(self.index), len(self.cases.cases)
        self.known, self.opened = set(self.cases.cases), []
        self.meter = FsyncMeter()
        os.fsync = self.meter  # type: ignore[assignment]
        self.messages: list[dict] = []
        self.flushes: list[dict] = []
        self.next = 0

    def chunk(self) -> None:
        """What ``Processor._process_chunk`` does with ``ClassifyHandler``, timed."""
        meter, batch = self.meter, self.todo[self.next : self.next + CHUNK]
        self.next += len(batch)
        for kind, entry, message in batch:
            calls, waited = meter.calls, meter.seconds
            t0 = time.perf_counter()
            self.index.add(entry)
            t1 = time.perf_counter()
            case_id = self.cases.file(entry, message)
            t2 = time.perf_counter()
            outcome = "none" if case_id is None else "joined"
            if case_id is not None and case_id not in self.known:
                self.known.add(case_id)
                self.opened.append(case_id)
                outcome = "opened"
            self.messages.append(
                {
                    "kind": kind,
                    "outcome": outcome,
                    "add": t1 - t0,
                    "file": t2 - t1,
                    "fsyncs": meter.calls - calls,
                    "fsync_s": meter.seconds - waited,
                    "chunk": len(self.flushes),
                }
            )
        waited = meter.seconds
        t0 = time.perf_counter()
        if self.next < len(self.todo):
            self.cases.flush(at_most_every=INDEX_INTERVAL)  # ClassifyHandler.finish
        else:
            self.cases.flush()  # Daemon._drain, once the queue is empty
        flush = time.perf_counter() - t0
        self.flushes.append({"s": flush, "fsync_s": meter.seconds - waited, "n": len(batch)})

    def result(self) -> dict:
        """Per-message costs and what explains them; then the O(size) work, timed apart."""
        os.fsync = self.meter.real
        costs, quiet = [], []
        # index.html is rewritten at most every INDEX_INTERVAL seconds and once at the end: its
        # time is shared by every message handled, as the daemon amortises it
        share = sum(f["s"] for f in self.flushes) / len(self.messages)
        quiet_share = sum(f["s"] - f["fsync_s"] for f in self.flushes) / len(self.messages)
        for msg in self.messages:
            own = msg["add"] + msg["file"]
            costs.append(own + share)
            quiet.append(own - msg["fsync_s"] + quiet_share)
        cases = self.cases.cases
        history = [
            sum(1 for x in cases[cid]["messages"] if x["role"] == "history") for cid in self.opened
        ]
        renders = []
        for _ in range(3):
            t0 = time.perf_counter()
            render_index(sort_cases(list(cases.values())), now_iso())
            renders.append(time.perf_counter() - t0)
        snapshot_docs = len(self.index)
        t0 = time.perf_counter()
        self.index.storage.compact()
        compaction = time.perf_counter() - t0
        self.index.close()
        fsyncs = [m["fsyncs"] for m in self.messages]
        return {
            "n": self.n,
            "indexed": self.indexed,
            "cases": self.cases_before,
            "cases_after": len(cases),
            "index_open": self.index_open,
            "store_open": self.store_open,
            "costs": costs,
            "quiet": quiet,
            "own": [m["add"] + m["file"] for m in self.messages],
            "adds": [m["add"] for m in self.messages],
            "outcomes": [m["outcome"] for m in self.messages],
            "fsyncs": fsyncs,
            "fsync_latency": self.meter.seconds / max(1, self.meter.calls),
            "fsync_share": self.meter.seconds / sum(costs),
            "flushes": [f["s"] for f in self.flushes],
            "total": sum(costs),
            "history": history,
            "render": min(renders),
            "html_bytes": (self.data / "cases" / "index.html").stat().st_size,
            "compaction": compaction,
            "compaction_every": max(1000, snapshot_docs),
            "rss_base": self.rss_base,
            "rss_end": rss_mb(),
            "rss_peak": peak_rss_mb(),
        }


def child_main(args: argparse.Namespace, n: int) -> int:
    """The child's side: open, say ready, process a chunk per ``chunk`` line, report at ``end``."""
    run = TimedRun(args.child, args.spool, n, args.messages, args.max_cases, args.seed)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "chunk":
            break
        run.chunk()
        print("ok", flush=True)
    print(json.dumps(run.result()), flush=True)
    return 0


# -- the parent: build, interleave the sizes, report -----------------------------------------------


class Child:
    """One timed run's process; it works only when asked, so the runs never overlap."""

    def __init__(self, work: Path, data: Path, n: int, args: argparse.Namespace) -> None:
        cmd = [sys.executable, __file__, "--child", str(data), "--spool", str(work / "spool/cur")]
        cmd += ["--sizes", str(n), "--messages", str(args.messages)]
        cmd += ["--max-cases", str(args.max_cases), "--seed", str(args.seed)]
        self.n = n
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ask(None, "ready")

    def ask(self, line: str | None, expect: str | None = None) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if line is not None:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if not reply or (expect is not None and reply != expect):
            self.proc.kill()
            raise SystemExit(f"timed run N={self.n} failed (exit {self.proc.wait()})")
        return reply

    def finish(self) -> dict:
        result = json.loads(self.ask("end"))
        self.proc.wait()
        return result


def run_round(work: Path, sizes: list[int], rnd: int, args: argparse.Namespace) -> dict[int, dict]:
    """One round: a fresh copy of every state, one process each, chunks handed out in turn.

    The disk here switches between fast and slow spells (fsync 0.15 ms, then 4 ms for tens of
    seconds), longer than a chunk (0.1 to 1 s) but shorter than a whole run: runs one after the
    other would compare sizes across spells, so the sizes take turns chunk by chunk instead, the
    order rotating, and every size sees the same spells.
    """
    order = sizes[rnd % len(sizes) :] + sizes[: rnd % len(sizes)]
    t0 = time.perf_counter()
    for n in order:
        for part in ("index", "cases"):
            shutil.copytree(work / f"state-{n}" / part, work / f"run-{n}" / part, symlinks=True)
    copied = time.perf_counter() - t0
    children: dict[int, Child] = {}
    try:
        for n in order:
            children[n] = Child(work, work / f"run-{n}", n, args)
        for c in range(-(-args.messages // CHUNK)):
            for n in order[c % len(order) :] + order[: c % len(order)]:
                children[n].ask("chunk", "ok")
        results = {n: children[n].finish() for n in order}
    finally:
        for child in children.values():
            if child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait()
        for n in order:
            shutil.rmtree(work / f"run-{n}", ignore_errors=True)
    for n in sizes:
        results[n]["copy"] = copied
    return results


def ms(seconds: float) -> float:
    return seconds * 1e3


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * 0.95) - 1)]


def run_line(r: dict) -> str:
    costs, flush = r["costs"], statistics.median(r["flushes"])
    return (
        f"median {ms(statistics.median(costs)):.2f} ms (excl. fsync wait "
        f"{ms(statistics.median(r['quiet'])):.2f}), p95 {ms(p95(costs)):.2f} ms, "
        f"mean {ms(r['total'] / len(costs)):.2f} ms, flush {ms(flush):.0f} ms/chunk, "
        f"fsync {ms(r['fsync_latency']):.2f} ms, "
        f"open {ms(r['index_open']):.0f}+{ms(r['store_open']):.0f} ms"
    )


def med(runs: list[dict], fn: Callable[[dict], float]) -> float:
    """The median over the rounds of one figure of a run."""
    return statistics.median(fn(r) for r in runs)


def of(r: dict, outcome: str, field: str = "costs") -> list[float]:
    return [v for v, o in zip(r[field], r["outcomes"], strict=True) if o == outcome]


def report(
    results: dict[int, list[dict]], built: dict[int, dict], args: argparse.Namespace
) -> bool:
    sizes = sorted(results)
    first, last = sizes[0], sizes[-1]
    rounds = len(results[first])

    def figure(fn: Callable[[dict], float]) -> dict[int, float]:
        return {n: med(results[n], fn) for n in sizes}

    median = figure(lambda r: statistics.median(r["costs"]))
    mean = figure(lambda r: r["total"] / len(r["costs"]))
    quiet = figure(lambda r: statistics.median(r["quiet"]))
    print()
    print(
        f"Per-message cost of the evidence store: {args.messages:,} new messages per size and "
        f"round, chunks of {CHUNK}, medians of {rounds} round(s)"
    )
    print(
        "  cost = index.add + cases.file + a share of the index.html rewrites (every 2 s at most)"
    )
    head = (
        f"{'N indexed':>10} {'cases':>6} {'median':>9} {'p95':>9} {'mean':>9} {'msg/s':>6} "
        f"{'med/1st':>8} {'mean/1st':>8}   {'idx open':>9} {'cases open':>10} {'peak RSS':>16}"
    )
    print(head)
    print("-" * len(head))
    for n in sizes:
        runs = results[n]
        print(
            f"{n:>10,} {runs[0]['cases']:>6,} {ms(median[n]):>6.2f} ms"
            f" {med(runs, lambda r: ms(p95(r['costs']))):>6.2f} ms {ms(mean[n]):>6.2f} ms"
            f" {1 / mean[n]:>6.0f} {median[n] / median[first]:>7.2f}x"
            f" {mean[n] / mean[first]:>7.2f}x   {med(runs, lambda r: ms(r['index_open'])):>6.0f} ms"
            f" {med(runs, lambda r: ms(r['store_open'])):>7.0f} ms"
            f" {med(runs, lambda r: r['rss_peak']):>6.0f} MB"
            f" (+{med(runs, lambda r: r['rss_end'] - r['rss_base']):>3.0f} MB)"
        )
    print(
        f"  ratios to N={first:,}; msg/s = 1 / mean; idx open, cases open: start-up (MessageIndex,"
        " CaseStore);\n  peak RSS of the run's process (+ its RSS at the end over its RSS before"
        f" opening the store, ~{med(results[first], lambda r: r['rss_base']):.0f} MB)"
    )
    capped = [n for n in sizes if built[n]["capped"]]
    if capped:
        print(
            f"  cases capped at --max-cases {args.max_cases:,} for N = "
            f"{', '.join(f'{n:,}' for n in capped)}: their other tier-1 mail is indexed only"
        )

    print()
    print("Where the time goes (medians over the rounds):")
    head = (
        f"{'N indexed':>10} {'excl. fsync':>11} {'ratio':>6} {'no flush':>9} {'flush/chunk':>11}"
        f" {'flush/msg':>9} {'index.html':>10} {'render':>8} {'fsync':>8} {'fsyncs/msg':>10}"
        f" {'compaction':>11}"
    )
    print(head)
    print("-" * len(head))
    for n in sizes:
        runs = results[n]
        print(
            f"{n:>10,} {ms(quiet[n]):>8.2f} ms {quiet[n] / quiet[first]:>5.2f}x"
            f" {med(runs, lambda r: ms(statistics.median(r['own']))):>6.2f} ms"
            f" {med(runs, lambda r: ms(statistics.median(r['flushes']))):>8.1f} ms"
            f" {med(runs, lambda r: ms(sum(r['flushes']) / len(r['costs']))):>6.2f} ms"
            f" {runs[0]['html_bytes'] / 1024:>6.0f} KiB"
            f" {med(runs, lambda r: ms(r['render'])):>5.1f} ms"
            f" {med(runs, lambda r: ms(r['fsync_latency'])):>5.2f} ms"
            f" {statistics.fmean(runs[0]['fsyncs']):>10.1f}"
            f" {med(runs, lambda r: 1e6 * r['compaction'] / r['compaction_every']):>6.0f} us/msg"
        )
    print(
        "  excl. fsync: median cost minus the time spent in fsync (the disk's fast and slow spells"
        " left out);\n  no flush: index.add + cases.file alone; render: index.html rendered"
        " (all cases, no write);\n  fsync: mean latency in the run; compaction: index snapshot"
        " time / adds between two, amortised"
    )
    for n in sizes:
        runs = results[n]
        parts = []
        for outcome, words in (("none", "no case"), ("joined", "joins"), ("opened", "new cases")):
            count = len(of(runs[0], outcome))
            if count:
                cost = med(runs, lambda r, o=outcome: ms(statistics.median(of(r, o))))
                calm = med(runs, lambda r, o=outcome: ms(statistics.median(of(r, o, "quiet"))))
                fs = statistics.fmean(of(runs[0], outcome, "fsyncs"))
                parts.append(
                    f"{words} x{count} {cost:.2f} ms ({calm:.2f} excl. fsync, {fs:.0f} f.)"
                )
        history = runs[0]["history"]
        pulled = statistics.fmean(history) if history else 0.0
        print(f"  N={n:,}: " + "; ".join(parts) + f"; history per new case {pulled:.1f}")
        add = med(runs, lambda r: ms(statistics.median(r["adds"])))
        share = med(runs, lambda r: r["fsync_share"])
        print(f"    index.add median {add:.2f} ms; fsync {share:.0%} of the time")

    print()
    print("Run by run (the disk's spells show in the fsync latency):")
    for n in sizes:
        for k, r in enumerate(results[n], 1):
            print(f"  N={n:>6,} round {k}: {run_line(r)}")

    ratio = median[last] / median[first]
    verdict = "PASS" if ratio <= 1.5 else "FAIL"
    print()
    print(
        f"{verdict}: median per-message cost at N={last:,} is {ratio:.2f}x the cost at N={first:,}"
        f" (target <= 1.5x); mean {mean[last] / mean[first]:.2f}x, median excl. fsync wait "
        f"{quiet[last] / quiet[first]:.2f}x"
    )
    return ratio <= 1.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="messages already indexed")
    parser.add_argument("--messages", type=int, default=1000, help="new messages timed per run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--max-cases", type=int, default=2500, help="cap on prefilled cases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="work under DIR")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (sizes 200,1000)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--spool", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.messages, args.rounds = "200,1000", 100, 1
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if args.child is not None:
        return child_main(args, sizes[0])

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cwstore", dir=args.dir) as tmp:
        work = Path(tmp)
        print(f"building the indexed states in {work} (fsync off while building)", flush=True)
        built = build(work, sizes, args.max_cases)
        results: dict[int, list[dict]] = {n: [] for n in sizes}
        for rnd in range(args.rounds):
            t0 = time.perf_counter()
            round_results = run_round(work, sizes, rnd, args)
            print(
                f"  round {rnd + 1}/{args.rounds}: {time.perf_counter() - t0:.0f} s "
                f"(copying the states {round_results[sizes[0]]['copy']:.0f} s)",
                flush=True,
            )
            for n in sizes:
                results[n].append(round_results[n])
                print(f"    N={n:,}: {run_line(round_results[n])}", flush=True)
        ok = report(results, built, args)
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
