"""The message index on real files: lookups, re-adds, torn journals, compaction, SIGKILL."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from daemon.errors import ClaimwatchError
from evidence_store.index import JOURNAL_NAME, SNAPSHOT_NAME, MessageIndex

REPO = Path(__file__).resolve().parents[1]
ORDER = "302-1234567-7654321"


def entry(n: int, order: str = ORDER, **fields) -> dict:
    base = {
        "spool_file": f"new/{n:06d}.eml",
        "message_id": f"<m{n}@mail.example>",
        "in_reply_to": None,
        "references": [],
        "subject": f"message {n}",
        "from": "buyer@example.com",
        "date": f"2026-11-{(n % 28) + 1:02d}T10:00:00+00:00",
        "label": "routine",
        "tier": 2,
        "order_ids": [order],
        "tracking": [{"carrier": "ups", "number": f"1Z999AA1{n:010d}"}],
    }
    base.update(fields)
    return base


def journal_lines(path: Path) -> list[str]:
    return (path / JOURNAL_NAME).read_text().splitlines()


def test_add_get_and_lookups(tmp_path):
    with MessageIndex(tmp_path / "index") as index:
        index.add(entry(1, date="2026-11-03T10:00:00+00:00"))
        index.add(entry(2, date="2026-11-01T10:00:00+01:00", in_reply_to="<m1@mail.example>"))
        index.add(entry(3, order="111-0000000-0000000", references=["m2@mail.example"]))
        index.add(entry(4, date=None))
        assert len(index) == 4
        assert index.get("new/000001.eml")["subject"] == "message 1"
        assert index.get("new/999999.eml") is None
        by_order = [e["spool_file"] for e in index.by_order(ORDER)]
        assert by_order == ["new/000002.eml", "new/000001.eml", "new/000004.eml"]
        assert index.by_order("999-0000000-0000000") == []
        thread = [e["spool_file"] for e in index.by_thread(["<m2@mail.example>"])]
        assert sorted(thread) == ["new/000002.eml", "new/000003.eml"]
        thread = [e["spool_file"] for e in index.by_thread(["m1@mail.example"])]
        assert sorted(thread) == ["new/000001.eml", "new/000002.eml"]


def test_returned_entries_are_copies(tmp_path):
    with MessageIndex(tmp_path / "index") as index:
        index.add(entry(1))
        index.get("new/000001.eml")["order_ids"].append("x")
        assert index.get("new/000001.eml")["order_ids"] == [ORDER]


def test_re_adding_a_spool_file_replaces_it(tmp_path):
    path = tmp_path / "index"
    with MessageIndex(path) as index:
        index.add(entry(1))
        index.add(entry(2))
        index.add(entry(1, order="111-0000000-0000000", label="a_to_z", tier=1))
        assert len(index) == 2
        assert [e["spool_file"] for e in index.by_order(ORDER)] == ["new/000002.eml"]
        assert index.by_order("111-0000000-0000000")[0]["label"] == "a_to_z"
        index.add({"spool_file": "new/000002.eml", "message_id": "<m2@mail.example>"})
        assert index.get("new/000002.eml") == {
            "spool_file": "new/000002.eml",
            "message_id": "<m2@mail.example>",
        }
    with MessageIndex(path) as index:
        assert len(index) == 2
        assert index.by_order(ORDER) == []
        assert index.get("new/000001.eml")["tier"] == 1


def test_reopen_sees_everything(tmp_path):
    path = tmp_path / "index"
    with MessageIndex(path) as index:
        for n in range(50):
            index.add(entry(n, order=f"order-{n % 5}"))
    with MessageIndex(path) as index:
        assert len(index) == 50
        assert len(index.by_order("order-3")) == 10
        assert index.get("new/000049.eml") == entry(49, order="order-4")
        assert [e["spool_file"] for e in index.by_thread(["<m7@mail.example>"])] == [
            "new/000007.eml"
        ]


def test_a_torn_last_journal_line_is_dropped_and_appends_go_on(tmp_path, caplog):
    path = tmp_path / "index"
    with MessageIndex(path) as index:
        index.add(entry(1))
        index.add(entry(2))
    whole = json.dumps({"t": "messages", "set": {"3": entry(3)}, "del": []})
    with open(path / JOURNAL_NAME, "a") as f:
        f.write(whole[: len(whole) // 2])
    with caplog.at_level(logging.WARNING), MessageIndex(path) as index:
        assert len(index) == 2
        assert index.get("new/000003.eml") is None
        index.add(entry(4))
    assert "torn last line" in caplog.text
    assert all(json.loads(line) for line in journal_lines(path))
    with MessageIndex(path) as index:
        assert sorted(e["spool_file"] for e in index.by_order(ORDER)) == [
            "new/000001.eml",
            "new/000002.eml",
            "new/000004.eml",
        ]


def test_a_complete_line_without_its_newline_is_torn_too(tmp_path):
    path = tmp_path / "index"
    with MessageIndex(path) as index:
        index.add(entry(1))
    with open(path / JOURNAL_NAME, "a") as f:
        f.write(json.dumps({"t": "messages", "set": {"2": entry(2)}, "del": []}))
    with MessageIndex(path) as index:
        assert len(index) == 1
        index.add(entry(3))
    with MessageIndex(path) as index:
        assert len(index) == 2


def test_compaction_past_the_threshold_keeps_the_data(tmp_path):
    path = tmp_path / "index"
    with MessageIndex(path, compact_after=10) as index:
        for n in range(25):
            index.add(entry(n))
            assert index.storage.journal_lines < 25
        assert (path / SNAPSHOT_NAME).exists()
        assert len(journal_lines(path)) == index.storage.journal_lines
        index.add(entry(3, label="chargeback"))
    snapshot = json.loads((path / SNAPSHOT_NAME).read_text())
    assert 10 <= len(snapshot["tables"]["messages"]) < 25
    with MessageIndex(path, compact_after=10) as index:
        assert len(index) == 25
        assert len(index.by_order(ORDER)) == 25
        assert index.get("new/000003.eml")["label"] == "chargeback"


def test_a_crash_between_snapshot_and_journal_truncation_replays_idempotently(tmp_path):
    path = tmp_path / "index"
    with MessageIndex(path, compact_after=1000) as index:
        for n in range(10):
            index.add(entry(n))
        index.add(entry(4, order="other"))
        stale_journal = (path / JOURNAL_NAME).read_bytes()
        index.storage.compact()
    assert (path / JOURNAL_NAME).read_bytes() == b""
    (path / JOURNAL_NAME).write_bytes(stale_journal)  # the truncation never happened
    with MessageIndex(path) as index:
        assert len(index) == 10
        assert len(index.by_order(ORDER)) == 9
        assert [e["spool_file"] for e in index.by_order("other")] == ["new/000004.eml"]
        index.add(entry(10))
    with MessageIndex(path) as index:
        assert len(index) == 11


def test_a_corrupt_snapshot_is_a_clear_error(tmp_path):
    path = tmp_path / "index"
    with MessageIndex(path, compact_after=1) as index:
        index.add(entry(1))
    (path / SNAPSHOT_NAME).write_text('{"format": 1, "tables": {"mess')
    with pytest.raises(ClaimwatchError) as info:
        MessageIndex(path)
    message = str(info.value)
    assert str(path / SNAPSHOT_NAME) in message
    assert "snapshot is corrupt" in message
    assert "move the directory" in message and "reprocess the spool" in message


def test_a_corrupt_line_inside_the_journal_is_an_error_not_a_torn_tail(tmp_path):
    path = tmp_path / "index"
    with MessageIndex(path) as index:
        index.add(entry(1))
    with open(path / JOURNAL_NAME, "a") as f:
        f.write("garbage\n")
        f.write(json.dumps({"t": "messages", "set": {"2": entry(2)}, "del": []}) + "\n")
    with pytest.raises(ClaimwatchError, match=r"journal.jsonl: line 2 of the message index"):
        MessageIndex(path)


def test_a_second_open_of_the_same_index_is_refused(tmp_path):
    path = tmp_path / "index"
    with (
        MessageIndex(path),
        pytest.raises(ClaimwatchError, match="in use by another claimwatch process"),
    ):
        MessageIndex(path)
    MessageIndex(path).close()


def test_an_entry_needs_a_spool_file_and_json_values(tmp_path):
    with MessageIndex(tmp_path / "index") as index:
        with pytest.raises(ValueError, match="needs a spool_file"):
            index.add({"message_id": "<x@y>"})
        with pytest.raises(ValueError, match="not JSON-able"):
            index.add({"spool_file": "a", "date": object()})
        assert len(index) == 0


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from evidence_store.index import MessageIndex

    path, start = Path(sys.argv[1]), int(sys.argv[2])
    index = MessageIndex(path, compact_after=20)
    n = start
    while True:
        spool_file = f"new/{n:06d}.eml"
        index.add({"spool_file": spool_file, "message_id": f"<m{n}@x>",
                   "order_ids": [f"order-{n % 7}"], "date": None, "n": n})
        print(spool_file, flush=True)
        if n % 5 == 0:  # reprocessing an earlier message must not duplicate it
            index.add({"spool_file": f"new/{start:06d}.eml", "message_id": f"<m{start}@x>",
                       "order_ids": [f"order-{start % 7}"], "date": None, "n": start})
        n += 1
    """
)


def test_sigkill_at_random_points_loses_nothing_that_was_reported(tmp_path):
    path = tmp_path / "index"
    rng = random.Random(4)
    reported: set[str] = set()
    in_flight: set[str] = set()  # committed when the kill came, before the child could print
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for trial in range(10):
        start = trial * 100_000
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(start)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            wanted = rng.randint(1, 120)
            deadline = time.monotonic() + 60
            for _ in range(wanted):
                line = child.stdout.readline()
                assert line, f"the child died early (trial {trial})"
                reported.add(line.strip())
                assert time.monotonic() < deadline
            time.sleep(rng.random() * 0.01)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        # read through the same buffered pipe: communicate() would skip what readline buffered
        reported.update(child.stdout.read().split())
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        with MessageIndex(path) as index:
            missing = [s for s in reported if index.get(s) is None]
            assert not missing, f"trial {trial}: reported but lost: {missing[:5]}"
            # at most the one add in flight when the kill came is there unreported
            docs = index.storage.read()["messages"].values()
            present = {doc["spool_file"] for doc in docs}
            assert len(present) == len(index)
            extra = present - reported - in_flight
            assert len(extra) <= 1, f"trial {trial}: unexpected entries {sorted(extra)}"
            in_flight |= extra
            known = reported | in_flight
            for spool_file in known:
                n = index.get(spool_file)["n"]
                assert spool_file == f"new/{n:06d}.eml"
                assert [e["n"] for e in index.by_order(f"order-{n % 7}")].count(n) == 1


def test_the_daemon_indexes_every_processed_message_once(tmp_path):
    import shutil

    from tests.support import claimwatch

    samples = Path(__file__).resolve().parents[1] / "daemon" / "samples"
    data = tmp_path / "data"
    (data / "inbox").mkdir(parents=True)
    for sample in samples.glob("0[1-8]*.eml"):
        shutil.copy(sample, data / "inbox" / sample.name)
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{data}"\n')
    assert claimwatch("run", "--once", "--config", str(config)).returncode == 0
    assert claimwatch("run", "--once", "--config", str(config)).returncode == 0
    with MessageIndex(data / "index") as index:
        assert len(index) == 8
        (claim,) = index.by_order("405-1234567-1234567")
        assert claim["label"] == "a_to_z" and claim["from"] == "atoz-guarantee-no-reply@amazon.fr"
        (shipping,) = index.by_order("171-4455667-8899001")
        assert shipping["tracking"] == [{"carrier": "ups", "number": "1Z999AA10123456784"}]
