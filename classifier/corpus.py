"""Labeled mail on disk: ``<dir>/<label>/*.eml``, the shipped corpus and the user's own.

A file's group is the part of its name before ``__`` (``fr-atoz-opened__2.eml`` is in group
``fr-atoz-opened``): messages of one source or template share a group, and every split keeps a
group on one side, so the scores say how the model does on mail it has not seen the like of. A
user's corrections (``data_dir/corpus``) weigh more than the shipped corpus: they are the seller's
own mail and the reason they retrain.
"""

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from classifier.labels import LABELS
from daemon.errors import ClaimwatchError, ParseError
from daemon.message import Message, parse_message

log = logging.getLogger(__name__)

SHIPPED_CORPUS = Path(__file__).resolve().parents[1] / "models" / "corpus"
USER_WEIGHT = 3.0


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    group: str
    message: Message
    weight: float = 1.0


def group_of(path: Path) -> str:
    return path.stem.split("__", 1)[0]


def load_corpus(directory: Path, weight: float = 1.0, group_prefix: str = "") -> list[Sample]:
    """Every parsable ``.eml`` under the label folders of *directory*."""
    if not directory.is_dir():
        raise ClaimwatchError(
            f"{directory}: no such corpus directory (expected <dir>/<label>/*.eml)"
        )
    samples = []
    for label in LABELS:
        for path in sorted((directory / label).glob("*.eml")):
            try:
                message = parse_message(path.read_bytes())
            except (OSError, ParseError) as e:
                log.warning("%s: skipped: %s", path, e)
                continue
            samples.append(Sample(path, label, group_prefix + group_of(path), message, weight))
    if not samples:
        raise ClaimwatchError(
            f"{directory}: no labeled messages found (expected .eml files in "
            f"{', '.join(f'{directory}/{label}/' for label in LABELS)})"
        )
    return samples


def corpus_hash(samples: list[Sample]) -> str:
    """A fingerprint of the training data for the model card (label, name and bytes)."""
    digest = hashlib.sha256()
    for sample in sorted(samples, key=lambda s: (s.label, s.path.name)):
        digest.update(f"{sample.label}/{sample.path.name}\0".encode())
        digest.update(hashlib.sha256(sample.path.read_bytes()).digest())
    return digest.hexdigest()
