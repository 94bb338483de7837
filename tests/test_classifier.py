"""The classifier's machinery on a small corpus built from the bundled samples: rules, model
files, the CLI, retraining on a user's corrections. Model quality has its own tests."""

import json
import os
import shutil
from pathlib import Path

import pytest

from classifier.evaluation import score
from classifier.model_io import CARD_FILE, MODEL_FILE, load_model
from classifier.rules import load_rules
from daemon.errors import ConfigError, ModelError
from daemon.message import parse_message
from tests.support import claimwatch

SAMPLES = Path(__file__).resolve().parents[1] / "daemon" / "samples"
MINI = {  # sample -> (label, the text to vary per copy)
    "03-a-to-z-claim-fr.eml": ("a_to_z", b"405-1234567-1234567"),
    "04-chargeback-en.eml": ("chargeback", b"142.50"),
    "05-stripe-dispute-en.eml": ("chargeback", b"64.00"),
    "02-buyer-not-received-de.eml": ("at_risk", b"Freitag"),
    "08-return-with-photo-en.eml": ("at_risk", b"shattered"),
    "06-buyer-tracking-question-it.eml": ("routine", b"Giulia"),
    "07-newsletter-en.eml": ("routine", b"5 ways"),
    "01-shipping-es.eml": ("routine", b"Tienda Sol"),
}


def build_mini_corpus(root: Path, copies: int = 4) -> Path:
    for sample, (label, vary) in MINI.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        raw = (SAMPLES / sample).read_bytes()
        for n in range(copies):
            name = f"{sample[:2]}-{n}__1.eml"
            (root / label / name).write_bytes(raw.replace(vary, vary + f" {n}".encode()))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A data_dir holding a model trained on the mini corpus, and its config."""
    root = tmp_path_factory.mktemp("classifier")
    corpus = build_mini_corpus(root / "corpus-src")
    config = root / "config.toml"
    config.write_text(f'data_dir = "{root / "data"}"\n')
    result = claimwatch("train", "--config", str(config), "--data", str(corpus), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "model written to" in result.stdout
    return root, config, corpus


def test_classify_json_reports_label_tier_confidence_and_reasons(trained):
    _, config, _ = trained
    files = [str(SAMPLES / "03-a-to-z-claim-fr.eml"), str(SAMPLES / "07-newsletter-en.eml")]
    result = claimwatch("classify", "--json", "--config", str(config), *files)
    assert result.returncode == 0, result.stderr
    claim, newsletter = (json.loads(line) for line in result.stdout.splitlines())
    assert claim["label"] == "a_to_z" and claim["tier"] == 1
    assert claim["reasons"] == ["rule:amazon-a-to-z-sender"]
    assert newsletter["file"] == files[1]
    assert newsletter["tier"] == (2 if newsletter["label"] == "routine" else 1)
    assert 0 <= newsletter["confidence"] <= 1 and newsletter["reasons"]


def test_classify_without_any_config_uses_the_shipped_setup(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "c")}
    env.pop("CLAIMWATCH_CONFIG", None)
    result = claimwatch("classify", "--json", str(SAMPLES / "04-chargeback-en.eml"), env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] == "chargeback"


def test_a_broken_file_is_reported_and_the_others_classified(trained, tmp_path):
    _, config, _ = trained
    result = claimwatch(
        "classify", "--json", "--config", str(config),
        str(SAMPLES / "09-broken-empty.eml"), str(SAMPLES / "04-chargeback-en.eml"),
    )  # fmt: skip
    assert result.returncode == 1
    broken, good = (json.loads(line) for line in result.stdout.splitlines())
    assert broken["error"] == "empty message (0 bytes)" and good["label"] == "chargeback"


def test_retraining_with_a_users_correction_changes_the_prediction(trained, tmp_path):
    _, _, corpus = trained
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    target = str(SAMPLES / "06-buyer-tracking-question-it.eml")
    assert claimwatch("train", "--config", str(config), "--data", str(corpus)).returncode == 0
    before = json.loads(claimwatch("classify", "--json", "--config", str(config), target).stdout)
    assert before["label"] == "routine"

    labelled = claimwatch("label", "--config", str(config), target, "at_risk")
    assert labelled.returncode == 0, labelled.stderr
    assert (tmp_path / "data" / "corpus" / "at_risk").is_dir()
    retrained = claimwatch("train", "--config", str(config), "--data", str(corpus), "--force")
    assert retrained.returncode == 0, retrained.stderr
    after = json.loads(claimwatch("classify", "--json", "--config", str(config), target).stdout)
    assert after["label"] == "at_risk", after


def test_label_rejects_an_unknown_label_and_an_unknown_reference(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    bad = claimwatch("label", "--config", str(config), str(SAMPLES / "01-shipping-es.eml"), "spam")
    assert bad.returncode == 2 and "unknown label 'spam'" in bad.stderr
    missing = claimwatch("label", "--config", str(config), "<nope@x>", "routine")
    assert missing.returncode == 1 and "no message found for '<nope@x>'" in missing.stderr


def test_evaluate_json_reports_the_headline_figures(trained):
    _, config, corpus = trained
    result = claimwatch("evaluate", "--json", "--config", str(config), "--data", str(corpus))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["all"]["messages"] == 32
    assert {"tier1_recall", "tier1_precision", "macro_f1", "confusion"} <= set(report["all"])


def test_model_card_records_what_scikit_learn_advises(trained):
    root, _, _ = trained
    card = json.loads((root / "data" / "model" / CARD_FILE).read_text())
    assert card["labels"] == ["a_to_z", "chargeback", "at_risk", "routine"]
    assert card["corpus"]["sha256"] and card["trained_at"] and card["model_sha256"]
    assert {"scikit-learn", "numpy", "python"} <= set(card["versions"])
    assert "heldout" in card["metrics"] and "cross_validated" in card["metrics"]


@pytest.fixture
def model_copy(trained, tmp_path):
    root, _, _ = trained
    directory = tmp_path / "model"
    shutil.copytree(root / "data" / "model", directory)
    return directory


def test_a_group_writable_model_is_refused(model_copy):
    (model_copy / MODEL_FILE).chmod(0o664)
    with pytest.raises(ModelError, match=r"writable by group/others \(mode 0664\); a joblib file"):
        load_model(model_copy)


def test_a_corrupt_model_is_refused_with_a_clear_error(model_copy):
    path = model_copy / MODEL_FILE
    path.write_bytes(b"not a pickle at all")
    card = json.loads((model_copy / CARD_FILE).read_text())
    import hashlib

    card["model_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (model_copy / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="cannot load the model"):
        load_model(model_copy)


def test_a_model_from_another_scikit_learn_is_refused(model_copy):
    card = json.loads((model_copy / CARD_FILE).read_text())
    card["versions"]["scikit-learn"] = "0.24.2"
    (model_copy / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"trained with scikit-learn 0\.24\.2"):
        load_model(model_copy)


def test_a_model_changed_behind_its_card_is_refused(model_copy):
    with open(model_copy / MODEL_FILE, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match="does not match its card"):
        load_model(model_copy)


def test_rules_force_and_veto(tmp_path):
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        '[[rules]]\nname = "stripe-disputes"\nlabel = "chargeback"\n'
        "sender = '@stripe\\.com$'\nsubject = 'dispute'\n"
        '[[rules]]\nname = "no-newsletter-claims"\nveto = ["a_to_z", "at_risk"]\n'
        'header = "List-Unsubscribe"\n'
    )
    rules = load_rules(rules_file)
    stripe = parse_message((SAMPLES / "05-stripe-dispute-en.eml").read_bytes())
    outcome = rules.apply(stripe)
    assert (outcome.forced, outcome.forced_by) == ("chargeback", "stripe-disputes")
    newsletter = parse_message((SAMPLES / "07-newsletter-en.eml").read_bytes())
    outcome = rules.apply(newsletter)
    assert outcome.forced is None
    assert outcome.vetoed == {"a_to_z": "no-newsletter-claims", "at_risk": "no-newsletter-claims"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rules]]\nlabel = "a_to_z"\nsender = "x"\n', "rules[0]: missing required key 'name'"),
        (
            '[[rules]]\nname = "r"\nlabel = "spam"\nsender = "x"\n',
            "rules[0] (r).label: expected one of a_to_z, chargeback, at_risk, routine, got 'spam'",
        ),
        ('[[rules]]\nname = "r"\nlabel = "a_to_z"\n', "rules[0] (r): give at least one condition"),
        (
            '[[rules]]\nname = "r"\nlabel = "a_to_z"\nsender = "(x"\n',
            "rules[0] (r).sender: invalid regular expression '(x'",
        ),
        (
            '[[rules]]\nname = "r"\nveto = ["at_risk"]\nheader = "X-Nope"\n',
            "rules[0] (r).header: 'X-Nope' is not a header the parser keeps",
        ),
        (
            '[[rules]]\nname = "r"\nlabel = "a_to_z"\nveto = ["at_risk"]\nsender = "x"\n',
            "rules[0] (r): set exactly one of 'label' (force) and 'veto' (forbid)",
        ),
    ],
)
def test_rule_errors_name_file_rule_and_key(tmp_path, text, message):
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_rules(rules_file)
    assert str(error.value).startswith(f"{rules_file}: ")
    assert message in str(error.value)


def test_the_shipped_rules_load():
    assert {r.name for r in load_rules().rules} >= {
        "amazon-a-to-z-sender",
        "amazon-chargeback-sender",
    }


def test_train_keeps_the_current_model_when_the_new_one_scores_worse(trained, tmp_path):
    """A corpus whose training groups are mislabelled yields a worse model on the (correctly
    labelled) held-out groups: train must keep the model in place unless --force."""
    from classifier.corpus import Sample, group_of
    from classifier.training import is_heldout

    root, config, _ = trained
    model = root / "data" / "model" / "model.joblib"
    before = model.read_bytes()
    corpus = build_mini_corpus(tmp_path / "mislabelled")
    rotate = {
        "a_to_z": "routine",
        "chargeback": "at_risk",
        "at_risk": "routine",
        "routine": "at_risk",
    }
    for path in list(corpus.glob("*/*.eml")):
        sample = Sample(path, path.parent.name, group_of(path), message=None)
        if not is_heldout(sample):
            target = corpus / rotate[path.parent.name] / path.name
            path.rename(target)
    worse = claimwatch("train", "--config", str(config), "--data", str(corpus))
    assert worse.returncode == 0, worse.stderr
    assert "kept the current model; use --force to install it anyway" in worse.stdout
    assert model.read_bytes() == before


def test_classify_json_reports_order_ids_and_validated_tracking(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    result = claimwatch(
        "classify", "--json", "--config", str(config), str(SAMPLES / "01-shipping-es.eml")
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["order_ids"] == ["171-4455667-8899001"]
    assert found["tracking"] == [{"carrier": "ups", "number": "1Z999AA10123456784"}]


def test_macro_f1_averages_only_the_labels_present():
    """A folder of buyer mail alone has no A-to-z notice: that label's 0 must not halve the F1."""
    result = score(["at_risk", "routine", "routine"], ["at_risk", "routine", "routine"])
    assert result["macro_f1"] == 1.0
    assert score(["at_risk", "routine"], ["routine", "routine"])["macro_f1"] == round(2 / 3 / 2, 4)
