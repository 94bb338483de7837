"""The model on disk: ``model.joblib`` and its card ``model.json``, written and read safely.

A joblib file is pickled code: loading one runs whatever it holds. So a model is refused when
group or others could have written it, or when a user other than us (or root) owns it, and the
card's hash of the file must match. scikit-learn's own advice is followed: the card keeps the
library versions, the corpus fingerprint and the scores, and a version mismatch
(``InconsistentVersionWarning``) is an error we report, not a warning we ignore.
"""

import hashlib
import json
import os
import platform
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy
import scipy
import sklearn
from sklearn.exceptions import InconsistentVersionWarning

from daemon.atomic import atomic_file, make_private_dir, write_atomic
from daemon.errors import ModelError

MODEL_FILE = "model.joblib"
CARD_FILE = "model.json"
SHIPPED_MODEL_DIR = Path(__file__).resolve().parents[1] / "models"


@dataclass
class LoadedModel:
    """A loaded pipeline with its card; feature names are computed once, for reasons."""

    pipeline: object
    card: dict
    path: Path
    _names: object = field(default=None, repr=False)

    @property
    def version(self) -> str:
        return f"{self.card.get('trained_at', '?')}/{self.card.get('model_sha256', '?')[:12]}"

    def feature_names(self):
        if self._names is None:
            union = self.pipeline.named_steps["features"]
            self._names = [
                f"{name}__{feature}"
                for name, branch in union.transformer_list
                for feature in branch.named_steps["tfidf"].get_feature_names_out()
            ]
        return self._names


def library_versions() -> dict:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(directory: Path, pipeline: object, card: dict) -> Path:
    """Write card then model, each atomically; a watcher reacting to the model sees its card."""
    make_private_dir(directory)
    with atomic_file(directory / MODEL_FILE, 0o644) as f:
        joblib.dump(pipeline, f, compress=3)
        f.flush()
        card = card | {
            "model_sha256": _sha256(Path(f.name)),
            "versions": library_versions(),
            "trained_at": card.get("trained_at") or datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_atomic(directory / CARD_FILE, (json.dumps(card, indent=2) + "\n").encode(), 0o644)
    return directory / MODEL_FILE


def load_model(directory: Path) -> LoadedModel:
    """Load and check a model; every refusal is a :class:`ModelError` saying what to do."""
    path = directory / MODEL_FILE
    _check_trusted(path)
    card = _read_card(directory / CARD_FILE)
    if card.get("model_sha256") != _sha256(path):
        raise ModelError(
            f"{path}: the file does not match its card {CARD_FILE} (changed by hand "
            "or half-copied); retrain with: claimwatch train"
        )
    trained = card.get("versions", {}).get("scikit-learn")
    if trained != sklearn.__version__:
        raise ModelError(
            f"{path}: trained with scikit-learn {trained}, this is {sklearn.__version__}; "
            "retrain with: claimwatch train"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            pipeline = joblib.load(path)
    except Exception as e:
        raise ModelError(
            f"{path}: cannot load the model ({type(e).__name__}: {e}); "
            "retrain with: claimwatch train"
        ) from e
    if not hasattr(pipeline, "predict_proba"):
        raise ModelError(f"{path}: not a claimwatch model (no predict_proba)")
    return LoadedModel(pipeline, card, path)


def _check_trusted(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError as e:
        raise ModelError(f"{path}: no model file; train one with: claimwatch train") from e
    if st.st_mode & 0o022:
        raise ModelError(
            f"{path}: writable by group/others (mode {st.st_mode & 0o777:04o}); a joblib file is "
            f"code, so it is refused; run: chmod go-w {path}"
        )
    if st.st_uid not in (os.getuid(), 0):
        raise ModelError(f"{path}: owned by uid {st.st_uid}, not by you or root; refused")


def _read_card(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ModelError(
            f"{path}: the model card is missing; retrain with: claimwatch train"
        ) from e
    except ValueError as e:
        raise ModelError(f"{path}: the model card is not valid JSON ({e})") from e


def active_model_dir(data_dir: Path) -> Path:
    """The user's own model when they trained one, else the model shipped with claimwatch."""
    user = data_dir / "model"
    return user if (user / MODEL_FILE).exists() else SHIPPED_MODEL_DIR
