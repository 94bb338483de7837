"""The daemon classifies every message, and swaps its model when the file changes."""

import json
import os
import shutil
import subprocess

from classifier.model_io import CARD_FILE, MODEL_FILE
from tests.support import CLAIMWATCH, claimwatch, wait_for
from tests.test_classifier import MINI, SAMPLES, build_mini_corpus

QUESTION = "06-buyer-tracking-question-it.eml"


def verdicts(data_dir) -> list[dict]:
    path = data_dir / "state" / "verdicts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def install(source, target) -> None:
    """What `claimwatch train` does: the card first, then the model renamed into place."""
    shutil.copy(source / CARD_FILE, target / CARD_FILE)
    shutil.copy(source / MODEL_FILE, target / ".incoming")
    os.replace(target / ".incoming", target / MODEL_FILE)


def drop(inbox, n: int) -> None:
    raw = (SAMPLES / QUESTION).read_bytes().replace(b"Giulia", f"Giulia {n}0".encode())
    (inbox / f".q{n}").write_bytes(raw)
    os.rename(inbox / f".q{n}", inbox / f"q{n}.eml")


def test_the_daemon_swaps_models_and_keeps_the_old_one_when_the_new_file_is_corrupt(tmp_path):
    normal = build_mini_corpus(tmp_path / "normal")
    flipped = build_mini_corpus(tmp_path / "flipped")
    for name in os.listdir(flipped / "routine"):  # the question becomes at-risk in model B
        if name.startswith(QUESTION[:2]):
            os.rename(flipped / "routine" / name, flipped / "at_risk" / name)
    assert MINI[QUESTION][0] == "routine"
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    for corpus, out in ((normal, "data/model"), (flipped, "model-b")):
        result = claimwatch("train", "--config", str(config), "--data", str(corpus),
                            "--out", str(tmp_path / out), "--force", timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr
    data, inbox = tmp_path / "data", tmp_path / "data" / "inbox"
    proc = subprocess.Popen([*CLAIMWATCH, "run", "--config", str(config)], stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: (inbox / "done").is_dir(), timeout=30)
        drop(inbox, 1)
        assert wait_for(lambda: len(verdicts(data)) == 1, timeout=30)
        assert verdicts(data)[0]["label"] == "routine"

        install(tmp_path / "model-b", data / "model")
        card_b = json.loads((data / "model" / CARD_FILE).read_text())
        status = data / "state" / "status.json"
        swapped = lambda: card_b["model_sha256"][:12] in status.read_text()  # noqa: E731
        assert wait_for(swapped, timeout=15)
        drop(inbox, 2)
        assert wait_for(lambda: len(verdicts(data)) == 2, timeout=15)
        assert verdicts(data)[1]["label"] == "at_risk"
        assert verdicts(data)[1]["model"].endswith(card_b["model_sha256"][:12])

        (data / "model" / ".incoming").write_bytes(b"garbage, not a pickle")
        os.replace(data / "model" / ".incoming", data / "model" / MODEL_FILE)
        assert wait_for(lambda: "reload failed" in status.read_text(), timeout=15)
        drop(inbox, 3)
        assert wait_for(lambda: len(verdicts(data)) == 3, timeout=15)
        assert verdicts(data)[2]["label"] == "at_risk", "the old model B stays in service"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()
    assert b"model reload failed, keeping the model in service" in err


def test_a_corrupt_model_at_start_leaves_the_daemon_on_rules_only_and_status_says_so(tmp_path):
    data = tmp_path / "data"
    (data / "model").mkdir(parents=True)
    (data / "model" / MODEL_FILE).write_bytes(b"corrupt")
    (data / "model" / CARD_FILE).write_text("{}")
    (data / "inbox").mkdir()
    for sample in ("03-a-to-z-claim-fr.eml", QUESTION):
        shutil.copy(SAMPLES / sample, data / "inbox" / sample)
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{data}"\n')
    result = claimwatch("run", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "classifying with the rules only" in result.stderr
    by_subject = {v["from"]: v for v in verdicts(data)}
    claim = by_subject["atoz-guarantee-no-reply@amazon.fr"]
    assert claim["label"] == "a_to_z" and claim["reasons"] == ["rule:amazon-a-to-z-sender"]
    question = next(v for sender, v in by_subject.items() if sender != claim["from"])
    assert question["label"] == "routine" and question["needs_review"] is True
    assert question["model"] == "rules-only"
    status = json.loads(claimwatch("status", "--json", "--config", str(config)).stdout)
    assert status["model"]["mode"] == "rules-only"
    assert "does not match its card" in status["model"]["error"]
