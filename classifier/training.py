"""Training: the held-out split, cross-validation, the tier-1 threshold, the model card.

The held-out split is a fixed property of the shipped corpus: a group belongs to it when the hash
of its name falls in one quarter, so every model (the shipped one, a user's retrained one) is
scored on the same unseen groups, and "keep the previous model if the new one scores worse" is a
fair comparison. The user's own corrections are never held out: they are what retraining is for.
"""

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sklearn.model_selection import StratifiedGroupKFold

from classifier.corpus import Sample, corpus_hash
from classifier.evaluation import score
from classifier.features import fields_of
from classifier.labels import LABELS, ROUTINE, TIER1
from classifier.model_io import LoadedModel
from classifier.recipe import build_model
from classifier.rules import RuleSet
from classifier.triage import DEFAULT_TIER1_THRESHOLD, Classifier

log = logging.getLogger(__name__)

HELDOUT_SHARE = 4  # one group in four
RECALL_TARGET = 0.99
THRESHOLDS = tuple(round(0.5 - 0.025 * i, 3) for i in range(15))  # 0.5 down to 0.15


def is_heldout(sample: Sample) -> bool:
    """Whether a shipped sample's group is in the fixed held-out quarter."""
    if sample.group.startswith("user-"):
        return False
    digest = hashlib.sha256(sample.group.encode()).digest()
    return digest[0] % HELDOUT_SHARE == 0


def _folds(samples: list[Sample], n_splits: int, seed: int = 0) -> list:
    labels = [s.label for s in samples]
    groups = [s.group for s in samples]
    n_splits = min(n_splits, min(Counter(labels).values()), len(set(groups)))
    splitter = StratifiedGroupKFold(n_splits=max(2, n_splits), shuffle=True, random_state=seed)
    return list(splitter.split(labels, labels, groups))


def fit(samples: list[Sample]):
    """Fit the recipe on *samples*, each weighted (a user's corrections count more)."""
    model = build_model()
    model.fit(
        [fields_of(s.message) for s in samples],
        [s.label for s in samples],
        classify__sample_weight=[s.weight for s in samples],
    )
    return model


def calibration_error(truth: list[str], probs: list[dict], bins: int = 10) -> float:
    """Expected calibration error of the top label: how far 'confidence 0.8' is from 80%."""
    total, error = len(truth), 0.0
    rows = [(max(p.values()), max(p, key=p.get) == t) for t, p in zip(truth, probs, strict=True)]
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [(c, ok) for c, ok in rows if low < c <= high or (b == 0 and c == 0)]
        if members:
            confidence = sum(c for c, _ in members) / len(members)
            accuracy = sum(ok for _, ok in members) / len(members)
            error += len(members) / total * abs(confidence - accuracy)
    return round(error, 4)


def _probabilities(model, samples: list[Sample]) -> list[dict]:
    probs = model.predict_proba([fields_of(s.message) for s in samples])
    # A label the training data lacked has probability 0, not a missing key.
    return [
        dict.fromkeys(LABELS, 0.0) | dict(zip(model.classes_, row.tolist(), strict=True))
        for row in probs
    ]


def _label_at(probs: dict, threshold: float) -> str:
    if sum(probs[label] for label in TIER1) >= threshold:
        return max(TIER1, key=probs.__getitem__)
    return ROUTINE


def choose_threshold(truth: list[str], probs: list[dict]) -> float:
    """The highest tier-1 threshold whose cross-validated tier-1 recall meets the target."""
    tier1 = [t != ROUTINE for t in truth]
    for threshold in THRESHOLDS:
        caught = sum(
            t and _label_at(p, threshold) != ROUTINE for t, p in zip(tier1, probs, strict=True)
        )
        if caught >= RECALL_TARGET * sum(tier1):
            return threshold
    return THRESHOLDS[-1]


@dataclass
class TrainResult:
    model: object
    card: dict
    heldout: dict
    cv: dict


def cross_validate(samples: list[Sample], progress: Callable | None = None) -> tuple[list, list]:
    """Out-of-fold probabilities over grouped folds: what the model says of unseen groups."""
    truth: list[str] = []
    probs: list[dict] = []
    folds = _folds(samples, 5)
    for train_idx, test_idx in progress(folds, "cross-validation") if progress else folds:
        model = fit([samples[i] for i in train_idx])
        probs += _probabilities(model, [samples[i] for i in test_idx])
        truth += [samples[i].label for i in test_idx]
    return truth, probs


def evaluate_system(model, card: dict, rules: RuleSet, samples: list[Sample]) -> dict:
    """Score model and rules together, exactly as the daemon decides."""
    classifier = Classifier(LoadedModel(model, card, path=None), rules)
    verdicts = classifier.classify_many([s.message for s in samples])
    return score(
        [s.label for s in samples], [v.label for v in verdicts], [v.needs_review for v in verdicts]
    )


def train(samples: list[Sample], rules: RuleSet, progress: Callable | None = None) -> TrainResult:
    """Cross-validate, pick the threshold, fit on the training groups, score the held-out ones."""
    heldout = [s for s in samples if is_heldout(s)]
    training = [s for s in samples if not is_heldout(s)]
    truth, probs = cross_validate(training, progress)
    threshold = choose_threshold(truth, probs) if truth else DEFAULT_TIER1_THRESHOLD
    cv = score(truth, [_label_at(p, threshold) for p in probs])
    cv["expected_calibration_error"] = calibration_error(truth, probs) if truth else None
    model = fit(training)
    card = {
        "labels": list(LABELS),
        "tier1_threshold": threshold,
        "corpus": {
            "sha256": corpus_hash(samples),
            "messages": len(samples),
            "groups": len({s.group for s in samples}),
            "per_label": dict(Counter(s.label for s in samples)),
            "training_messages": len(training),
            "heldout_messages": len(heldout),
            "heldout_rule": "sha256(group)[0] % 4 == 0, user corrections never held out",
        },
        "metrics": {"cross_validated": cv},
    }
    held = evaluate_system(model, card, rules, heldout) if heldout else {}
    card["metrics"]["heldout"] = held
    return TrainResult(model, card, held, cv)


def better_or_equal(new: dict, old: dict) -> bool:
    """Compare two held-out scores: tier-1 recall first (a missed claim costs most), then F1."""
    key = ("tier1_recall", "tier1_precision", "macro_f1")
    return tuple(new.get(k, 0) for k in key) >= tuple(old.get(k, 0) for k in key)
