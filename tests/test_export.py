"""The evidence pack on a case folder built by hand: zip members, safety, and the drafted reply."""

from __future__ import annotations

import copy
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from daemon.errors import ClaimwatchError
from evidence_store.export import draft_response, export_case

CASE_ID = "order-171-5551234-7654321"
ORDER = "171-5551234-7654321"
TRACKING = "1Z999AA10123456784"
EML_HISTORY = "messages/2026-10-28T1012-routine-3f2a9c1b.eml"
EML_BUYER = "messages/2026-11-19T1800-at_risk-aa11bb22.eml"
EML_CLAIM = "messages/2026-11-20T0930-a_to_z-0b1c2d3e.eml"
# Bytes an .eml must keep exactly: CRLF line ends, 8-bit body, no final newline.
RAW_EML = (
    b"From: buyer@example.com\r\nSubject: colis pas re\xc3\xa7u\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nJe n'ai pas re\xc3\xa7u ma commande.\r\n."
)

CASE = {
    "format": 1,
    "id": CASE_ID,
    "status": "open",
    "label": "a_to_z",
    "labels": ["a_to_z", "at_risk"],
    "marketplace": "amazon",
    "language": "en",
    "claim_reason": "not_received",
    "created_at": "2026-11-20T09:30:12+00:00",
    "updated_at": "2026-11-21T08:00:03+00:00",
    "deadline": None,
    "order_ids": [ORDER],
    "payment_refs": [],
    "shop_orders": [],
    "claim_ids": [],
    "amount": {"value": "89.90", "currency": "EUR"},
    "tracking": [{"carrier": "ups", "number": TRACKING, "source": EML_HISTORY}],
    "delivery": {"date": "2026-10-30T14:02:00+00:00", "source": EML_HISTORY},
    "messages": [
        {
            "file": EML_HISTORY,
            "date": "2026-10-28T10:12:00+00:00",
            "from": "ship@amazon.fr",
            "subject": "Votre colis a été expédié",
            "label": "routine",
            "role": "history",
            "decision": None,
        },
        {
            "file": EML_BUYER,
            "date": "2026-11-19T18:00:00+00:00",
            "from": "buyer@example.com",
            "subject": "colis pas reçu",
            "label": "at_risk",
            "role": "history",
            "decision": None,
        },
        {
            "file": EML_CLAIM,
            "date": "2026-11-20T09:30:00+00:00",
            "from": "atoz-guarantee-no-reply@amazon.fr",
            "subject": "Réclamation A-to-z",
            "label": "a_to_z",
            "role": "opened",
            "decision": "open",
        },
    ],
    "attachments": [
        {
            "file": "attachments/photo.jpg",
            "sha256": "9f8e",
            "size": 4,
            "content_type": "image/jpeg",
            "source": EML_BUYER,
        }
    ],
    "skipped_attachments": [],
    "evidence_files": ["evidence/proof-of-delivery.pdf"],
    "checklist": [
        {"item": "carrier", "title": "Carrier", "present": True, "detail": "UPS"},
        {
            "item": "tracking_number",
            "title": "Tracking number",
            "present": True,
            "detail": TRACKING,
        },
        {
            "item": "delivery_date",
            "title": "Delivery date",
            "present": True,
            "detail": "2026-10-30",
        },
        {
            "item": "proof_of_delivery",
            "title": "Proof of delivery",
            "present": True,
            "detail": "evidence/proof-of-delivery.pdf",
        },
    ],
    "notes": [],
    "exports": [],
}


def make_case(**changes) -> dict:
    case = copy.deepcopy(CASE)
    case.update(changes)
    return case


def missing(case: dict, item: str) -> None:
    for entry in case["checklist"]:
        if entry["item"] == item:
            entry["present"] = False


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    """data_dir/cases/<id>/ as the evidence store writes it, plus a symlink out and a lock file."""
    folder = tmp_path / "data" / "cases" / CASE_ID
    for sub in ("messages", "attachments", "evidence"):
        (folder / sub).mkdir(parents=True)
    (folder / "case.json").write_text(json.dumps(CASE, indent=2))
    (folder / "README.md").write_text(f"# {CASE_ID}\n")
    (folder / "timeline.jsonl").write_text(json.dumps({"kind": "note", "at": "x", "text": "t"}))
    for name in (EML_HISTORY, EML_CLAIM):
        (folder / name).write_bytes(b"From: a@b\r\n\r\nbody\r\n")
    (folder / EML_BUYER).write_bytes(RAW_EML)
    (folder / "attachments/photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    (folder / "evidence/proof-of-delivery.pdf").write_bytes(b"%PDF-1.4\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the case folder")
    (folder / "evidence/leak.txt").symlink_to(secret)
    (folder / "attachments/.lock").write_text("")
    (folder / ".case.json.tmp").write_text("{")
    return folder


def test_export_holds_the_case_files_and_nothing_else(case_dir):
    out = export_case(case_dir)

    assert out.parent == case_dir.parent.parent / "exports"
    assert out.name.startswith(f"{CASE_ID}-") and out.suffix == ".zip"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert names == [
            f"{CASE_ID}/{name}"
            for name in (
                "README.md",
                "attachments/photo.jpg",
                "case.json",
                "evidence/proof-of-delivery.pdf",
                EML_HISTORY,
                EML_BUYER,
                EML_CLAIM,
                "response.txt",
                "timeline.jsonl",
            )
        ]
        assert zf.read(f"{CASE_ID}/{EML_BUYER}") == RAW_EML
        assert zf.read(f"{CASE_ID}/case.json") == (case_dir / "case.json").read_bytes()
        response = zf.read(f"{CASE_ID}/response.txt").decode("utf-8")
    assert not any("leak" in n or "/." in n or "secret" in n for n in names)
    assert response == draft_response(CASE)
    assert ORDER in response
    assert TRACKING in response
    assert "UPS" in response
    assert "30 October 2026" in response
    assert "Annex 1: photo.jpg" in response
    assert "Annex 2: proof-of-delivery.pdf" in response


def test_export_skips_a_symlinked_folder_and_leaves_no_temp_file(case_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.pdf").write_bytes(b"private")
    os.rename(case_dir / "evidence", tmp_path / "evidence-moved")
    (case_dir / "evidence").symlink_to(outside)

    out = export_case(case_dir, tmp_path / "packs" / "pack.zip")

    assert out == tmp_path / "packs" / "pack.zip"
    with zipfile.ZipFile(out) as zf:
        assert not any("evidence/" in n for n in zf.namelist())
    assert os.listdir(out.parent) == ["pack.zip"]


def test_export_into_an_existing_directory_names_the_file(case_dir, tmp_path):
    out = export_case(case_dir, tmp_path)
    assert out.parent == tmp_path and out.name.startswith(f"{CASE_ID}-")


@pytest.mark.parametrize("content", [b"{not json", b"", b"\xff\xfe", b"[1, 2]"])
def test_broken_case_json_is_an_error_naming_the_file(case_dir, content):
    (case_dir / "case.json").write_bytes(content)
    with pytest.raises(ClaimwatchError) as e:
        export_case(case_dir)
    assert str(case_dir / "case.json") in str(e.value)
    assert not (case_dir.parent.parent / "exports").exists()


def test_missing_case_json_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(ClaimwatchError, match=r"nope/case\.json: not found"):
        export_case(tmp_path / "cases" / "nope")


def test_unsafe_case_id_is_refused(case_dir):
    (case_dir / "case.json").write_text(json.dumps(make_case(id="../../etc")))
    with pytest.raises(ClaimwatchError, match="bad case id"):
        export_case(case_dir)


def test_output_under_a_file_is_an_error_naming_it(case_dir, tmp_path):
    (tmp_path / "plain").write_text("")
    with pytest.raises(ClaimwatchError, match="cannot be written there") as e:
        export_case(case_dir, tmp_path / "plain" / "pack.zip")
    assert "plain/pack.zip" in str(e.value)


# --- the draft -----------------------------------------------------------------------------------

LANGUAGE_WORDS = {
    "en": ("Dear Sir or Madam,", "A-to-z Guarantee", "tracking number", "Yours faithfully"),
    "fr": ("Madame, Monsieur,", "Garantie A à Z", "numéro de suivi", "30 octobre 2026"),
    "de": ("Sehr geehrte Damen und Herren,", "A-bis-z-Garantie", "Sendungsnummer", "30. Oktober"),
    "es": ("Estimados señores:", "Garantía de la A a la Z", "número de seguimiento", "Anexo 1"),
    "it": ("Gentili Signori,", "Garanzia dalla A alla Z", "codice di tracciamento", "Allegato 1"),
}


@pytest.mark.parametrize("language", sorted(LANGUAGE_WORDS))
def test_draft_is_in_the_case_language(language):
    text = draft_response(make_case(language=language))
    for word in LANGUAGE_WORDS[language]:
        assert word in text
    for other, words in LANGUAGE_WORDS.items():
        if other != language:
            assert words[0] not in text
    assert ORDER in text
    assert TRACKING in text


@pytest.mark.parametrize(
    ("language", "reason"),
    [
        ("en", "item not received"),
        ("fr", "article non reçu"),
        ("de", "Artikel nicht erhalten"),
        ("es", "artículo no recibido"),
        ("it", "articolo non ricevuto"),
    ],
)
def test_draft_translates_reason_and_amount(language, reason):
    text = draft_response(make_case(language=language))
    assert reason in text
    assert ("89.90 EUR" if language == "en" else "89,90 EUR") in text


def test_unknown_language_falls_back_to_english():
    assert draft_response(make_case(language="pl")).startswith("Dear Sir or Madam,")


@pytest.mark.parametrize("language", sorted(LANGUAGE_WORDS))
def test_missing_delivery_gets_a_placeholder_and_no_date(language):
    case = make_case(language=language, delivery=None)
    missing(case, "delivery_date")
    text = draft_response(case)
    placeholder = {
        "en": "[Add the delivery date confirmed by the carrier here]",
        "fr": "[Indiquer ici la date de livraison confirmée par le transporteur]",
        "de": "[Hier das vom Versanddienstleister bestätigte Zustelldatum angeben]",
        "es": "[Indique aquí la fecha de entrega confirmada por el transportista]",
        "it": "[Indicare qui la data di consegna confermata dal corriere]",
    }[language]
    assert placeholder in text
    assert "2026" not in text
    assert "delivered on" not in text


def test_missing_proof_of_delivery_is_a_placeholder_among_the_annexes():
    case = make_case(evidence_files=[])
    missing(case, "proof_of_delivery")
    text = draft_response(case)
    assert "- Annex 1: photo.jpg\n- [Add the proof of delivery here]" in text
    assert "proof-of-delivery.pdf" not in text
    assert "Annex 2" not in text


def test_sections_with_nothing_to_cite_are_left_out():
    case = make_case(
        tracking=[],
        delivery=None,
        attachments=[],
        evidence_files=[],
        messages=[],
        amount=None,
        claim_reason=None,
    )
    text = draft_response(case)
    assert ORDER in text
    for absent in ("tracking number", "Annex", "enclose", "Amount", "Reason", "contacted", "["):
        assert absent not in text.replace("[Name]", "").replace("[Shop name]", "")


def test_buyer_messages_are_counted():
    assert "contacted us once" in draft_response(CASE)
    two = make_case(messages=[*CASE["messages"], {**CASE["messages"][1], "file": "m2"}])
    assert "contacted us 2 times" in draft_response(two)


@pytest.mark.parametrize(
    ("marketplace", "name"),
    [
        ("stripe", "Stripe"),
        ("paypal", "PayPal"),
        ("adyen", "Adyen"),
        ("shopify", "Shopify Payments"),
        ("amazon_pay", "Amazon Pay"),
    ],
)
def test_chargeback_names_the_processor(marketplace, name):
    case = make_case(label="chargeback", marketplace=marketplace, payment_refs=["ch_3Nabc"])
    text = draft_response(case)
    assert f"chargeback (payment dispute) notified to us through {name}" in text
    assert "ch_3Nabc" in text
    assert "A-to-z" not in text


def test_chargeback_without_a_known_processor_names_none():
    text = draft_response(make_case(label="chargeback", marketplace="other", language="de"))
    assert "Rückbuchung" in text and "über" not in text.split("\n\n")[1]


def test_at_risk_is_a_reply_to_the_buyer():
    case = make_case(label="at_risk", claim_reason="damaged", language="fr")
    text = draft_response(case)
    assert text.startswith("Bonjour,")
    assert f"votre commande {ORDER}" in text
    assert "désolés" in text
    assert TRACKING in text and "UPS" in text
    assert "photos" in text
    assert "Madame, Monsieur" not in text
    assert "Annexe" not in text


def test_s10_numbers_name_the_issuing_post():
    case = make_case(language="it", tracking=[{"carrier": "s10", "number": "RB123456785IT"}])
    assert "- Poste Italiane, codice di tracciamento RB123456785IT" in draft_response(case)
