"""The drop folder works with no account at all, takes files only once they are whole."""

import os
import subprocess
import time

from tests import mailgen
from tests.support import CLAIMWATCH, claimwatch, spooled, wait_for


def offline_config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    return path


def test_run_once_spools_dropped_files_and_moves_them_to_done(tmp_path):
    config = offline_config(tmp_path)
    inbox = tmp_path / "data" / "inbox"
    inbox.mkdir(parents=True)
    messages = mailgen.generate(3, seed=20)
    for i, raw in enumerate(messages):
        (inbox / f"m{i}.eml").write_bytes(raw)
    (inbox / "notes.txt").write_text("not mail")
    (inbox / ".partial.eml").write_bytes(messages[0])

    result = claimwatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert len(spooled(tmp_path / "data")) == 3
    assert sorted(os.listdir(inbox / "done")) == ["m0.eml", "m1.eml", "m2.eml"]
    assert sorted(os.listdir(inbox)) == [".partial.eml", "done", "notes.txt"]


def test_the_same_message_dropped_twice_is_spooled_once(tmp_path):
    config = offline_config(tmp_path)
    inbox = tmp_path / "data" / "inbox"
    inbox.mkdir(parents=True)
    (raw,) = mailgen.generate(1, seed=21)
    (inbox / "a.eml").write_bytes(raw)
    assert claimwatch("run", "--once", "--config", str(config)).returncode == 0
    (inbox / "a.eml").write_bytes(raw.replace(b"\r\n", b"\n"))  # the same mail, exported again
    assert claimwatch("run", "--once", "--config", str(config)).returncode == 0
    assert len(spooled(tmp_path / "data")) == 1
    assert sorted(os.listdir(inbox / "done")) == ["a-1.eml", "a.eml"]


def test_the_watcher_waits_until_a_file_is_fully_written(tmp_path):
    config = offline_config(tmp_path)
    data = tmp_path / "data"
    inbox = data / "inbox"
    proc = subprocess.Popen(
        [*CLAIMWATCH, "run", "--config", str(config)], stderr=subprocess.PIPE, text=True
    )
    try:
        assert wait_for(lambda: (inbox / "done").is_dir(), timeout=30)
        time.sleep(0.5)  # the observer is scheduled right after done/ exists
        (raw,) = mailgen.generate(1, seed=22, min_size=40_000)
        with open(inbox / "slow.eml", "wb") as f:
            f.write(raw[:1000])
            f.flush()
            time.sleep(1.0)
            assert spooled(data) == [], "a file still being written was taken"
            f.write(raw[1000:])
        assert wait_for(lambda: len(spooled(data)) == 1, timeout=5)
        assert spooled(data)[0].read_bytes() == raw

        (raw2,) = mailgen.generate(1, seed=23)
        (inbox / ".incoming").write_bytes(raw2)
        os.rename(inbox / ".incoming", inbox / "renamed.eml")
        assert wait_for(lambda: len(spooled(data)) == 2, timeout=5)
        assert wait_for(lambda: not (inbox / "renamed.eml").exists(), timeout=5)

        # moved in from elsewhere ('mv ~/Downloads/x.eml'): whole already, its mtime kept; taken
        # at once, not at the next rescan (5 s)
        (raw3,) = mailgen.generate(1, seed=24)
        outside = tmp_path / "downloaded.eml"
        outside.write_bytes(raw3)
        os.utime(outside, (time.time() - 3600, time.time() - 3600))
        os.rename(outside, inbox / "downloaded.eml")
        assert wait_for(lambda: len(spooled(data)) == 3, timeout=1.5)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
