"""Who wrote a message, as the model is told: a buyer (any personal mailbox, a marketplace relay,
a shop's contact form) or a company. A buyer's cue words weigh differently from a newsletter's."""

from email.message import EmailMessage

import pytest

from classifier.features import fields_of
from daemon.message import parse_message


def _message(sender: str, subject: str = "Order 1042", body: str = "Hi.") -> list[str]:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "shop@example-shop.de"
    mail["Subject"] = subject
    mail.set_content(body)
    return fields_of(parse_message(mail.as_bytes())).meta.split()


@pytest.mark.parametrize(
    "sender",
    [
        "rodrigo@hotmail.cl",
        "ana.perez@yahoo.com.mx",
        "m.rossi@libero.it",
        "kathrin@gmx.at",
        "paddy@eircom.net",
        "jo@bigpond.com.au",
        "Verena - Amazon Marketplace <b7wn3zq9xk1tmrc@marketplace.amazon.de>",
    ],
)
def test_personal_mailboxes_in_any_country_are_buyers(sender):
    assert "from_buyer" in _message(sender)


@pytest.mark.parametrize(
    "sender",
    [
        "service@mail.paypal.es",
        "news@email.gorgias.com",
        "atoz-guarantee-no-reply@amazon.de",
        "info@gmx-shop-zubehoer.de",
        "hello@free-shipping-tools.io",
    ],
)
def test_companies_are_not_taken_for_buyers(sender):
    assert "from_company" in _message(sender)


def test_a_contact_form_is_a_buyer_by_its_fields_even_under_a_plain_subject():
    body = "Name: Ana Pérez\nE-mail: ana@example.org\nTeléfono: 600 000 000\n\nMe faltan tornillos."
    assert "from_buyer" in _message("wordpress@patio-shop.es", "[Patio] Pedido 4127", body)
    assert "from_company" in _message("wordpress@patio-shop.es", "[Patio] Pedido 4127", "Hola.")
