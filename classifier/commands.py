"""What ``claimwatch classify``, ``train``, ``evaluate`` and ``label`` do, apart from argument
parsing: each returns plain data or text, so the CLI stays a thin layer."""

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from classifier.corpus import SHIPPED_CORPUS, USER_WEIGHT, Sample, load_corpus
from classifier.evaluation import format_score, score
from classifier.labels import LABELS, check_label
from classifier.model_io import active_model_dir, load_model, save_model
from classifier.rules import load_rules
from classifier.training import better_or_equal, evaluate_system, is_heldout, train
from daemon.atomic import make_private_dir, write_atomic
from daemon.config import Config
from daemon.errors import ClaimwatchError, ModelError, ParseError
from daemon.message import parse_message
from daemon.policy import load_policy
from daemon.state import now
from daemon.triage import build_classifier, evidence_of

log = logging.getLogger(__name__)


def classify_files(config: Config, files: Iterable[Path]) -> list[dict]:
    """One result per file; a file that cannot be read or parsed gets an ``error`` instead."""
    classifier = build_classifier(config)
    policy = load_policy(config.deadlines_file)
    results = []
    for file in files:
        try:
            message = parse_message(Path(file).read_bytes())
        except (OSError, ParseError) as e:
            results.append({"file": str(file), "error": str(e)})
            continue
        verdict = classifier.classify(message)
        due = policy.apply(verdict.label, message.from_addr, message.date or now())
        results.append(
            {"file": str(file)}
            | verdict.as_dict()
            | evidence_of(message)
            | {"policy_deadline": due["policy_deadline"], "policy": due["policy"]}
        )
    return results


def format_verdict(result: dict) -> str:
    if "error" in result:
        return f"{result['file']}: error: {result['error']}"
    review = " NEEDS REVIEW" if result["needs_review"] else ""
    reasons = "; ".join(result["reasons"][:3])
    lines = [
        f"{result['file']}: {result['label']} (tier {result['tier']}, confidence "
        f"{result['confidence']:.2f}){review}",
        f"    reasons: {reasons}",
    ]
    orders = result["order_ids"] + result["shop_orders"] + result["payment_refs"]
    if orders:
        lines.append(f"    orders: {', '.join(orders)}")
    if result["tracking"]:
        lines.append(
            "    tracking: "
            + ", ".join(f"{t['carrier']} {t['number']}" for t in result["tracking"])
        )
    return "\n".join(lines)


def training_samples(config: Config, data: list[Path]) -> list[Sample]:
    """The given corpora, or the shipped one; the user's corrections are always merged in."""
    samples: list[Sample] = []
    for directory in data or [SHIPPED_CORPUS]:
        samples += load_corpus(directory)
    user = config.data_dir / "corpus"
    if any(user.glob("*/*.eml")):
        samples += load_corpus(user, weight=USER_WEIGHT, group_prefix="user-")
    return samples


def _progress(items, description: str):
    return tqdm(items, desc=description, unit="fold", leave=False)


def run_training(config: Config, data: list[Path], out: Path | None, force: bool) -> str:
    """Train, report, and install the new model unless it scores worse than the current one."""
    samples = training_samples(config, data)
    rules = load_rules(config.rules_file)
    result = train(samples, rules, _progress)
    out = out or config.data_dir / "model"
    report = [
        format_score(result.cv, "cross-validated on the training groups"),
        format_score(result.heldout, "held-out groups (never trained on)"),
        f"tier-1 threshold chosen: {result.card['tier1_threshold']}",
    ]
    previous = _previous_score(config, out, rules, [s for s in samples if is_heldout(s)])
    if previous and not force and not better_or_equal(result.heldout, previous):
        report.append(
            "the new model scores worse on the held-out groups than the current one "
            f"(tier-1 recall {result.heldout['tier1_recall']} vs {previous['tier1_recall']}, "
            f"macro-F1 {result.heldout['macro_f1']} vs {previous['macro_f1']}): "
            "kept the current model; use --force to install it anyway"
        )
        return "\n".join(report)
    path = save_model(out, result.model, result.card)
    report.append(f"model written to {path}")
    return "\n".join(report)


def _previous_score(config: Config, out: Path, rules, heldout: list[Sample]) -> dict | None:
    """The current model's score on the same held-out groups, or None if there is none."""
    if not heldout:
        return None
    for directory in (out, active_model_dir(config.data_dir)):
        try:
            model = load_model(directory)
        except ModelError:
            continue
        return evaluate_system(model.pipeline, model.card, rules, heldout)
    return None


def run_evaluation(config: Config, data: Path) -> dict:
    """Score the current model and rules on a labeled directory (and its held-out groups)."""
    classifier = build_classifier(config)
    samples = load_corpus(data)
    verdicts = classifier.classify_many([s.message for s in samples])
    truth = [s.label for s in samples]
    labels = [v.label for v in verdicts]
    review = [v.needs_review for v in verdicts]
    result = {
        "model": classifier.model.version if classifier.model else "rules-only",
        "data": str(data),
        "all": score(truth, labels, review),
    }
    held = [i for i, s in enumerate(samples) if is_heldout(s)]
    if held and classifier.model is not None:
        result["heldout"] = score(
            [truth[i] for i in held], [labels[i] for i in held], [review[i] for i in held]
        )
    return result


def format_evaluation(result: dict) -> str:
    parts = [f"model: {result['model']}", format_score(result["all"], f"all of {result['data']}")]
    if "heldout" in result:
        parts.append(format_score(result["heldout"], "held-out groups (the model never saw them)"))
    return "\n".join(parts)


def add_label(config: Config, ref: str, label: str) -> Path:
    """Copy a message into the user's corpus under *label* (moving it from any other label)."""
    check_label(label)
    raw = _resolve(config, ref)
    name = f"user-{hashlib.sha256(raw).hexdigest()[:16]}.eml"
    corpus = config.data_dir / "corpus"
    for other in LABELS:
        stale = corpus / other / name
        if other != label and stale.exists():
            stale.unlink()
    target = make_private_dir(corpus / label) / name
    write_atomic(target, raw)
    return target


def _resolve(config: Config, ref: str) -> bytes:
    """A message by file path, spool file name or Message-ID."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path.read_bytes()
    spool = config.data_dir / "spool"
    for candidate in (spool / "new" / ref, spool / "cur" / f"{ref}:2,S"):
        if candidate.is_file():
            return candidate.read_bytes()
    ledger = config.data_dir / "state" / "spool-ledger.jsonl"
    if ledger.exists():
        wanted = ref if ref.startswith("<") else f"<{ref}>"
        for line in ledger.read_text().splitlines():
            record = json.loads(line)
            if record.get("message_id") == wanted and "content" in record:
                return _resolve(config, record["name"])
    raise ClaimwatchError(
        f"no message found for {ref!r}: give a file path, a spool file name "
        "(see state/verdicts.jsonl) or a Message-ID"
    )
