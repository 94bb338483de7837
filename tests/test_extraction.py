"""Extraction of evidence from parsed messages: ids, tracking numbers, amounts, reason, decision.

Tracking numbers are the test numbers of the tracking_number_data spec and its libraries; each
valid one is also tried with one digit changed, which must then not be reported.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from daemon.message import Message, parse_message
from evidence_store.carriers import identify
from evidence_store.extraction import Amount, Tracking, extract


def mail(body: str, subject: str = "Your order", content_type: str = "text/plain") -> Message:
    """A parsed message with *body* (UTF-8) as its only part."""
    raw = (
        "From: Seller Notifications <notify@example.com>\r\n"
        "To: seller@example.com\r\n"
        f"Subject: {subject}\r\n"
        "Date: Mon, 03 Nov 2025 10:00:00 +0000\r\n"
        "Message-ID: <t1@example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{body}\r\n"
    )
    return parse_message(raw.encode("utf-8"))


def changed_digit(number: str) -> str:
    """*number* with its last digit changed: the check digit for every format tested here."""
    index = max(i for i, ch in enumerate(number) if ch.isdigit())
    return f"{number[:index]}{(int(number[index]) + 1) % 10}{number[index + 1 :]}"


# (carrier, as written in the mail, as reported)
VALID_TRACKING = [
    ("ups", "1Z5R89390357567127", "1Z5R89390357567127"),
    ("ups", "1Z 999 AA1 01 2345 6784", "1Z999AA10123456784"),
    ("ups", "1Z879E930346834440", "1Z879E930346834440"),
    ("usps", "9400111899223818218407", "9400111899223818218407"),
    ("usps", "9400 1118 9922 3818 2184 07", "9400111899223818218407"),
    ("usps", "420221539101026837331000039521", "420221539101026837331000039521"),
    ("fedex", "986578788855", "986578788855"),
    ("fedex", "9611020987654312345672", "9611020987654312345672"),
    ("dhl", "3318810025", "3318810025"),
    ("s10", "RB123456785GB", "RB123456785GB"),
    ("s10", "RB 1234 5678 5GB", "RB123456785GB"),
    ("s10", "LX123456785FR", "LX123456785FR"),
    ("s10", "CP123456785DE", "CP123456785DE"),
    ("s10", "EA123456785US", "EA123456785US"),
]


@pytest.mark.parametrize(("carrier", "written", "number"), VALID_TRACKING)
def test_valid_tracking_number_is_found_with_its_carrier(carrier, written, number):
    found = extract(mail(f"Good news, your parcel has shipped.\nTracking number: {written}\n"))
    assert found.tracking == (Tracking(carrier, number),)


@pytest.mark.parametrize(("carrier", "written", "number"), VALID_TRACKING)
def test_one_digit_changed_is_not_reported(carrier, written, number):
    wrong = changed_digit(written)
    assert identify(changed_digit(number)) is None
    found = extract(mail(f"Good news, your parcel has shipped.\nTracking number: {wrong}\n"))
    assert found.tracking == ()


# Carriers the tracking-numbers spec lacks: found only right after their name.
NAMED_TRACKING = [
    ("GLS Paketnummer: 123456789011", ("gls", "123456789011")),  # check digit 1 passes
    ("Numéro de colis GLS : 12345678901", ("gls", "12345678901")),  # without its check digit
    ("DPD parcel number 0123 4567 8901 23", ("dpd", "01234567890123")),
    ("Su envío DPD: 05212345678901", ("dpd", "05212345678901")),
    ("Evri tracking number H01ABC1234567890", ("evri", "H01ABC1234567890")),
    ("Spedito con Hermes, codice H00A1B2C3D4E5F6G", ("evri", "H00A1B2C3D4E5F6G")),
]


@pytest.mark.parametrize(("written", "expected"), NAMED_TRACKING)
def test_gls_dpd_and_evri_numbers_after_the_carriers_name(written, expected):
    assert extract(mail(written)).tracking == (Tracking(*expected),)


NOT_NAMED_TRACKING = [
    "GLS Paketnummer: 123456789019",  # the 12th digit fails GLS's check
    "GLS Paketnummer: 1234567890123",  # 13 digits: no GLS number
    "Parcel number 01234567890123",  # no carrier named: any 14 digits
    "DPD 012345678901234",  # 15 digits
    "Call us on 01234567890123, DPD is not involved",  # the name comes after the number
]


@pytest.mark.parametrize("written", NOT_NAMED_TRACKING)
def test_gls_dpd_and_evri_need_their_name_and_gls_its_check_digit(written):
    assert extract(mail(written)).tracking == ()


def test_amazon_logistics_number_is_checked_by_format():
    found = extract(mail("Amazon Logistics tracking ID: TBA012345678901, or TBA01234567890."))
    assert found.tracking == (Tracking("amazon", "TBA012345678901"),)


def test_several_numbers_in_order_and_without_repeats():
    body = (
        "UPS 1Z5R89390357567127\nReturn label: RB123456785GB\n"
        "https://www.ups.com/track?tracknum=1Z5R89390357567127\n"
    )
    assert extract(mail(body)).tracking == (
        Tracking("ups", "1Z5R89390357567127"),
        Tracking("s10", "RB123456785GB"),
    )


@pytest.mark.parametrize(
    "body",
    [
        "Tracking 986578788855 is not mentioned here",  # a cue is needed: positive control
    ],
)
def test_short_digits_only_number_counts_after_a_tracking_word(body):
    assert extract(mail(body)).tracking == (Tracking("fedex", "986578788855"),)


@pytest.mark.parametrize(
    "body",
    [
        "Reference 986578788855 for your records.",  # valid FedEx 12, but no tracking cue
        "Your shipment is ready. Call us: 061234567812",  # validates as FedEx 12: a phone
        "Tracking questions? Phone +3318810025",  # validates as DHL: after "+"
        "Suivi du colis : appelez le 33 1881 0025",  # DHL digits, but grouped like a phone
    ],
)
def test_short_number_without_context_is_not_a_tracking_number(body):
    assert extract(mail(body)).tracking == ()


def test_order_ids_phones_ibans_and_amounts_are_not_tracking_numbers():
    body = (
        "Order 402-1234567-1234567 has shipped with DHL.\n"
        "Amazon Pay reference: P01-1234567-1234567\n"
        "Questions about your parcel? Call +49 30 1234 5678 or 0800 123 4567.\n"
        "Refund to IBAN DE89 3704 0044 0532 0130 00, total 1.234,56 EUR.\n"
        "Tel: 0612345678, fax 061234567812\n"
    )
    found = extract(mail(body))
    assert found.tracking == ()
    assert found.order_ids == ("402-1234567-1234567",)
    assert found.payment_refs == ("P01-1234567-1234567",)


@pytest.mark.parametrize(
    "sentence",
    [
        "Order ID: 111-2223334-4445556. Thank you for shopping with us.",
        "Numéro de commande : 111-2223334-4445556",
        "Ihre Bestellnummer lautet 111-2223334-4445556.",
        "Número de pedido: 111-2223334-4445556",
        "Numero d'ordine: 111-2223334-4445556",
    ],
)
def test_amazon_order_id_in_five_languages(sentence):
    found = extract(mail(sentence))
    assert found.order_ids == ("111-2223334-4445556",)
    assert found.shop_orders == ()
    assert found.tracking == ()


def test_order_ids_keep_order_of_appearance_without_repeats():
    found = extract(
        mail(
            "About 222-0000000-0000001 and 111-0000000-0000002", subject="Order 111-0000000-0000002"
        )
    )
    assert found.order_ids == ("111-0000000-0000002", "222-0000000-0000001")


def test_payment_references():
    body = (
        "Amazon Pay: S02-7654321-1234567 and C02-1111111-2222222\n"
        "Stripe dispute dp_1MqXyz2eZvKYlo2C0abcdEfG opened\n"
        "PayPal case PP-R-ABC-123456789 and PP-D-12345678\n"
        "PSP reference: 8815329842815468\n"
    )
    assert extract(mail(body)).payment_refs == (
        "S02-7654321-1234567",
        "C02-1111111-2222222",
        "dp_1MqXyz2eZvKYlo2C0abcdEfG",
        "PP-R-ABC-123456789",
        "PP-D-12345678",
        "8815329842815468",
    )


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Thanks for your order #1234!", "#1234"),
        ("Order #NPA-US-30198 confirmed", "#NPA-US-30198"),
        ("Ihre Bestellung #1344 wurde versandt", "#1344"),
        ("Votre commande n°3306 est expédiée", "#3306"),
        ("Tu pedido #1188 está en camino", "#1188"),
        ("Il tuo ordine #1396 è stato spedito", "#1396"),
        ("Order No. A-5521", "#A-5521"),
    ],
)
def test_shop_order_numbers(sentence, expected):
    assert extract(mail(sentence)).shop_orders == (expected,)


def test_support_case_number_is_not_a_shop_order():
    assert extract(mail("Your case #12345678 was updated. Order confirmation")).shop_orders == ()


@pytest.mark.parametrize(
    ("written", "value", "currency"),
    [
        ("89,90 €", "89.90", "EUR"),
        ("EUR 89.90", "89.90", "EUR"),
        ("£12.99", "12.99", "GBP"),
        ("$1,234.56", "1234.56", "USD"),
        ("1.234,56 EUR", "1234.56", "EUR"),
        ("CHF 45.00", "45.00", "CHF"),
        ("CHF 45.–", "45", "CHF"),
        ("MXN 3,499.00", "3499.00", "MXN"),
        ("1 234,56 €", "1234.56", "EUR"),
    ],
)
def test_amounts(written, value, currency):
    found = extract(mail(f"The buyer asks for a refund of {written} for 2 items."))
    assert found.amounts == (Amount(Decimal(value), currency),)


def test_bare_numbers_are_not_amounts():
    assert extract(mail("2 items shipped on 12.11.2025, 3 boxes")).amounts == ()


REASONS = [
    ("I have not received my package yet.", "not_received"),
    ("Claim reason: Item not received", "not_received"),
    ("Je n'ai toujours pas reçu ma commande.", "not_received"),
    ("Motif : article non reçu", "not_received"),
    ("Ich habe das Paket nie erhalten.", "not_received"),
    ("Todavía no he recibido mi pedido.", "not_received"),
    ("Motivo: artículo no recibido", "not_received"),
    ("Non ho ancora ricevuto il pacco.", "not_received"),
    ("The item arrived damaged.", "damaged"),
    ("Le produit est arrivé cassé.", "damaged"),
    ("Der Artikel ist beschädigt angekommen.", "damaged"),
    ("El producto llegó dañado.", "damaged"),
    ("L'articolo è arrivato danneggiato.", "damaged"),
    ("You sent me the wrong item.", "wrong_item"),
    ("J'ai reçu le mauvais article.", "wrong_item"),
    ("Sie haben mir einen falschen Artikel geschickt.", "wrong_item"),
    ("Me enviaron un artículo equivocado.", "wrong_item"),
    ("Ho ricevuto un articolo sbagliato.", "wrong_item"),
    ("The item is not as described.", "not_as_described"),
    ("Le produit n’est pas conforme à la description.", "not_as_described"),
    ("Der Artikel ist nicht wie beschrieben.", "not_as_described"),
    ("El artículo no coincide con la descripción.", "not_as_described"),
    ("Il prodotto non corrisponde alla descrizione.", "not_as_described"),
    (
        "I returned the item two weeks ago and still have not received a refund.",
        "refund_after_return",
    ),
    ("J'ai renvoyé l'article mais je n'ai toujours pas été remboursé.", "refund_after_return"),
    (
        "Ich habe den Artikel zurückgeschickt, aber noch keine Rückerstattung.",
        "refund_after_return",
    ),
    ("Devolví el artículo y todavía no he recibido el reembolso.", "refund_after_return"),
    ("Ho restituito l'articolo ma non ho ancora ricevuto il rimborso.", "refund_after_return"),
    ("I received the wrong item, and it is broken too.", "wrong_item"),
    ("THE PARCEL HAS NOT ARRIVED", "not_received"),
    ("Thank you for your order. See our returns and refunds policy.", None),
]


@pytest.mark.parametrize(("sentence", "reason"), REASONS)
def test_reason(sentence, reason):
    assert extract(mail(sentence)).reason == reason


DECISIONS = [
    (
        "The A-to-z claim was granted. The amount was debited from your account.",
        "granted_seller_funded",
    ),
    ("The claim was granted and is Amazon-funded, at no cost to you.", "granted_amazon_funded"),
    ("We have decided in your favour: the claim was denied.", "denied"),
    ("The buyer has withdrawn the claim.", "withdrawn"),
    ("This claim is now closed.", "closed"),
    ("An A-to-z Guarantee claim has been filed for order 111-2223334-4445556.", "open"),
    ("La réclamation a été accordée en faveur de l'acheteur.", "granted_seller_funded"),
    ("Le remboursement est financé par Amazon.", "granted_amazon_funded"),
    ("La réclamation a été refusée.", "denied"),
    ("La réclamation a été retirée par l'acheteur.", "withdrawn"),
    ("La réclamation est clôturée.", "closed"),
    ("Un acheteur a déposé une réclamation.", "open"),
    ("Dem Antrag wurde stattgegeben.", "granted_seller_funded"),
    ("Der Antrag wurde abgelehnt.", "denied"),
    ("Der Käufer hat den Antrag zurückgezogen.", "withdrawn"),
    ("Der Antrag wurde geschlossen.", "closed"),
    ("Ein Käufer hat einen A-bis-z-Garantieantrag eingereicht.", "open"),
    ("La reclamación ha sido concedida a favor del comprador.", "granted_seller_funded"),
    ("La reclamación ha sido rechazada.", "denied"),
    ("El comprador ha retirado la reclamación.", "withdrawn"),
    ("La reclamación está cerrada.", "closed"),
    ("Un comprador ha presentado una reclamación.", "open"),
    ("Il reclamo è stato accolto.", "granted_seller_funded"),
    ("Il reclamo è stato respinto.", "denied"),
    ("L'acquirente ha ritirato il reclamo.", "withdrawn"),
    ("Il reclamo è chiuso.", "closed"),
    ("Un acquirente ha presentato un reclamo.", "open"),
    ("Your package is on its way.", None),
]


@pytest.mark.parametrize(("sentence", "decision"), DECISIONS)
def test_decision(sentence, decision):
    assert extract(mail(sentence)).decision == decision


def test_html_only_message_is_read():
    html = "<html><body><p>Order <b>402-1234567-1234567</b>: 89,90&nbsp;€</p></body></html>"
    found = extract(mail(html, content_type="text/html"))
    assert found.order_ids == ("402-1234567-1234567",)
    assert found.amounts == (Amount(Decimal("89.90"), "EUR"),)


def test_as_dict_is_json_ready():
    body = "Order 402-1234567-1234567 shipped, UPS 1Z5R89390357567127, total EUR 89.90. Damaged!"
    data = extract(mail(body)).as_dict()
    assert json.loads(json.dumps(data)) == {
        "order_ids": ["402-1234567-1234567"],
        "payment_refs": [],
        "shop_orders": [],
        "claim_ids": [],
        "tracking": [{"carrier": "ups", "number": "1Z5R89390357567127"}],
        "amounts": [{"value": "89.90", "currency": "EUR"}],
        "reason": "damaged",
        "decision": None,
        "delivered": False,
        "deadline": None,
    }


CLAIM_IDS = [
    ("Claim ID: 4455667788", ("4455667788",)),
    ("Your case #12345 has been updated", ("12345",)),
    ("Numéro de réclamation : R-20261", ("R-20261",)),
    ("Réclamation n° 88776655", ("88776655",)),
    ("Fall-ID 12345678", ("12345678",)),
    ("Reklamationsnummer: AZ-445566", ("AZ-445566",)),
    ("ID de reclamación: 99887766", ("99887766",)),
    ("ID reclamo 55443322", ("55443322",)),
    ("Numero pratica: PR-2026-0042", ("PR-2026-0042",)),
    # not claim ids: no label, no digits, or already an order id / payment reference
    ("Ticket 4455667788", ()),
    ("Claim ID: pending", ()),
    ("Claim for order 123-1234567-1234567", ()),
    ("Dispute ID dp_1NvXyzAbCdEfGhIj", ()),
]


@pytest.mark.parametrize(("sentence", "ids"), CLAIM_IDS)
def test_claim_ids(sentence, ids):
    assert extract(mail(sentence)).claim_ids == ids


DELIVERIES = [
    ("Your package was delivered on 3 November.", True),
    ("Votre colis a été livré le 3 novembre.", True),
    ("Ihr Paket wurde zugestellt.", True),
    ("Su paquete ha sido entregado.", True),
    ("Il pacco è stato consegnato.", True),
    # promises and complaints are no proof of delivery
    ("It will be delivered on Monday.", False),
    ("My order was never delivered.", False),
    ("Le colis n'a jamais été livré.", False),
    ("Das Paket wurde nicht zugestellt.", False),
    ("Il pacco non è stato consegnato.", False),
]


@pytest.mark.parametrize(("sentence", "delivered"), DELIVERIES)
def test_delivery_confirmation(sentence, delivered):
    assert extract(mail(sentence)).delivered is delivered


WARNINGS = [  # what happens without an answer is no decision
    "If you do not respond within 3 days, the claim may be granted to the buyer.",
    "Sans réponse de votre part, la réclamation pourra être accordée à l'acheteur.",
    "Wenn Sie nicht antworten, kann dem Antrag stattgegeben werden.",
    "Si no responde, la reclamación podría ser concedida al comprador.",
    "Se non rispondi entro 3 giorni, il reclamo potrebbe essere accolto.",
]


@pytest.mark.parametrize("sentence", WARNINGS)
def test_a_warning_is_no_decision(sentence):
    assert extract(mail(f"The buyer opened a claim. {sentence}")).decision == "open"


def test_a_negated_phrase_is_no_decision():
    notice = (
        "After review, the claim has been closed in your favour. "
        "No amount will be debited from your account."
    )
    assert extract(mail(notice)).decision == "denied"
    assert extract(mail("La réclamation n'a pas été accordée.")).decision is None
