"""Text folding for keyword tables: the classifier's cues and the extractor's reason tables.

Buyers type "reçu", "recu", "REÇU" and "n’ai" with a curly apostrophe; folding lets each table
be written once, in plain lower-case ASCII, for all of them.
"""

import re
import unicodedata

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_MARKS = re.compile(r"[\u0300-\u036f]+")  # combining accents left by NFKD (é -> e + U+0301)


def fold(text: str) -> str:
    """Case-folded, accents removed, curly apostrophes straightened: ``fold("N’ai REÇU")`` is
    ``"n'ai recu"``; ``ß`` becomes ``ss``."""
    if text.isascii():
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    return _MARKS.sub("", decomposed).casefold()
