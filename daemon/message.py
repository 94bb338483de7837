"""The typed record of one parsed message, and the parser that builds it from spooled bytes.

Mail is often malformed and one bad message must never stop the daemon: :func:`parse_message`
returns a best-effort :class:`Message` (undecodable text replaced, problems listed in ``defects``
for the audit trail) or raises :class:`~daemon.errors.ParseError` saying what is wrong, so the
caller quarantines it and carries on. mail-parser does the MIME work; the stdlib's ``email``
fills in where mail-parser loses information (each place says why).

Identifiers (``message_id``, ``in_reply_to``, ``references``) keep their angle brackets, as in the
headers, so they compare equal when threading. Addresses are bare and lower-cased; dates are UTC.
"""

from __future__ import annotations

import binascii
import contextlib
import email.errors
import email.message
import email.policy
import email.utils
import hashlib
import mimetypes
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import mailparser
from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from mailparser.utils import decode_base64_payload

from daemon.errors import ParseError

MAX_TEXT_CHARS = 1_000_000  # per body field: classification needs far less, memory is finite
MAX_HTML_CHARS = 1_000_000  # inscriptis takes ~2 s on 1 MB of table rows, minutes on 30 MB
MAX_DEFECTS = 50  # 10,000 broken parts should not make a 10,000-line audit entry
MAX_NAME_BYTES = 150
MAX_EXT_CHARS = 16
# Headers kept in Message.headers: the ones rules and features look at.
# fmt: off
SELECTED_HEADERS = (
    "X-Space-Notification-Type", "Reply-To", "Return-Path", "Sender", "Cc", "List-Unsubscribe",
    "List-Id", "Auto-Submitted", "Precedence", "X-Auto-Response-Suppress", "X-Mailer",
    "Content-Language",
)
# fmt: on

_HTML_CONFIG = ParserConfig(display_links=False, display_images=False)
_UNSTRUCTURED = email.policy.default.header_factory
_HEADER_ERRORS = (ValueError, LookupError, IndexError, TypeError, email.errors.MessageError)
_FOLD = re.compile(r"\r?\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_ADDRESS_HEADERS = ("from", "to", "cc", "bcc", "reply-to", "delivered-to")
_MSG_ID = re.compile(r"<[^<>\s]*>")
_ADDR_SPEC = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*]')
_WINDOWS_DEVICE = re.compile(r"(CON|PRN|AUX|NUL|COM\d|LPT\d)(\..*)?", re.IGNORECASE)


@dataclass(frozen=True)
class Attachment:
    """One attached file, decoded, with the hash the evidence store files it under."""

    filename: str
    content_type: str
    size: int
    payload: bytes
    sha256: str


class HeaderMap(Mapping[str, str]):
    """Read-only header values looked up case-insensitively, as header names are in RFC 5322."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = {name.lower(): (name, value) for name, value in values.items()}

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._values.values())

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(frozenset((k, v) for k, (_, v) in self._values.items()))

    def __repr__(self) -> str:
        return f"HeaderMap({dict(self)!r})"


@dataclass(frozen=True)
class Message:
    """A parsed message: what classification, extraction and the evidence store read.

    ``text`` is the plain-text body, or the HTML converted to text when there is no plain part;
    ``html_text`` is always the HTML converted ("" if none), so features can use both.
    """

    message_id: str | None
    subject: str
    from_addr: str
    from_name: str
    to: tuple[str, ...]
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    text: str
    html_text: str
    attachments: tuple[Attachment, ...]
    headers: Mapping[str, str]
    defects: tuple[str, ...]


def parse_message(raw: bytes) -> Message:
    """Parse *raw*, the bytes of one RFC 5322 message, into a :class:`Message`.

    Raises :class:`ParseError` for input that is no message (empty; no headers and no body) and
    for any failure inside the parser, with the original error in its text.
    """
    if not raw or raw.isspace():
        raise ParseError(f"empty message ({len(raw)} bytes{', whitespace only' if raw else ''})")
    try:
        return _build(_mail_parser(raw))
    except ParseError:
        raise
    except RecursionError as e:
        raise ParseError(f"MIME parts nested too deeply to parse: {e}") from e
    except Exception as e:  # any parser bug on hostile input means quarantine, not a crash
        raise ParseError(f"parser failed ({type(e).__name__}): {e}") from e


def _mail_parser(raw: bytes) -> mailparser.MailParser:
    """``mailparser.parse_from_bytes(raw)``, mending the tree where mail-parser 4.8 crashes.

    It fails on an absent epilogue (a truncated message with a broken nested boundary), and on an
    encoded word in an address header that the stdlib cannot decode: there the ``=?`` markers
    are dropped and the tree is read again.
    """
    message = email.message_from_bytes(raw)
    if message.epilogue is None:
        message.epilogue = ""
    try:
        return mailparser.MailParser(message)
    except email.errors.HeaderParseError:
        for name in _ADDRESS_HEADERS:
            values = [v.replace("=?", "") for k, v in message.raw_items() if k.lower() == name]
            del message[name]
            for value in values:
                message[name] = value
        return mailparser.MailParser(message)


def _build(parsed: mailparser.MailParser) -> Message:
    headers = _header_index(parsed.message)
    defects = _defects(parsed)
    if not headers:
        if not (parsed.text_plain or parsed.text_html or parsed.text_not_managed):
            raise ParseError("no header fields and no body: not a mail message")
        defects.append("no header fields")
    text, html_text = _bodies(parsed, defects)
    from_pairs = _addresses(parsed.from_, headers.get("from"))
    from_name, from_addr = _sender(from_pairs, _first(headers, "from"))
    references = _first(headers, "references")  # bare ids too, if the sender forgot brackets
    selected = {name: _first(headers, name.lower()) for name in SELECTED_HEADERS}
    return Message(
        message_id=_msg_id(_first(headers, "message-id")),
        subject=_first(headers, "subject"),
        from_addr=from_addr,
        from_name=from_name,
        to=tuple(addr.lower() for _, addr in _addresses(parsed.to, headers.get("to")) if addr),
        date=_date(parsed.date, _first(headers, "date")),
        in_reply_to=_msg_id(_first(headers, "in-reply-to")),
        references=tuple(_MSG_ID.findall(references) or references.split()),
        text=text,
        html_text=html_text,
        attachments=tuple(_attachment(a, i) for i, a in enumerate(parsed.attachments, 1)),
        headers=HeaderMap({name: value for name, value in selected.items() if value}),
        defects=_cap_defects(defects),
    )


def _header_index(message: email.message.Message) -> dict[str, str]:
    """Lower-cased name to first raw value: mail-parser's decoding drops raw 8-bit bytes."""
    return {name.lower(): value for name, value in reversed(list(message.raw_items()))}


def _first(headers: dict[str, str], name: str) -> str:
    value = headers.get(name)
    return _decode_header(value) if value else ""


def _decode_header(value: str) -> str:
    """Unfold, recover 8-bit bytes, decode RFC 2047 words with the stdlib's modern parser, which
    (unlike the ``decode_header`` mail-parser uses) keeps the good words around a broken one.
    Control characters go (a NUL breaks D-Bus, an ESC a terminal); NFC unifies spellings."""
    text = _repair(_FOLD.sub("", str(value)))
    if "=?" in text:
        # A word the stdlib cannot take (UTF-7 decoding to lone surrogates) stays undecoded.
        with contextlib.suppress(*_HEADER_ERRORS):
            text = _repair(str(_UNSTRUCTURED("subject", text)))
    return unicodedata.normalize("NFC", _CONTROL.sub(" ", text)).strip()


def _repair(text: str) -> str:
    """Raw 8-bit bytes (surrogates from ``email``) as UTF-8, else cp1252, Europe's legacy one."""
    if text.isascii():
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeDecodeError:
        return text.encode("utf-8", "surrogateescape").decode("cp1252", "replace")
    except UnicodeEncodeError:  # a lone surrogate that was never a byte (a UTF-7 trick)
        return text.encode("utf-8", "replace").decode("utf-8")


def _msg_id(value: str) -> str | None:
    """The first ``<id>`` of the header (comments and junk dropped), or the bare value."""
    match = _MSG_ID.search(value)
    return match.group() if match else (value.split() or [None])[0]


def _addresses(parsed: list[tuple[str, str]], raw: str | None) -> list[tuple[str, str]]:
    """(name, address) pairs, from mail-parser unless the header has raw 8-bit bytes, which
    mail-parser turns into visible escapes ("Ren\\udce9"): the stdlib reads it repaired."""
    if not raw or raw.isascii():
        return parsed
    pairs = email.utils.getaddresses([_repair(_FOLD.sub("", raw))])
    return [(_decode_header(name), addr) for name, addr in pairs]


def _sender(pairs: list[tuple[str, str]], raw: str) -> tuple[str, str]:
    """Name and address of the first From mailbox, else of a lone address in a broken header
    such as ``From: Marie Dubois marie@x.example``, which mail-parser refuses outright."""
    for name, addr in pairs:
        if addr:
            return _CONTROL.sub(" ", name).strip(), addr.lower()
    match = _ADDR_SPEC.search(raw)
    if not match:
        return raw, ""
    return raw.replace(match.group(), "").strip(' "<>'), match.group().lower()


def _date(parsed: datetime | None, raw: str) -> datetime | None:
    """mail-parser's UTC date, else the stdlib's reading, which accepts a date with no zone."""
    if parsed is not None or not raw:
        return parsed
    try:
        value = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC)


def _bodies(parsed: mailparser.MailParser, defects: list[str]) -> tuple[str, str]:
    """The ``text`` and ``html_text`` fields; each HTML part is converted exactly once."""
    html_text = _join(_html_to_text(html, defects) for html in parsed.text_html)
    text = _join(parsed.text_plain) or html_text or _join(parsed.text_not_managed)
    for field, value in (("text", text), ("html_text", html_text)):
        if len(value) > MAX_TEXT_CHARS:
            defects.append(f"{field} truncated to {MAX_TEXT_CHARS} characters (was {len(value)})")
    return text[:MAX_TEXT_CHARS], html_text[:MAX_TEXT_CHARS]


def _join(parts: Iterable[str]) -> str:
    """Join body parts with a blank line; CRLF and lone CR become LF."""
    return "\n\n".join(parts).replace("\r\n", "\n").replace("\r", "\n").strip()


def _html_to_text(html: str, defects: list[str]) -> str:
    if len(html) > MAX_HTML_CHARS:
        defects.append(f"html part truncated to {MAX_HTML_CHARS} characters before conversion")
        html = html[:MAX_HTML_CHARS]
    # inscriptis pads table cells to the column's width: noise for every reader downstream.
    text = "\n".join(line.rstrip() for line in get_text(html, _HTML_CONFIG).split("\n"))
    return _BLANK_LINES.sub("\n\n", text) if "\n\n\n" in text else text


def _defects(parsed: mailparser.MailParser) -> list[str]:
    """mail-parser's defects, flattened from ``[{where: [what, ...]}]`` to ``"where: what"``."""
    groups = (group.items() for group in parsed.defects)
    return [" ".join(f"{where}: {what}".split()) for g in groups for where, w in g for what in w]


def _cap_defects(defects: list[str]) -> tuple[str, ...]:
    unique = list(dict.fromkeys(defects))
    more = len(unique) - MAX_DEFECTS
    return (*unique[:MAX_DEFECTS], *([f"{more} more defects not listed"] if more > 0 else []))


def _attachment(item: dict, index: int) -> Attachment:
    """Decode one of mail-parser's attachment records into an :class:`Attachment`."""
    content_type = str(item.get("mail_content_type") or "application/octet-stream").lower()
    payload = _payload(item)
    extension = mimetypes.guess_extension(content_type) or ".bin"
    return Attachment(
        filename=safe_filename(_declared_name(item), f"attachment-{index}{extension}"),
        content_type=content_type,
        size=len(payload),
        payload=payload,
        sha256=hashlib.sha256(payload).hexdigest(),
    )


def _payload(item: dict) -> bytes:
    """The content, from the base64 text mail-parser gives back (flattened text for a multipart).

    A damaged stream fails the fast C decoder; mail-parser's lenient one recovers what it can.
    """
    payload = item.get("payload") or ""
    if not item.get("binary"):
        return payload.encode("utf-8", "surrogateescape")
    try:
        return binascii.a2b_base64(payload)
    except ValueError:  # binascii.Error for bad padding, ValueError for non-ASCII
        return decode_base64_payload(payload)


_INVENTED_NAME = re.compile(r"[a-z]{10}\.(?:txt|rtf)")


def _declared_name(item: dict) -> str | None:
    """The sender's name for the part, or None: mail-parser names nameless parts after their
    Content-ID or a random string, a new name each time the message is reprocessed."""
    name = item.get("filename") or ""
    declared = "name" in str(item.get("content-disposition", "")).lower()
    invented = name == item.get("content-id") or (not declared and _INVENTED_NAME.fullmatch(name))
    return None if invented else name


def safe_filename(name: str | None, fallback: str) -> str:
    """A file name from *name* that stays inside whatever folder it is joined to.

    Names come from the sender (``../../x``, ``C:\\evil.exe``, NUL, 500 characters); *fallback*,
    cleaned the same way, is used when nothing usable is left.

    >>> safe_filename("../../etc/passwd", "attachment-1.bin")
    'passwd'
    """
    return _clean_name(name or "") or _clean_name(fallback) or "attachment"


def _clean_name(name: str) -> str:
    # Directory parts are the sender's, not ours: keep the last component, either separator.
    name = re.split(r"[/\\]", name)[-1]
    # One spelling per name, so "é" composed or decomposed is the same file.
    name = unicodedata.normalize("NFC", name)
    # Control and format characters (NUL, newline, ESC, bidi overrides) hide the real name.
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs"))
    # Characters Windows, macOS or a shell treat specially get replaced.
    name = _UNSAFE_CHARS.sub("_", name)
    # Leading dots hide files and make "." / ".."; Windows drops trailing dots and spaces.
    name = name.lstrip(". ").rstrip(". ")
    # Windows refuses device names such as CON or NUL.txt whatever the folder.
    name = "_" + name if _WINDOWS_DEVICE.fullmatch(name) else name
    # NAME_MAX is 255 bytes; 150 leaves room for a case folder's own prefixes and suffixes.
    return _cap_name(name)


def _cap_name(name: str) -> str:
    """Cut to MAX_NAME_BYTES of UTF-8, keeping a short extension so the file still opens."""
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, ext = os.path.splitext(name)
    if not ext or len(ext) > MAX_EXT_CHARS:
        stem, ext = name, ""
    budget = MAX_NAME_BYTES - len(ext.encode("utf-8"))
    stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(". ")
    return stem + ext if stem else ""
