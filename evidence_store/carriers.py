"""Tracking numbers found in free text, each validated by its carrier's check digit.

Why tracking-numbers: it is a pure-Python reading of the shared tracking_number_data spec (the one
the Ruby and JS libraries use), with the check-digit algorithms (UPS mod 10 with letter values,
USPS/FedEx mod 10, FedEx weighted mod 11, DHL mod 7, UPU S10 mod 11) already tested upstream, so
claimwatch only has to find candidate tokens and decide which formats are too weak to trust alone.

What the spec lacks, and so what is not reported: DPD, GLS, Evri and DHL Paket (Germany) domestic
numbers carry no check digit that is both public and simple, so they are left out rather than
guessed at. International mail of the posts (Royal Mail, La Poste/Colissimo, Deutsche Post,
Correos, Poste Italiane...) is covered by the UPU S10 format and reported as carrier ``"s10"``.

Example: ``find_tracking("UPS: 1Z 999 AA1 01 2345 6784")`` is ``[("ups", "1Z999AA10123456784")]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tracking_numbers import DEFINITIONS
from tracking_numbers.definition import TrackingNumberDefinition

from daemon.text import fold

MIN_CHARS = 8
MAX_CHARS = 40
STRONG_DIGITS = 20  # a digits-only number this long passes a check digit by chance rarely enough
CUE_WINDOW = 100  # characters before a short digits-only number searched for a tracking cue
PHONE_WINDOW = 25  # ... and for a phone cue, which vetoes it

# Products with no checksum at all are too loose to find in prose (CDL: any 10 hex characters;
# UPS Mail Innovations: "80" + 16 digits). Amazon Logistics has no checksum either, but its fixed
# "TBA" prefix plus 12 digits is distinctive enough.
_UNCHECKED_KEPT = {"Amazon Logistics"}
_DEFINITIONS: tuple[TrackingNumberDefinition, ...] = tuple(
    d for d in DEFINITIONS if d.checksum_validator or d.product.name in _UNCHECKED_KEPT
)

# A group is upper-case letters and digits with at least one digit, or a short all-letter prefix
# or suffix (UPS "1Z", S10 "RB" / "GB", Amazon "TBA"); groups are joined by single spaces, as
# carriers print them ("1Z 999 AA1 01 2345 6784"). Any other character ends a run.
_GROUP = r"(?:[A-Z0-9]*[0-9][A-Z0-9]*|[A-Z]{1,3})"
_RUN = re.compile(rf"(?<![A-Za-z0-9]){_GROUP}(?:[ \u00a0]{_GROUP})*(?![A-Za-z0-9])")
_GROUP_RE = re.compile(_GROUP)
_SPACE = re.compile(r"[ \u00a0]")
_DIGITS = re.compile(r"[0-9]")

# Cues are matched on accent-folded, lower-cased text (see fold).
_TRACKING_CUE = re.compile(
    r"track|suivi|colis|parcel|package|shipment|sendung|paket|seguimiento|rastreo|envio|"
    r"spedizion|tracciament|waybill|\bawb\b|\bups\b|usps|fedex|\bdhl\b|la poste|colissimo|"
    r"royal mail|deutsche post|correos|poste italiane|ontrac|\bdpd\b|\bgls\b|evri|hermes"
)
_PHONE_CUE = re.compile(
    r"\btel\b|phone|telefon|\bfax\b|mobile|portable|handy|cellulare|movil|\bcall\b|appel|whatsapp"
)


def find_tracking(text: str) -> list[tuple[str, str]]:
    """Every tracking number in *text* as ``(carrier, number)``, in order, without spaces.

    A number whose check digit fails is never reported. Short digits-only numbers (DHL's 10 or
    11 digits, FedEx's 12 or 15) pass a check digit one time in 7 to 10 by chance, so they count
    only when written as one token, with a tracking word or carrier name in the 100 characters
    before them and no phone word right before them: that keeps phone numbers out.
    """
    found: list[tuple[str, str]] = []
    for run in _RUN.finditer(text):
        found.extend(_numbers_in_run(text, run))
    return found


def identify(number: str) -> str | None:
    """The carrier id whose format and check digit *number* (no spaces) passes, else ``None``."""
    for definition in _DEFINITIONS:
        result = definition.test(number)
        if result is not None and result.valid:
            return result.courier.code
    return None


def _numbers_in_run(text: str, run: re.Match[str]) -> Iterator[tuple[str, str]]:
    """The valid numbers made of consecutive groups of *run*, the longest first, not overlapping."""
    if len(_DIGITS.findall(run.group())) < MIN_CHARS:
        return
    groups = [(m.start() + run.start(), m.end() + run.start()) for m in _GROUP_RE.finditer(run[0])]
    i = 0
    while i < len(groups):
        hit = _longest_valid(text, groups, i)
        if hit is None:
            i += 1
            continue
        j, carrier, number = hit
        yield carrier, number
        i = j


def _longest_valid(text: str, groups: list[tuple[int, int]], i: int) -> tuple[int, str, str] | None:
    """``(end group index, carrier, number)`` of the longest valid span starting at group *i*."""
    spans = []
    for j in range(i + 1, len(groups) + 1):
        number = _SPACE.sub("", text[groups[i][0] : groups[j - 1][1]])
        if len(number) > MAX_CHARS:
            break
        if len(number) >= MIN_CHARS:
            spans.append((j, number))
    for j, number in reversed(spans):
        # the context check first: it is cheaper than trying every format on every span
        if _trusted(text, groups[i][0], number, single_group=j == i + 1):
            carrier = identify(number)
            if carrier:
                return j, carrier, number
    return None


def _trusted(text: str, start: int, number: str, *, single_group: bool) -> bool:
    """Whether a number that validates is distinctive enough, or has the context to count."""
    if not number.isdigit() or len(number) >= STRONG_DIGITS:
        return True
    if not single_group or text[max(0, start - 1) : start] == "+":
        return False
    before = fold(text[max(0, start - CUE_WINDOW) : start])
    return bool(_TRACKING_CUE.search(before)) and not _PHONE_CUE.search(before[-PHONE_WINDOW:])
