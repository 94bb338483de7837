"""The response deadline a notice states: "by 24 November 2026", "within 48 hours", "avant le
3 décembre 2026", "innerhalb von 7 Tagen", "entro 3 giorni di calendario".

A deadline is what the case is about: an unanswered A-to-z claim is granted to the buyer when it
passes. So a phrase counts only when it reads as one (a deadline word, then a date or a window),
relative windows are anchored at the message's Date header (its arrival time when missing), and
when a notice states several, the earliest still ahead of the message wins: better a day early
than a claim lost.

dateparser reads the dates themselves, in the five languages and their many spellings ("24
novembre 2026", "3. Dezember 2026", "November 29, 2026, 11:59 PM UTC"); the regular expressions
here only find where a deadline is written, so dateparser runs on a few short strings per
message, not on the whole text. A date without a time means the end of that day in the
timezone of the message's Date header (the seller has the whole day); business days count as
calendar days (early, never late).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, time, timedelta

from daemon.state import now as clock_now

LANGUAGES = ["en", "fr", "de", "es", "it"]

# Words that introduce a deadline, per language; "by"/"bis" alone are common, so they count
# only when a date follows at once.
_BEFORE = (
    r"\b(?:by|before|no later than|until|due(?: by| on| date)?|deadline|respond by|reply by"
    r"|avant(?: le)?|d'ici(?: le| au)?|au plus tard(?: le)?|jusqu'au|date limite"
    r"|bis(?: zum| spätestens)?|spätestens(?: am| bis)?|frist|bis sp[äa]testens"
    r"|antes del?|a más tardar el|hasta el|fecha límite|plazo"
    r"|entro il|entro e non oltre il|prima del|non oltre il|scadenza)"
)
_MONTH = r"[A-Za-zÀ-ÿ]{3,10}\.?"
_DATE = (
    r"(?:\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}"
    rf"|\d{{1,2}}(?:\.|º|er|st|nd|rd|th)?\s+(?:de\s+)?{_MONTH}\s+(?:de\s+)?\d{{4}}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})"
)
_TIME = (
    r",?\s*(?:at|à|um|a las|alle|ore)?\s*\d{1,2}(?::\d{2}|h\d{0,2}|\.\d{2})"
    r"(?:\s*[AaPp]\.?[Mm]\.?)?(?:\s*Uhr)?(?:\s*(?:UTC|GMT|[A-Z]{2,4}T|[+-]\d{2}:?\d{2}))?"
)
ABSOLUTE = re.compile(
    rf"(?i:{_BEFORE})\s*:?\s*(?:the\s+|le\s+|el\s+|il\s+|am\s+)?"
    rf"(?P<when>{_DATE}(?P<time>{_TIME})?)"
)

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "five": 5, "seven": 7, "ten": 10, "fourteen": 14,
    "un": 1, "une": 1, "deux": 2, "trois": 3, "cinq": 5, "sept": 7, "dix": 10,
    "einem": 1, "einen": 1, "zwei": 2, "drei": 3, "fünf": 5, "sieben": 7, "zehn": 10,
    "uno": 1, "dos": 2, "tres": 3, "cinco": 5, "siete": 7, "diez": 10,
    "due": 2, "tre": 3, "sette": 7, "dieci": 10,
}  # fmt: skip
_WITHIN = (
    r"\b(?:within|in the next|in|dans un délai de|sous|dans les|d'ici|innerhalb von|innerhalb"
    r"|binnen|en un plazo de|en el plazo de|dentro de|en los próximos|entro|nel giro di"
    r"|nei prossimi)"
)
_UNIT = (
    r"(?P<unit>hours?|heures?|stunden|horas?|ore"
    r"|(?:calendar |business |working )?days?|jours?(?: calendaires| ouvrés| ouvrables)?"
    r"|(?:kalender|werk|arbeits)?tag(?:e|en)?|días?(?: naturales| hábiles| laborables)?"
    r"|giorni(?: di calendario| lavorativi)?)"
)
RELATIVE = re.compile(
    rf"(?i:{_WITHIN}\s+(?P<count>\d{{1,3}}|{'|'.join(_NUMBER_WORDS)})\s+{_UNIT})(?![A-Za-zÀ-ÿ])"
)
_HOURS = re.compile(r"(?i)^(?:hour|heure|stunde|hora|ore)")


@functools.cache
def _dateparser():
    import dateparser

    return dateparser


def stated_deadline(
    text: str, sent: datetime | None, received: datetime | None = None
) -> datetime | None:
    """The earliest deadline *text* states that is not before the message was sent, in UTC.

    *sent* is the Date header; *received* (default: now) stands in when it is missing.
    """
    anchor = _aware(sent or received or clock_now())
    found = [d for d in _absolute(text, anchor) if d >= anchor - timedelta(days=1)]
    found += _relative(text, anchor)
    return min(found).astimezone(UTC) if found else None


def _absolute(text: str, anchor: datetime) -> list[datetime]:
    """Dates after a deadline word; numeric ones read day first, as Europe writes them."""
    dates = []
    for match in ABSOLUTE.finditer(text):
        written = match["when"]
        settings = {
            "RELATIVE_BASE": anchor.replace(tzinfo=None),
            "DATE_ORDER": "MDY" if written[:1].isalpha() else "DMY",
        }
        parsed = _dateparser().parse(written, languages=LANGUAGES, settings=settings)
        if parsed is None:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=anchor.tzinfo)
        if not match["time"]:
            parsed = datetime.combine(parsed.date(), time(23, 59, 59), parsed.tzinfo)
        dates.append(parsed)
    return dates


def _relative(text: str, anchor: datetime) -> list[datetime]:
    windows = []
    for match in RELATIVE.finditer(text):
        count = match["count"].lower()
        n = int(count) if count.isdigit() else _NUMBER_WORDS[count]
        unit = timedelta(hours=1) if _HOURS.match(match["unit"]) else timedelta(days=1)
        if 0 < n <= 90 * (24 if unit == timedelta(hours=1) else 1):
            windows.append(anchor + n * unit)
    return windows


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
