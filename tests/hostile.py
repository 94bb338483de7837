"""Hostile and malformed messages, as raw bytes, for every stage that reads mail.

Each case is otherwise a plausible message in a seller's mailbox (From, To, Subject, Message-ID), so
it travels through a real IMAP server and the spool like any other mail and fails, if it fails, only
in the parser. Line endings are CRLF, as on the wire, and no case holds a NUL byte (IMAP APPEND
refuses those without BINARY; it refuses the 0-byte ``empty`` case too). ``HOSTILE`` holds the
cheap cases; ``huge_attachment()`` builds the 30 MB one on demand, so importing stays cheap.
"""

from __future__ import annotations

import base64

CRLF = b"\r\n"
SELLER = "seller@shop.example"
BUYER = "Marie Dubois <marie.dubois@buyer.example>"
DATE = "Tue, 03 Nov 2026 10:15:00 +0100"
PDF = b"%PDF-1.4\n% claimwatch test\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def _lines(*lines: str | bytes) -> bytes:
    """Join lines with CRLF; str lines are UTF-8, bytes lines go through untouched (8-bit tests)."""
    return CRLF.join(x if isinstance(x, bytes) else x.encode() for x in lines) + CRLF


def _head(case: str, subject: str = "", *extra: str, date: str | None = DATE) -> list[str]:
    """The usual header block of a buyer's mail; *extra* lines go before MIME-Version."""
    subject = subject or f"Commande 402-1234567-7654321: {case}"
    lines = [f"From: {BUYER}", f"To: {SELLER}", f"Subject: {subject}"]
    if date is not None:
        lines.append(f"Date: {date}")
    lines += [f"Message-ID: <{case}.0001@buyer.example>", *extra, "MIME-Version: 1.0"]
    return lines


def _b64(data: bytes) -> str:
    """Base64 in 76-character lines, as mailers send it."""
    return base64.encodebytes(data).decode().replace("\n", "\r\n").rstrip("\r\n")


def _with_attachment(case: str, disposition: str, payload: bytes = PDF) -> bytes:
    """A short note plus one PDF attachment whose Content-Disposition line is *disposition*."""
    return _lines(
        *_head(case),
        'Content-Type: multipart/mixed; boundary="=_b1"',
        "",
        "--=_b1",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Bonjour, voici la facture demandée.",
        "--=_b1",
        "Content-Type: application/pdf",
        "Content-Transfer-Encoding: base64",
        disposition,
        "",
        _b64(payload),
        "--=_b1--",
    )


def broken_boundary() -> bytes:
    """Multipart whose closing boundary never comes (a mailer cut off mid-send)."""
    return _lines(
        *_head("broken_boundary"),
        'Content-Type: multipart/alternative; boundary="alt-42"',
        "",
        "--alt-42",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Je n'ai jamais reçu mon colis.",
        "--alt-42",
        "Content-Type: text/html; charset=utf-8",
        "",
        "<p>Je n'ai jamais reçu mon colis.</p>",
    )


def truncated_nested_boundary() -> bytes:
    """Cut off mid-send, and the nested part's boundary never matches what it declared.

    mail-parser 4.8's ``parse_from_bytes`` crashes on this one (AttributeError).
    """
    return _lines(
        *_head("truncated_nested_boundary"),
        'Content-Type: multipart/mixed; boundary="mix"',
        "",
        "--mix",
        'Content-Type: multipart/alternative; boundary="alt"',
        "",
        "--alx",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Je n'ai rien reçu.",
        "--alx",
        "Content-Type: text/html; charset=utf-8",
        "",
        "<p>Je n'ai rien",
    )


def missing_boundary_param() -> bytes:
    """Declared multipart with no boundary parameter at all."""
    return _lines(
        *_head("missing_boundary_param"),
        "Content-Type: multipart/mixed",
        "",
        "Where is my order? It has been three weeks.",
    )


def unknown_charset() -> bytes:
    """Parts declaring charsets no codec knows, with 8-bit UTF-8 bodies."""
    return _lines(
        *_head("unknown_charset", "Pedido no recibido"),
        'Content-Type: multipart/alternative; boundary="u1"',
        "",
        "--u1",
        'Content-Type: text/plain; charset="x-unknown-foo"',
        "Content-Transfer-Encoding: 8bit",
        "",
        "No he recibido el pedido, señor. Quiero el reembolso.",
        "--u1",
        "Content-Type: text/html; charset=utf8mb4",
        "Content-Transfer-Encoding: 8bit",
        "",
        "<p>No he recibido el pedido, señor.</p>",
        "--u1--",
    )


def raw_8bit_headers() -> bytes:
    """Unencoded 8-bit header bytes: a UTF-8 subject and a Latin-1 display name."""
    return _lines(
        b"From: Ren\xe9 M\xfcller <rene.mueller@buyer.example>",
        f"To: {SELLER}".encode(),
        "Subject: Réclamation: article endommagé".encode(),
        f"Date: {DATE}".encode(),
        b"Message-ID: <raw_8bit_headers.0001@buyer.example>",
        b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: 8bit",
        b"",
        "L'article est arrivé cassé.".encode(),
    )


def bad_encoded_word() -> bytes:
    """RFC 2047 words that are broken: bad base64, unknown charset, unterminated."""
    return _lines(
        *_head(
            "bad_encoded_word",
            "=?utf-8?B?!!notbase64!!?= =?x-klingon?Q?Qapla=27?= =?utf-8?Q?unterminated",
            "Reply-To: =?utf-8?B?TWFyaWU=?= <marie.dubois@buyer.example>",
        ),
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Colis non reçu.",
    )


def bad_encoded_word_in_address() -> bytes:
    """A display name whose base64 cannot be decoded (mail-parser 4.8 crashes on this)."""
    return _lines(
        "From: =?utf-8?B?TWFya?= <marie.dubois@buyer.example>",
        f"To: =?utf-8?Q?Boutique_=C3=A9t=C3=A9?= <{SELLER}>",
        "Subject: Commande 402-1234567-7654321: bad_encoded_word_in_address",
        f"Date: {DATE}",
        "Message-ID: <bad_encoded_word_in_address.0001@buyer.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Où est mon colis ?",
    )


def traversal_attachment_name() -> bytes:
    return _with_attachment(
        "traversal_attachment_name", 'Content-Disposition: attachment; filename="../../x"'
    )


def backslash_traversal_name() -> bytes:
    return _with_attachment(
        "backslash_traversal_name",
        'Content-Disposition: attachment; filename="..\\\\..\\\\evil.exe"',
    )


def absolute_path_name() -> bytes:
    return _with_attachment(
        "absolute_path_name", 'Content-Disposition: attachment; filename="/etc/passwd"'
    )


def long_attachment_name() -> bytes:
    """A 500-character name (plus ".pdf"), folded the RFC 2231 way as real mailers do."""
    stem = "facture-commande-402-1234567-7654321-" * 14
    name = (stem[:500] + ".pdf").replace(" ", "%20")
    chunks = [name[i : i + 60] for i in range(0, len(name), 60)]
    params = ";\r\n".join(f" filename*{i}={c}" for i, c in enumerate(chunks))
    return _with_attachment("long_attachment_name", "Content-Disposition: attachment;\r\n" + params)


def control_chars_name() -> bytes:
    """NUL, newline, BEL and an ANSI escape sequence in the name, RFC 2231-encoded."""
    return _with_attachment(
        "control_chars_name",
        "Content-Disposition: attachment;\r\n filename*=utf-8''in%00voice%0A%07%1B%5B31m.pdf",
    )


def raw_control_chars_name() -> bytes:
    """Raw BEL, ESC and TAB bytes inside a quoted name."""
    return _with_attachment(
        "raw_control_chars_name",
        'Content-Disposition: attachment; filename="bell\x07\x1b[2J\tname.pdf"',
    )


def dots_only_name() -> bytes:
    return _with_attachment("dots_only_name", 'Content-Disposition: attachment; filename="...."')


def rfc2231_name() -> bytes:
    """A UTF-8 name in RFC 2231 form, split into continuations."""
    return _with_attachment(
        "rfc2231_name",
        "Content-Disposition: attachment;\r\n"
        " filename*0*=UTF-8''Re%C3%A7u%20de%20livraison;\r\n"
        " filename*1*=%20n%C2%BA%2012.pdf",
    )


def empty() -> bytes:
    return b""


def headers_only() -> bytes:
    """Headers and nothing else: no blank line, no body."""
    return b"".join(line + CRLF for line in _lines(*_head("headers_only")).split(CRLF) if line)


def no_date() -> bytes:
    return _lines(
        *_head("no_date", date=None),
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Mein Paket ist nicht angekommen.",
    )


def invalid_date() -> bytes:
    return _lines(
        *_head("invalid_date", date="Someday, 45 Smarch 20xx 25:61:00 +9999"),
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Il pacco è arrivato danneggiato.",
    )


def html_only() -> bytes:
    """Marketplace notice sent as HTML only, with a table and a list."""
    return _lines(
        *_head("html_only", "Action required: A-to-z Guarantee claim"),
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "<html><head><style>td {color: red}</style></head><body>",
        "<h1>A-to-z Guarantee claim</h1>",
        "<table><tr><th>Order ID</th><td>402-1234567-7654321</td></tr>",
        "<tr><th>Claim reason</th><td>Item not received</td></tr></table>",
        "<ul><li>Provide tracking</li><li>Respond within 48 hours</li></ul>",
        "</body></html>",
    )


def nested_rfc822() -> bytes:
    """A forwarded claim: message/rfc822 inside multipart/mixed, with its own attachment."""
    inner = _lines(
        "From: Amazon <a-to-z-claims@amazon.example>",
        f"To: {SELLER}",
        "Subject: A-to-z Guarantee claim opened",
        "Date: Mon, 02 Nov 2026 08:00:00 +0000",
        "Message-ID: <claim.42@amazon.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="inner"',
        "",
        "--inner",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "A buyer opened a claim for order 402-1234567-7654321.",
        "--inner",
        "Content-Type: image/png",
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="photo.png"',
        "",
        _b64(b"\x89PNG\r\n\x1a\n" + bytes(range(64))),
        "--inner--",
    )
    return _lines(
        "From: Colleague <ops@shop.example>",
        f"To: {SELLER}",
        "Subject: Fwd: A-to-z Guarantee claim opened",
        f"Date: {DATE}",
        "Message-ID: <nested_rfc822.0001@shop.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="outer"',
        "",
        "--outer",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "See the claim below.",
        "--outer",
        "Content-Type: message/rfc822",
        "",
        inner.decode(),
        "--outer--",
    )


def truncated_base64() -> bytes:
    """An attachment cut off mid-base64 (odd length), the message ending there."""
    encoded = _b64(PDF * 40)
    return _lines(
        *_head("truncated_base64"),
        'Content-Type: multipart/mixed; boundary="t1"',
        "",
        "--t1",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Photos of the damage attached.",
        "--t1",
        "Content-Type: application/pdf",
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="damage.pdf"',
        "",
        encoded[: len(encoded) // 2 + 3],
    )


def huge_attachment(size: int = 30 * 2**20) -> bytes:
    """A message with one *size*-byte attachment of known content, so tests can check its hash."""
    return _with_attachment(
        "huge_attachment",
        'Content-Disposition: attachment; filename="scan.bin"',
        huge_payload(size),
    )


def huge_payload(size: int = 30 * 2**20) -> bytes:
    """The attachment content of ``huge_attachment(size)``."""
    block = bytes(range(256)) * 4096
    return (block * (size // len(block) + 1))[:size]


HOSTILE: dict[str, bytes] = {
    "broken_boundary": broken_boundary(),
    "truncated_nested_boundary": truncated_nested_boundary(),
    "missing_boundary_param": missing_boundary_param(),
    "unknown_charset": unknown_charset(),
    "raw_8bit_headers": raw_8bit_headers(),
    "bad_encoded_word": bad_encoded_word(),
    "bad_encoded_word_in_address": bad_encoded_word_in_address(),
    "traversal_attachment_name": traversal_attachment_name(),
    "backslash_traversal_name": backslash_traversal_name(),
    "absolute_path_name": absolute_path_name(),
    "long_attachment_name": long_attachment_name(),
    "control_chars_name": control_chars_name(),
    "raw_control_chars_name": raw_control_chars_name(),
    "dots_only_name": dots_only_name(),
    "rfc2231_name": rfc2231_name(),
    "empty": empty(),
    "headers_only": headers_only(),
    "no_date": no_date(),
    "invalid_date": invalid_date(),
    "html_only": html_only(),
    "nested_rfc822": nested_rfc822(),
    "truncated_base64": truncated_base64(),
}
