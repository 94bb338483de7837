"""The cost of watching deadlines: one check of every case, and the ledger at start-up.

The daemon checks every case's deadline every 15 seconds (and after new mail), for weeks, so
the check must stay cheap as cases pile up: most are decided and skipped at once, the open ones
are read for their due reminders. The ledger of alerts given (``state/alerts.jsonl``) is read
whole at start-up. No target was set; the figures say where the time goes.

Run: .venv/bin/python bench/alerts.py [--cases 1000 10000 50000]
"""

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from daemon.alerts import Alert, AlertLedger, Scheduler  # noqa: E402
from daemon.config import default_config  # noqa: E402

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
OPEN_SHARE = 10  # one case in ten still waits for the seller, as after months of use
ROUNDS = 5


def synthetic_cases(n: int) -> list[dict]:
    """Cases whose arrival was announced; the open ones have deadlines spread over 8 days."""
    cases = []
    for i in range(n):
        status = "open" if i % OPEN_SHARE == 0 else "denied"
        deadline = NOW + timedelta(hours=(i * 7) % 200 - 10)
        cases.append(
            {
                "id": f"order-{i:07}",
                "status": status,
                "label": ("a_to_z", "chargeback", "at_risk")[i % 3],
                "backfilled": False,
                "deadline": deadline.isoformat(),
                "deadline_source": "stated",
                "acknowledge_by": None,
                "order_ids": [f"171-{i:07}-0000000"],
                "amount": {"value": "89.90", "currency": "EUR"},
                "claim_reason": "not_received",
                "messages": [
                    {"file": f"messages/{i}-{j}.eml", "role": "joined", "label": "a_to_z"}
                    for j in range(3)
                ],
            }
        )
    return cases


def measure(n: int, directory: Path) -> dict:
    config = dataclasses.replace(default_config(), data_dir=directory)
    ledger = AlertLedger(directory)
    cases = synthetic_cases(n)
    for case in cases:  # every arrival already announced
        ledger.fired[case["id"]] = {f"new:{m['file']}" for m in case["messages"]}
    scheduler = Scheduler(config, ledger, directory / "cases")
    first = time.perf_counter()
    due = scheduler.due(cases, NOW)
    first = time.perf_counter() - first
    alerts = [Alert(a.case_id, a.kind, a.keys, a.label, a.title, a.body) for a in due]
    started = time.perf_counter()
    for alert in alerts:
        ledger.record([alert], "desktop")
    record = (time.perf_counter() - started) / max(len(alerts), 1)
    scheduler.sent(due)
    steady = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        again = scheduler.due(cases, NOW)
        steady.append(time.perf_counter() - started)
    started = time.perf_counter()
    AlertLedger(directory)
    load = time.perf_counter() - started
    return {
        "cases": n,
        "open": sum(c["status"] == "open" for c in cases),
        "first_due": len(due),
        "first_check_ms": first * 1000,
        "steady_check_ms": statistics.median(steady) * 1000,
        "steady_due": len(again),
        "record_ms": record * 1000,
        "ledger_lines": len(alerts),
        "ledger_load_ms": load * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[1000, 10_000, 50_000])
    args = parser.parse_args(argv)
    print(
        f"{'cases':>7} {'open':>6} {'due':>6} {'1st check':>10} {'check':>9} "
        f"{'record':>8} {'ledger':>7} {'load':>8}"
    )
    for n in args.cases:
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            r = measure(n, Path(tmp))
        print(
            f"{r['cases']:>7} {r['open']:>6} {r['first_due']:>6} "
            f"{r['first_check_ms']:>8.1f}ms {r['steady_check_ms']:>7.1f}ms "
            f"{r['record_ms']:>6.2f}ms {r['ledger_lines']:>7} {r['ledger_load_ms']:>6.1f}ms"
        )
    print(
        "check: Scheduler.due over every case (steady: nothing new due, median of "
        f"{ROUNDS}); record: one ledger line appended and fsynced; load: the ledger read at "
        "start-up. The daemon checks every 15 s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
