"""The shipped model against issue 3's bar: hard negatives stay routine, held-out scores.

These run the real command line on the model committed in models/, so a retrained model that
gets worse fails here, and the figures in the model card can be reproduced by anyone.
"""

import json
from pathlib import Path

import pytest

from tests.support import claimwatch

REPO = Path(__file__).resolve().parents[1]
HARD_NEGATIVES = REPO / "tests" / "data" / "hard_negatives"
CORPUS = REPO / "models" / "corpus"
CARD = REPO / "models" / "model.json"


@pytest.fixture
def shipped(tmp_path):
    """A config with an empty data_dir, so the model shipped in models/ is the one used."""
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    return config


def test_the_hard_negative_set_is_independent_and_varied():
    files = sorted(HARD_NEGATIVES.glob("*.eml"))
    assert len(files) >= 15
    assert len({f.name.split("-")[0] for f in files}) >= 4
    training = {p.name for p in CORPUS.glob("*/*.eml")}
    assert not training & {f.name for f in files}


BAR_NOT_MET = pytest.mark.xfail(
    strict=True,
    reason="issue 3's quality bar is not met yet (see the model card: held-out tier-1 precision "
    "0.81, 21 of 24 hard negatives routine); strict, so the day it passes this marker must go",
)


@BAR_NOT_MET
def test_hard_negatives_stay_routine(shipped):
    files = sorted(str(f) for f in HARD_NEGATIVES.glob("*.eml"))
    result = claimwatch("classify", "--json", "--config", str(shipped), *files)
    assert result.returncode == 0, result.stderr
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    flagged = [f"{Path(v['file']).name}: {v['label']}" for v in verdicts if v["label"] != "routine"]
    assert flagged == [], f"{len(flagged)} of {len(verdicts)} hard negatives raised an alarm"


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    config = tmp_path_factory.mktemp("quality") / "config.toml"
    config.write_text(f'data_dir = "{config.parent / "data"}"\n')
    result = claimwatch("evaluate", "--json", "--config", str(config), "--data", str(CORPUS))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_evaluate_reproduces_the_held_out_scores_of_the_model_card(evaluation):
    card = json.loads(CARD.read_text())["metrics"]["heldout"]
    held = evaluation["heldout"]
    for key in ("messages", "tier1_recall", "tier1_precision", "macro_f1", "confusion"):
        assert held[key] == card[key], key


def test_most_hard_negatives_stay_routine_today(shipped):
    """A floor under today's figure (21 of 24), so a retrained model cannot quietly regress.

    It was 22 until the corpus learned that an order id in a subject is no claim (a_to_z false
    positives on the corpus 38 -> 3); a webinar invitation about chargebacks crossed over then.
    """
    files = sorted(str(f) for f in HARD_NEGATIVES.glob("*.eml"))
    result = claimwatch("classify", "--json", "--config", str(shipped), *files)
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(v["label"] == "routine" for v in verdicts) >= 21


def test_held_out_recall_and_precision_floor_today(evaluation):
    """Floors under today's held-out figures (recall 0.993, precision 0.81, macro-F1 0.90).

    They were 1.0 / 0.91 / 0.95 on a held-out split of 229 messages. 195 messages written by five
    new hands (calm complaints, withdrawals, gift swaps, questions before buying, bulk mail about
    claims) then joined the corpus, 51 of them in the held-out split: the model shipped
    before them caught 65 of their 80 at-risk messages, at precision 0.69, and they are the kind of
    mail issue 3 is judged on: the split got harder.
    """
    held = evaluation["heldout"]
    assert held["tier1_recall"] >= 0.99
    assert held["tier1_precision"] >= 0.80
    assert held["macro_f1"] >= 0.89


@BAR_NOT_MET
def test_held_out_scores_meet_the_bar(evaluation):
    held = evaluation["heldout"]
    print(json.dumps({k: held[k] for k in ("tier1_recall", "tier1_precision", "macro_f1")}))
    assert held["tier1_recall"] >= 0.99
    assert held["tier1_precision"] >= 0.95
    assert held["macro_f1"] >= 0.93
