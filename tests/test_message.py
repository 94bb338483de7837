"""parse_message and safe_filename on ordinary, multilingual and hostile mail."""

from __future__ import annotations

import base64
import email.errors
import hashlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import mailparser
import pytest
from hostile import HOSTILE, huge_attachment, huge_payload

from daemon.errors import ParseError
from daemon.message import MAX_TEXT_CHARS, Message, parse_message, safe_filename

PDF = b"%PDF-1.4\n% claimwatch test\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def crlf(*lines: str) -> bytes:
    return "\r\n".join(lines).encode() + b"\r\n"


def simple(subject: str = "Hello", body: str = "Body", *extra: str) -> bytes:
    """A one-part text message; *extra* header lines go first (a Date, an encoded Subject...)."""
    return crlf(
        "From: buyer@buyer.example",
        "To: seller@shop.example",
        *extra,
        f"Subject: {subject}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    )


NORMAL = crlf(
    'From: "Dubois, Marie" <Marie.Dubois@Buyer.Example>',
    "To: Seller Shop <Seller@Shop.Example>, ops@shop.example",
    "Cc: boss@shop.example",
    "Reply-To: marie.reply@buyer.example",
    "Subject: =?utf-8?Q?Colis_non_re=C3=A7u_=E2=80=93_commande_402-1234567-7654321?=",
    "Date: Tue, 03 Nov 2026 10:15:00 +0100",
    "Message-ID:  <claim.0001@buyer.example> ",
    "In-Reply-To: <order.99@shop.example>",
    "References: <order.98@shop.example>\r\n <order.99@shop.example>",
    "X-Space-Notification-Type: BUYER_MESSAGE",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="mix"',
    "",
    "--mix",
    'Content-Type: multipart/alternative; boundary="alt"',
    "",
    "--alt",
    "Content-Type: text/plain; charset=iso-8859-1",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "Bonjour,=0D=0Aje n'ai jamais re=E7u ma commande.",
    "--alt",
    "Content-Type: text/html; charset=utf-8",
    "",
    "<html><body><p>Bonjour,</p><p>je n'ai <b>jamais</b> reçu ma commande.</p></body></html>",
    "--alt--",
    "--mix",
    'Content-Type: application/pdf; name="facture.pdf"',
    "Content-Transfer-Encoding: base64",
    'Content-Disposition: attachment; filename="facture.pdf"',
    "",
    base64.b64encode(PDF).decode(),
    "--mix--",
)


def test_multipart_message_fields() -> None:
    msg = parse_message(NORMAL)

    assert msg.message_id == "<claim.0001@buyer.example>"
    assert msg.subject == "Colis non reçu – commande 402-1234567-7654321"
    assert (msg.from_name, msg.from_addr) == ("Dubois, Marie", "marie.dubois@buyer.example")
    assert msg.to == ("seller@shop.example", "ops@shop.example")
    assert msg.date == datetime(2026, 11, 3, 9, 15, tzinfo=UTC)
    assert msg.in_reply_to == "<order.99@shop.example>"
    assert msg.references == ("<order.98@shop.example>", "<order.99@shop.example>")
    assert msg.text == "Bonjour,\nje n'ai jamais reçu ma commande."
    assert msg.html_text == "Bonjour,\n\nje n'ai jamais reçu ma commande."
    [pdf] = msg.attachments
    assert (pdf.filename, pdf.content_type, pdf.size, pdf.payload) == (
        "facture.pdf",
        "application/pdf",
        len(PDF),
        PDF,
    )
    assert pdf.sha256 == hashlib.sha256(PDF).hexdigest()
    assert dict(msg.headers) == {
        "X-Space-Notification-Type": "BUYER_MESSAGE",
        "Reply-To": "marie.reply@buyer.example",
        "Cc": "boss@shop.example",
    }
    assert msg.defects == ()


def test_headers_are_looked_up_case_insensitively_and_message_is_hashable() -> None:
    msg = parse_message(NORMAL)

    assert msg.headers["x-space-notification-type"] == "BUYER_MESSAGE"
    assert msg.headers["REPLY-TO"] == "marie.reply@buyer.example"
    assert "Auto-Submitted" not in msg.headers
    assert hash(msg) == hash(parse_message(NORMAL))


def test_html_only_message_reads_as_text() -> None:
    msg = parse_message(HOSTILE["html_only"])

    assert msg.text == msg.html_text
    assert "A-to-z Guarantee claim" in msg.text
    assert "Order ID      402-1234567-7654321" in msg.text  # table cells side by side
    assert "  * Respond within 48 hours" in msg.text  # list items as bullets
    assert "<" not in msg.text
    assert "color" not in msg.text  # the stylesheet is not text


def test_text_part_wins_over_html_but_both_are_kept() -> None:
    msg = parse_message(HOSTILE["broken_boundary"])

    assert msg.text == "Je n'ai jamais reçu mon colis."
    assert msg.html_text == "Je n'ai jamais reçu mon colis."


def _names(msg: Message) -> list[str]:
    return [a.filename for a in msg.attachments]


def _defect(msg: Message, fragment: str) -> bool:
    return any(fragment in d for d in msg.defects)


# What each hostile case must give: a check of the parsed Message, or the ParseError wording.
EXPECTED = {
    "broken_boundary": lambda m: _defect(m, "CloseBoundaryNotFoundDefect"),
    "truncated_nested_boundary": lambda m: (
        "Je n'ai rien reçu." in m.text and _defect(m, "StartBoundaryNotFoundDefect")
    ),
    "missing_boundary_param": lambda m: (
        m.text == "Where is my order? It has been three weeks."
        and _defect(m, "NoBoundaryInMultipartDefect")
    ),
    "unknown_charset": lambda m: (
        m.text == "No he recibido el pedido, señor. Quiero el reembolso."
        and m.html_text == "No he recibido el pedido, señor."
        and _defect(m, "charset 'x-unknown-foo' failed")
        and _defect(m, "charset 'utf8mb4' failed")
    ),
    "raw_8bit_headers": lambda m: (
        m.subject == "Réclamation: article endommagé"
        and (m.from_name, m.from_addr) == ("René Müller", "rene.mueller@buyer.example")
        and m.text == "L'article est arrivé cassé."
    ),
    "bad_encoded_word": lambda m: (
        "Qapla'" in m.subject
        and "=?utf-8?Q?unterminated" in m.subject
        and m.headers["reply-to"] == "Marie <marie.dubois@buyer.example>"
    ),
    "bad_encoded_word_in_address": lambda m: (
        (m.from_name, m.from_addr) == ("utf-8?B?TWFya?=", "marie.dubois@buyer.example")
        and m.to == ("seller@shop.example",)
        and m.text == "Où est mon colis ?"
    ),
    "traversal_attachment_name": lambda m: _names(m) == ["x"],
    "backslash_traversal_name": lambda m: _names(m) == ["evil.exe"],
    "absolute_path_name": lambda m: _names(m) == ["passwd"],
    "long_attachment_name": lambda m: (
        _names(m)[0].startswith("facture-commande-402-1234567-7654321-")
        and _names(m)[0].endswith("-765432.pdf")
        and len(_names(m)[0].encode()) == 150
    ),
    "control_chars_name": lambda m: _names(m) == ["invoice[31m.pdf"],
    "raw_control_chars_name": lambda m: _names(m) == ["bell[2Jname.pdf"],
    "dots_only_name": lambda m: _names(m) == ["attachment-1.pdf"],
    "rfc2231_name": lambda m: _names(m) == ["Reçu de livraison nº 12.pdf"],
    "empty": "empty message (0 bytes)",
    "headers_only": lambda m: (
        m.subject == "Commande 402-1234567-7654321: headers_only"
        and (m.text, m.html_text, m.attachments) == ("", "", ())
    ),
    "no_date": lambda m: m.date is None and m.text == "Mein Paket ist nicht angekommen.",
    "invalid_date": lambda m: m.date is None and _defect(m, "date[0]: invalid-date-syntax"),
    "html_only": lambda m: "Item not received" in m.text,
    "nested_rfc822": lambda m: (
        m.from_addr == "ops@shop.example"
        and m.text.startswith("See the claim below.")
        and "A buyer opened a claim for order 402-1234567-7654321." in m.text
        and [(a.filename, a.content_type) for a in m.attachments] == [("photo.png", "image/png")]
    ),
    "truncated_base64": lambda m: (
        _names(m) == ["damage.pdf"]
        and m.attachments[0].payload.startswith(PDF)
        and 0 < m.attachments[0].size < 40 * len(PDF)
        and _defect(m, "CloseBoundaryNotFoundDefect")
    ),
}


def test_every_hostile_case_has_an_expectation() -> None:
    assert set(HOSTILE) == set(EXPECTED)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_case(case: str) -> None:
    expected = EXPECTED[case]
    if isinstance(expected, str):
        with pytest.raises(ParseError) as raised:
            parse_message(HOSTILE[case])
        assert str(raised.value) == expected
        return
    msg = parse_message(HOSTILE[case])
    assert expected(msg), msg
    assert msg.message_id.startswith(f"<{case}.0001@")


@pytest.mark.parametrize("case", sorted(set(HOSTILE) - {"empty"}))
def test_hostile_attachment_names_stay_in_their_folder(case: str, tmp_path: Path) -> None:
    for attachment in parse_message(HOSTILE[case]).attachments:
        assert (tmp_path / attachment.filename).resolve().parent == tmp_path.resolve()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"  \r\n\r\n\t", "empty message (7 bytes, whitespace only)"),
        (b": \r\n\r\n", "no header fields and no body: not a mail message"),
    ],
)
def test_what_is_no_message_at_all_raises(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as raised:
        parse_message(raw)

    assert str(raised.value) == reason


def test_body_without_headers_parses_with_a_defect() -> None:
    msg = parse_message(b"Where is my parcel?\r\n")

    assert (msg.text, msg.subject, msg.from_addr, msg.message_id) == (
        "Where is my parcel?",
        "",
        "",
        None,
    )
    assert "no header fields" in msg.defects


def test_too_deep_nesting_raises_parse_error_with_its_cause() -> None:
    depth = 2000  # deeper than the email package can recurse
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    raw = ("From: a@b.example\r\nMIME-Version: 1.0\r\n" + opening + "\r\nhi\r\n").encode()

    with pytest.raises(ParseError) as raised:
        parse_message(raw)

    assert str(raised.value).startswith("MIME parts nested too deeply to parse: maximum recursion")
    assert isinstance(raised.value.__cause__, RecursionError)


def test_a_crash_inside_mail_parser_becomes_parse_error_with_its_cause() -> None:
    raw = simple("Charset", "r\u00e9clamation").replace(b"charset=utf-8", b'charset="ut\x00f-8"')

    with pytest.raises(ParseError) as raised:
        parse_message(raw)

    assert str(raised.value) == "parser failed (ValueError): embedded null character"
    assert isinstance(raised.value.__cause__, ValueError)


def test_huge_attachment_keeps_its_full_payload() -> None:
    started = time.monotonic()
    msg = parse_message(huge_attachment())

    [attachment] = msg.attachments
    assert attachment.filename == "scan.bin"
    assert attachment.size == 30 * 2**20
    assert attachment.sha256 == hashlib.sha256(huge_payload()).hexdigest()
    assert time.monotonic() - started < 5


def test_huge_text_is_truncated_and_says_so() -> None:
    msg = parse_message(simple("Big", "x" * (MAX_TEXT_CHARS + 10)))

    assert len(msg.text) == MAX_TEXT_CHARS
    assert (
        f"text truncated to {MAX_TEXT_CHARS} characters (was {MAX_TEXT_CHARS + 10})" in msg.defects
    )


def test_nameless_attachments_get_stable_names() -> None:
    raw = crlf(
        "From: buyer@buyer.example",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="m"',
        "",
        "--m",
        "Content-Type: text/csv",
        "Content-Disposition: attachment",
        "",
        "order,amount",
        "--m",
        "Content-Type: image/png",
        "Content-ID: <logo@mail>",
        "Content-Transfer-Encoding: base64",
        "",
        "iVBORw0KGgo=",
        "--m--",
    )

    first, second = parse_message(raw), parse_message(raw)

    assert _names(first) == _names(second) == ["attachment-1.csv", "attachment-2.png"]


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Tue, 03 Nov 2026 10:15:00 +0100", datetime(2026, 11, 3, 9, 15, tzinfo=UTC)),
        ("Tue, 3 Nov 2026 10:15:00 -0800", datetime(2026, 11, 3, 18, 15, tzinfo=UTC)),
        ("Tue, 3 Nov 2026 10:15:00 PST", datetime(2026, 11, 3, 18, 15, tzinfo=UTC)),
        ("Tue, 3 Nov 2026 10:15:00", datetime(2026, 11, 3, 10, 15, tzinfo=UTC)),  # no zone: UTC
        ("3 Nov 2026 10:15 GMT", datetime(2026, 11, 3, 10, 15, tzinfo=UTC)),
        ("yesterday at noon", None),
        ("Tue, 31 Feb 2026 10:15:00 +0000", None),
    ],
)
def test_date_is_utc_aware_or_none(date: str, expected: datetime | None) -> None:
    msg = parse_message(simple("Date", "b", f"Date: {date}"))

    assert msg.date == expected
    assert msg.date is None or msg.date.utcoffset().total_seconds() == 0


def test_missing_date_is_none() -> None:
    assert parse_message(simple()).date is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "=?UTF-8?Q?R=C3=A9clamation_A-to-z_=3A_commande_non_re=C3=A7ue?=",
            "Réclamation A-to-z : commande non reçue",
        ),
        (
            "=?ISO-8859-1?B?Uvxja2Vyc3RhdHR1bmcgZvxyIEJlc3RlbGx1bmc6IEdy9t9lIGZhbHNjaA==?=",
            "Rückerstattung für Bestellung: Größe falsch",
        ),
        (
            "=?utf-8?B?wr9Ew7NuZGUgZXN0w6EgbWkgcGVkaWRvPyA=?=\r\n =?utf-8?B?U2XDsW9yIEfDs21leg==?=",
            "¿Dónde está mi pedido? Señor Gómez",
        ),
        ("=?windows-1252?Q?Perch=E9_=93rimborso=94?=", "Perché “rimborso”"),
        ("=?utf-8?Q?Il_pacco_=C3?= =?utf-8?Q?=A8_arrivato?=", "Il pacco è arrivato"),
    ],
)
def test_encoded_subjects_in_european_languages(header: str, expected: str) -> None:
    assert parse_message(simple(header)).subject == expected


@pytest.mark.parametrize(
    ("raw_subject", "expected"),
    [
        ("Il pacco è arrivato danneggiato, però".encode(), "Il pacco è arrivato danneggiato, però"),
        ("Réclamation reçue".encode("latin-1"), "Réclamation reçue"),
        ("Größe falsch, Rückgabe".encode("cp1252"), "Größe falsch, Rückgabe"),
    ],
)
def test_raw_8bit_subjects_decode(raw_subject: bytes, expected: str) -> None:
    raw = simple("PLACEHOLDER").replace(b"PLACEHOLDER", raw_subject)

    assert parse_message(raw).subject == expected


def test_control_characters_leave_headers() -> None:
    msg = parse_message(simple("=?utf-8?Q?Alert=00=1B[2J_now?="))

    assert msg.subject == "Alert [2J now"


# safe_filename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("facture.pdf", "facture.pdf"),
        ("../../x", "x"),
        ("..\\..\\evil.exe", "evil.exe"),
        ("/etc/passwd", "passwd"),
        ("C:\\Users\\x\\photo.jpg", "photo.jpg"),
        ("..", "fallback.bin"),
        (".", "fallback.bin"),
        ("....", "fallback.bin"),
        ("", "fallback.bin"),
        (None, "fallback.bin"),
        ("   ", "fallback.bin"),
        (".htaccess", "htaccess"),
        ("report. . .", "report"),
        ("in\x00voice\n.pdf", "invoice.pdf"),
        ("\x1b[31mred.txt", "[31mred.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override spoof
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("console.txt", "console.txt"),
        ("Reçu nº 12.pdf", "Reçu nº 12.pdf"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name, "fallback.bin") == expected


def test_safe_filename_normalizes_to_nfc() -> None:
    assert safe_filename("Rec\u0327u.pdf", "x") == "Re\u00e7u.pdf"


def test_safe_filename_caps_length_and_keeps_extension() -> None:
    name = safe_filename("é" * 500 + ".pdf", "x")

    assert name.endswith("é.pdf")
    assert len(name.encode()) <= 150
    assert len(name.encode()) >= 149  # only a split "é" (2 bytes) is lost


def test_safe_filename_cuts_a_long_extension_like_the_rest() -> None:
    name = safe_filename("a" * 140 + "." + "b" * 40, "x")

    assert name == "a" * 140 + "." + "b" * 9


def test_safe_filename_cleans_the_fallback_too() -> None:
    assert safe_filename("..", "../..") == "attachment"


@pytest.mark.parametrize(
    "name",
    [
        "../../x",
        "..\\..\\evil.exe",
        "/etc/passwd",
        "..",
        ".",
        "....",
        "a/../../b",
        "\x00",
        "/",
        "x" * 500,
    ],
)
def test_safe_filename_never_escapes_its_folder(name: str, tmp_path: Path) -> None:
    result = safe_filename(name, "fallback.bin")

    assert result not in ("", ".", "..")
    assert Path(os.path.join(tmp_path, result)).resolve().parent == tmp_path.resolve()


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("truncated_nested_boundary", AttributeError),
        ("bad_encoded_word_in_address", email.errors.HeaderParseError),
    ],
)
def test_mail_parser_alone_still_crashes_where_the_tree_is_mended(case: str, error: type) -> None:
    """Once this fails, mail-parser is fixed and the mending in message._mail_parser can go."""
    with pytest.raises(error):
        mailparser.parse_from_bytes(HOSTILE[case])
