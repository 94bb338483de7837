"""Scores that matter for a seller: tier-1 recall (claims caught) and precision (no crying wolf).

Per-label precision/recall/F1, the confusion matrix, macro-F1, and the tier-1 view where the three
tier-1 labels count as one: a claim filed as a chargeback is still caught.
"""

from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from classifier.labels import LABELS, ROUTINE


def score(truth: list[str], predicted: list[str], review: list[bool] | None = None) -> dict:
    """All figures as plain data (the ``--json`` output and the model card's metrics)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=list(LABELS), zero_division=0
    )
    per_label = {
        label: {
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for label, p, r, f, s in zip(LABELS, precision, recall, f1, support, strict=True)
    }
    tier1_true = [t != ROUTINE for t in truth]
    tier1_pred = [p != ROUTINE for p in predicted]
    caught = sum(t and p for t, p in zip(tier1_true, tier1_pred, strict=True))
    # A label neither in the data nor predicted says nothing: averaging its 0 in would make a
    # folder of buyer mail alone look like a failed model.
    seen = [label for label in LABELS if label in set(truth) | set(predicted)]
    result = {
        "messages": len(truth),
        "macro_f1": round(
            float(f1_score(truth, predicted, labels=seen, average="macro", zero_division=0)), 4
        ),
        "tier1_recall": round(caught / max(1, sum(tier1_true)), 4),
        "tier1_precision": round(caught / max(1, sum(tier1_pred)), 4),
        "per_label": per_label,
        "labels": list(LABELS),
        "confusion": confusion_matrix(truth, predicted, labels=list(LABELS)).tolist(),
    }
    if review is not None:
        missed = [t and not p for t, p in zip(tier1_true, tier1_pred, strict=True)]
        result["needs_review"] = sum(review)
        result["tier1_missed_but_flagged"] = sum(
            m and r for m, r in zip(missed, review, strict=True)
        )
    return result


def format_score(result: dict, title: str) -> str:
    """A terminal report: headline figures, per-label table, confusion matrix."""
    lines = [
        f"{title}: {result['messages']} messages",
        f"  tier-1 recall {result['tier1_recall']:.3f}   tier-1 precision "
        f"{result['tier1_precision']:.3f}   macro-F1 {result['macro_f1']:.3f}",
        f"  {'label':12} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>5}",
    ]
    for label, s in result["per_label"].items():
        figures = f"{s['precision']:9.3f} {s['recall']:7.3f} {s['f1']:6.3f} {s['support']:5d}"
        lines.append(f"  {label:12} {figures}")
    lines.append("  confusion (rows: truth, columns: predicted " + " ".join(LABELS) + ")")
    for label, row in zip(LABELS, result["confusion"], strict=True):
        lines.append(f"  {label:12} " + " ".join(f"{n:5d}" for n in row))
    return "\n".join(lines)
