"""The runtime judgement: model probabilities, rules, thresholds and the reasons behind a label.

Missing a claim costs far more than a false alarm, so tier 1 is chosen as soon as the tier-1
labels together reach the model's ``tier1_threshold`` (tuned at training time for recall), and a
message that stays routine while its tier-1 probability passes ``review_threshold`` is flagged
``needs_review``: never silently routine. Without a usable model the rules still run and every
message they do not settle is flagged for review.
"""

import threading
from dataclasses import asdict, dataclass

import numpy

from classifier.features import fields_of
from classifier.labels import LABELS, ROUTINE, TIER1, tier_of
from classifier.model_io import LoadedModel
from classifier.rules import RuleOutcome, RuleSet
from daemon.message import Message

DEFAULT_TIER1_THRESHOLD = 0.5
DEFAULT_REVIEW_THRESHOLD = 0.15
REASONS_SHOWN = 4


@dataclass(frozen=True)
class Verdict:
    label: str
    tier: int
    confidence: float
    needs_review: bool
    reasons: tuple[str, ...]
    model: str

    def as_dict(self) -> dict:
        return asdict(self) | {"reasons": list(self.reasons)}


class Classifier:
    """Model + rules; the model can be swapped while messages are being classified."""

    def __init__(
        self,
        model: LoadedModel | None,
        rules: RuleSet,
        review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
        model_error: str | None = None,
    ):
        self.model, self.rules = model, rules
        self.review_threshold = review_threshold
        self.model_error = model_error
        self._lock = threading.Lock()

    def swap(self, model: LoadedModel) -> None:
        """Install a new model; a classification under way finishes with the old one."""
        with self._lock:
            self.model, self.model_error = model, None

    def classify(self, message: Message) -> Verdict:
        return self.classify_many([message])[0]

    def classify_many(self, messages: list[Message]) -> list[Verdict]:
        model = self.model  # one reference for the whole batch, whatever swap() does meanwhile
        outcomes = [self.rules.apply(m) for m in messages]
        if model is None:
            return [self._rules_only(o) for o in outcomes]
        features = model.pipeline.named_steps["features"].transform(
            [fields_of(m) for m in messages]
        )
        probabilities = model.pipeline.named_steps["classify"].predict_proba(features)
        classes = list(model.pipeline.classes_)
        rows = features.tocsr()  # rows read straight from the CSR arrays: slicing is costly
        return [
            self._decide(model, classes, probabilities[i], _row(rows, i), outcomes[i])
            for i in range(len(messages))
        ]

    def _rules_only(self, outcome: RuleOutcome) -> Verdict:
        if outcome.forced:
            return _forced(outcome, "rules-only")
        reason = f"no usable model ({self.model_error or 'none loaded'}): rules only"
        return Verdict(ROUTINE, 2, 0.0, True, (reason,), "rules-only")

    def _decide(self, model, classes, probs, row, outcome: RuleOutcome) -> Verdict:
        if outcome.forced:
            return _forced(outcome, model.version)
        probs = dict.fromkeys(LABELS, 0.0) | dict(zip(classes, probs.tolist(), strict=True))
        for label in outcome.vetoed:
            probs[label] = 0.0
        total = sum(probs.values()) or 1.0
        probs = {k: v / total for k, v in probs.items()}
        tier1 = sum(probs[label] for label in TIER1)
        threshold = model.card.get("tier1_threshold", DEFAULT_TIER1_THRESHOLD)
        label = max(TIER1, key=probs.__getitem__) if tier1 >= threshold else ROUTINE
        review = label == ROUTINE and tier1 >= self.review_threshold
        reasons = _top_features(model, classes.index(label), row) if label in classes else []
        reasons += [f"vetoed {k} by rule {v}" for k, v in outcome.vetoed.items()]
        if review:
            reasons.append(f"needs review: tier-1 probability {tier1:.2f}")
        return Verdict(
            label, tier_of(label), round(probs[label], 4), review, tuple(reasons), model.version
        )


def _forced(outcome: RuleOutcome, model: str) -> Verdict:
    label = outcome.forced
    return Verdict(label, tier_of(label), 1.0, False, (f"rule:{outcome.forced_by}",), model)


def _row(matrix, i: int) -> tuple:
    """(feature indices, values) of row *i* of a CSR matrix."""
    start, end = matrix.indptr[i], matrix.indptr[i + 1]
    return matrix.indices[start:end], matrix.data[start:end]


def _top_features(model: LoadedModel, class_index: int, row: tuple) -> list[str]:
    """The features that pushed this label most (coefficient times value), named for people."""
    estimator = _linear(model.pipeline.named_steps["classify"])
    if estimator is None:
        return []
    coef = estimator.coef_[class_index] if estimator.coef_.shape[0] > 1 else estimator.coef_[0]
    indices, values = row
    contributions = values * coef[indices]
    order = numpy.argsort(contributions)[::-1][:REASONS_SHOWN]
    names = model.feature_names()
    return [f"{names[indices[i]].replace('__', ':', 1)}" for i in order if contributions[i] > 0]


def _linear(estimator):
    """The linear model whose weights explain a decision (models trained before 2026-11-22
    wrapped it in a CalibratedClassifierCV); None if there is none to read."""
    if hasattr(estimator, "coef_"):
        return estimator
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    return calibrated[0].estimator if calibrated else None
