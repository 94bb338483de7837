"""Tracking numbers found in free text, each validated by its carrier's check digit.

Why tracking-numbers: it is a pure-Python reading of the shared tracking_number_data spec (the one
the Ruby and JS libraries use), with the check-digit algorithms (UPS mod 10 with letter values,
USPS/FedEx mod 10, FedEx weighted mod 11, DHL mod 7, UPU S10 mod 11) already tested upstream, so
claimwatch only has to find candidate tokens and decide which formats are too weak to trust alone.

What the spec lacks is added here, each only right after its carrier's name, since bare they are
any long number: GLS parcel numbers (11 digits, or 12 with the check digit of GLS's Uni-Box
specification, which must then pass), DPD parcel numbers (14 digits; DPD's check character covers
the whole label barcode, postcode included, so an e-mailed number carries none) and Evri (formerly
Hermes UK; 16 characters, no public check digit). DHL Paket (Germany) domestic numbers are left
out rather than guessed at. International mail of the posts (Royal Mail, La Poste/Colissimo,
Deutsche Post, Correos, Poste Italiane...) is covered by the UPU S10 format and reported as
carrier ``"s10"``.

Example: ``find_tracking("UPS: 1Z 999 AA1 01 2345 6784")`` is ``[("ups", "1Z999AA10123456784")]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tracking_numbers import DEFINITIONS
from tracking_numbers.definition import TrackingNumberDefinition

from daemon.text import fold

# How a carrier id is written for people (README.md, index.html, the drafted response).
CARRIER_NAMES = {
    "ups": "UPS",
    "usps": "USPS",
    "fedex": "FedEx",
    "dhl": "DHL",
    "ontrac": "OnTrac",
    "amazon": "Amazon Logistics",
    "s10": "Postal service (UPU S10)",
    "gls": "GLS",
    "dpd": "DPD",
    "evri": "Evri",
}
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
# A named carrier, then within 40 characters of words (no digits: "Paketnummer:", "parcel no.",
# "numéro de colis") its number. The number must end there, so a longer digit string is no hit.
_AFTER_NAME = r"[^0-9\n]{0,40}?"
_NAMED = re.compile(
    rf"(?i:\bGLS\b){_AFTER_NAME}(?<![0-9])(?P<gls>\d{{11,12}})(?![0-9])"
    rf"|(?i:\bDPD\b){_AFTER_NAME}(?<![0-9])(?P<dpd>\d{{4}} ?\d{{4}} ?\d{{4}} ?\d{{2}})(?![0-9])"
    rf"|(?i:\b(?:evri|hermes)\b){_AFTER_NAME}(?<![A-Z0-9])(?P<evri>[A-Z]\d{{2}}[A-Z0-9]{{13}})"
    r"(?![A-Za-z0-9])"
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
    return found + [hit for hit in find_named(text) if hit not in found]


def find_named(text: str) -> list[tuple[str, str]]:
    """GLS, DPD and Evri numbers, each written within a few words after its carrier's name."""
    found = []
    for match in _NAMED.finditer(text):
        carrier = next(name for name, value in match.groupdict().items() if value)
        number = _SPACE.sub("", match[carrier])
        if carrier != "gls" or len(number) == 11 or gls_check_digit(number[:11]) == number[11]:
            found.append((carrier, number))
    return found


def gls_check_digit(digits: str) -> str:
    """The 12th digit of a GLS parcel number: weights 3, 1, 3... from the left, plus one, mod 10
    (GLS Uni-Box technical documentation, chapter 3.2.1)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(digits)) + 1
    return str((10 - total % 10) % 10)


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
