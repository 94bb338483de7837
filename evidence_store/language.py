"""The language a notice is written in, so the drafted response answers in the same one.

py3langid (a maintained port of langid.py) is restricted to the five languages claimwatch reads:
deterministic, offline, and about a millisecond a message. Its model takes about a second to load,
so it is loaded on the first case, not at start-up.
"""

from __future__ import annotations

import functools

LANGUAGES = ("en", "fr", "de", "es", "it")


@functools.cache
def _identifier():
    import py3langid

    py3langid.set_languages(list(LANGUAGES))
    return py3langid


def detect_language(text: str) -> str:
    """``"en"``, ``"fr"``, ``"de"``, ``"es"`` or ``"it"``; English for empty text."""
    text = " ".join(text.split())[:4000]
    if not text:
        return "en"
    language, _score = _identifier().classify(text)
    return language if language in LANGUAGES else "en"
