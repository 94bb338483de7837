"""Per-message cost of the message index does not grow with its size.

TinyDB's default JSONStorage rewrites the whole file on every insert, so the 50,000th message would
cost 50x the 1,000th. The journal storage appends one fsynced line per message and folds the journal
into a snapshot once per O(size) messages. This adds 50,000 entries to one fresh index, prints the
per-add cost of the 1st-1,000th and of the 49,001st-50,000th entries, the amortised cost over all
(compactions included), and the time to open the 50,000-entry index. ``--baseline N`` also times
TinyDB's own JSONStorage on N entries, for comparison.

Run: .venv/bin/python bench/index.py [--count 50000] [--dir DIR] [--baseline 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinydb import TinyDB  # noqa: E402

from evidence_store.index import MessageIndex  # noqa: E402


def entry(n: int) -> dict:
    """A realistic entry: a buyer's message about one of 5,000 orders, in a thread."""
    order = f"{300 + n % 7}-{n % 5000:07d}-{n * 7919 % 10**7:07d}"
    return {
        "spool_file": f"new/1763780000.M{n}P1234.host,S=4321:2,",
        "message_id": f"<{n}.{n * 31}@marketplace.amazon.fr>",
        "in_reply_to": f"<{n - 1}.{(n - 1) * 31}@marketplace.amazon.fr>" if n % 3 else None,
        "references": [f"<{n - k}.{(n - k) * 31}@marketplace.amazon.fr>" for k in range(1, 3)],
        "subject": f"Question from buyer about order {order}",
        "from": "buyer-12345@marketplace.amazon.fr",
        "date": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00+00:00",
        "label": "at_risk" if n % 10 == 0 else "routine",
        "tier": 1 if n % 10 == 0 else 2,
        "order_ids": [order],
        "tracking": [{"carrier": "ups", "number": f"1Z999AA1{n:010d}"}],
    }


def summary(label: str, costs: list[float]) -> str:
    us = sorted(c * 1e6 for c in costs)
    p99 = us[int(len(us) * 0.99) - 1]
    return (
        f"{label}: mean {statistics.fmean(us):8.1f} us  median {statistics.median(us):8.1f} us"
        f"  p99 {p99:8.1f} us  max {us[-1]:9.1f} us"
    )


def bench_journal(directory: Path, count: int) -> None:
    path = directory / "index"
    index = MessageIndex(path)
    costs: list[float] = []
    started = time.perf_counter()
    for n in range(1, count + 1):
        t0 = time.perf_counter()
        index.add(entry(n))
        costs.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    journal = index.storage.journal_lines
    index.close()
    print(f"journal storage, {count:,} entries in one index ({path})")
    print(summary(f"  adds {1:>6,}-{1000:<6,}", costs[:1000]))
    print(summary(f"  adds {count - 999:>6,}-{count:<6,}", costs[-1000:]))
    slowest = max(range(count), key=costs.__getitem__)
    print(f"  slowest add: #{slowest + 1:,}, {costs[slowest] * 1e3:.0f} ms (a compaction)")
    print(
        f"  amortised over all {count:,} adds (compactions included): {total / count * 1e6:.1f} us"
    )
    t0 = time.perf_counter()
    index = MessageIndex(path)
    opened = time.perf_counter() - t0
    print(
        f"  open, {count:,} entries (snapshot + {journal:,} journal lines): {opened * 1e3:.0f} ms"
    )
    index.storage.compact()
    index.close()
    t0 = time.perf_counter()
    index = MessageIndex(path)
    opened = time.perf_counter() - t0
    assert len(index) == count
    t0 = time.perf_counter()
    for n in range(1, 1001):
        index.by_order(entry(n * 37 % count)["order_ids"][0])
    lookups = (time.perf_counter() - t0) / 1000
    index.close()
    print(f"  open, {count:,} entries (snapshot only, just compacted): {opened * 1e3:.0f} ms")
    print(f"  by_order lookup (~{count // 5000} matches): {lookups * 1e6:.1f} us")


def bench_baseline(directory: Path, count: int) -> None:
    db = TinyDB(directory / "baseline.json")
    table = db.table("messages")
    costs = []
    for n in range(1, count + 1):
        t0 = time.perf_counter()
        table.insert(entry(n))
        costs.append(time.perf_counter() - t0)
    db.close()
    print(f"TinyDB default JSONStorage, {count:,} entries (for comparison)")
    print(summary(f"  adds {1:>6,}-{100:<6,}", costs[:100]))
    print(summary(f"  adds {count - 99:>6,}-{count:<6,}", costs[-100:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--dir", type=Path, help="where to build the index (default: a temp dir)")
    parser.add_argument("--baseline", type=int, default=0, help="also time JSONStorage on N")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench_journal(Path(tmp), args.count)
        if args.baseline:
            bench_baseline(Path(tmp), args.baseline)


if __name__ == "__main__":
    main()
