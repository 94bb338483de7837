"""The evidence pack a seller sends when a claim or chargeback must be answered.

A claim is won or lost on the answer given within about 48 hours, and marketplaces judge it on the
evidence cited, so ``claimwatch case ID export`` puts everything in one zip: the case's messages,
attachments and hand-added evidence, and a drafted reply in the marketplace's own language.

The draft is built only from what case.json holds. An answer that cites a tracking number or a
delivery date the seller cannot back up can cost the appeal, so nothing is ever filled in by
guess: sections with nothing to cite are left out, and what the case checklist marks missing
becomes a bracketed placeholder the seller sees and completes before sending.

The zip is written like every other file claimwatch keeps (temp file, fsync, rename), and only
from files really inside the case folder: a symlink or a stray lock file never leaks into a pack
that leaves the machine.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from daemon.atomic import atomic_file, make_private_dir
from daemon.errors import CaseError
from evidence_store.carriers import CARRIER_NAMES
from evidence_store.folder import CASE_JSON, CaseFolder
from evidence_store.index import REFERENCE_FIELDS

Case = dict[str, Any]
Words = dict[str, Any]

RESPONSE_FILE = "response.txt"
TOP_FILES = ("case.json", "README.md", "timeline.jsonl")
FOLDERS = ("messages", "attachments", "evidence")
PACK_MODE = 0o600
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the oldest timestamp a zip entry can hold

# Checklist items cited in the shipping paragraph; any other missing item goes with the annexes.
SHIPPING_ITEMS = ("carrier", "tracking_number", "delivery_date")
BUYER_SHIPPING_ITEMS = ("carrier", "tracking_number")

PROCESSORS = {
    "stripe": "Stripe",
    "paypal": "PayPal",
    "adyen": "Adyen",
    "shopify": "Shopify Payments",
    "amazon_pay": "Amazon Pay",
}
# A UPU S10 number ends with the country of the post that issued it ("RB123456785FR").
POSTS = {
    "FR": "La Poste",
    "DE": "Deutsche Post",
    "ES": "Correos",
    "IT": "Poste Italiane",
    "GB": "Royal Mail",
    "US": "USPS",
    "BE": "bpost",
    "NL": "PostNL",
    "AT": "Österreichische Post",
    "CH": "Swiss Post",
}

# --- the words, one table per language -----------------------------------------------------------

EN: Words = {
    "salutation": "Dear Sir or Madam,",
    "opening": {
        "a_to_z": "We are writing in response to the A-to-z Guarantee claim opened by the buyer "
        "for the order below.",
        "chargeback": "We are writing in response to the chargeback (payment dispute) opened by "
        "the cardholder for the transaction below.",
        "chargeback_via": "We are writing in response to the chargeback (payment dispute) notified "
        "to us through {processor} for the transaction below.",
        "other": "We are writing to you about the order below.",
    },
    "closing": {
        "a_to_z": "In the light of the information and documents provided, we respectfully ask you "
        "to review this claim and decide it in our favour.",
        "chargeback": "In the light of the information and documents provided, we respectfully "
        "ask that this dispute be decided in our favour and the chargeback reversed.",
    },
    "available": "We remain at your disposal for any further information.",
    "sign_off": "Yours faithfully,",
    "signature": "[Name]\n[Shop name]",
    "fields": {
        "order_ids": "Order ID",
        "payment_refs": "Payment reference",
        "shop_orders": "Shop order",
        "claim_ids": "Claim reference",
        "amount": "Amount",
        "claim_reason": "Reason stated",
    },
    "field": "{name}: {value}",
    "reasons": {
        "not_received": "item not received",
        "damaged": "item arrived damaged",
        "not_as_described": "item not as described",
        "wrong_item": "wrong item received",
        "refund_after_return": "refund not received after return",
    },
    "shipped": "The order was shipped as follows:",
    "tracking_line": "- {carrier}, tracking number {number}",
    "delivered": "The parcel was delivered on {date}.",
    "post": "Postal service",
    "contacts_one": "The customer contacted us once about this order; the message is on file and "
    "can be provided on request.",
    "contacts_many": "The customer contacted us {n} times about this order; these messages are on "
    "file and can be provided on request.",
    "annex_intro": "We enclose the following documents in support of our response:",
    "annex_item": "- Annex {n}: {name}",
    "placeholders": {
        "carrier": "[Add the carrier here]",
        "tracking_number": "[Add the tracking number here]",
        "delivery_date": "[Add the delivery date confirmed by the carrier here]",
        "proof_of_delivery": "[Add the proof of delivery here]",
    },
    "placeholder_other": "[Add here: {title}]",
    "months": (
        "January February March April May June July August September October November December"
    ),
    "date": "{day} {month} {year}",
    "first_day": "1",
    "decimal": ".",
    "buyer": {
        "greeting": "Hello,",
        "thanks": "Thank you for your message.",
        "thanks_ref": "Thank you for your message about your order {ref}.",
        "apology": {
            "not_received": "We are sorry that your parcel has not reached you yet.",
            "damaged": "We are very sorry that your item arrived damaged.",
            "not_as_described": "We are sorry that the item does not match its description.",
            "wrong_item": "We are sorry that you did not receive the item you ordered.",
            "refund_after_return": "We are sorry that you have not yet received your refund "
            "after your return.",
            "other": "We are sorry for the inconvenience.",
        },
        "shipped": "You can follow your parcel with these tracking details:",
        "delivered": "Our records show that your parcel was delivered on {date}.",
        "photos": "So that we can help you quickly, could you send us a few photos of the item "
        "and its packaging?",
        "help": "Please simply reply to this message: we will find a solution with you as quickly "
        "as possible.",
        "sign_off": "Kind regards,",
    },
}

FR: Words = {
    "salutation": "Madame, Monsieur,",
    "opening": {
        "a_to_z": "Nous faisons suite à la réclamation au titre de la Garantie A à Z ouverte par "
        "l'acheteur concernant la commande ci-dessous.",
        "chargeback": "Nous faisons suite à la contestation de paiement (rétrofacturation) ouverte "
        "par le titulaire de la carte concernant la transaction ci-dessous.",
        "chargeback_via": "Nous faisons suite à la contestation de paiement (rétrofacturation) qui "
        "nous a été notifiée par l'intermédiaire de {processor} concernant la transaction "
        "ci-dessous.",
        "other": "Nous revenons vers vous au sujet de la commande ci-dessous.",
    },
    "closing": {
        "a_to_z": "Au vu des éléments et des pièces communiqués, nous vous prions de bien vouloir "
        "réexaminer cette réclamation et de statuer en notre faveur.",
        "chargeback": "Au vu des éléments et des pièces communiqués, nous vous prions de bien "
        "vouloir statuer en notre faveur sur cette contestation et d'annuler la rétrofacturation.",
    },
    "available": "Nous restons à votre disposition pour tout complément d'information.",
    "sign_off": "Nous vous prions d'agréer, Madame, Monsieur, l'expression de nos salutations "
    "distinguées.",
    "signature": "[Nom]\n[Nom de la boutique]",
    "fields": {
        "order_ids": "Numéro de commande",
        "payment_refs": "Référence de paiement",
        "shop_orders": "Commande boutique",
        "claim_ids": "Référence de la réclamation",
        "amount": "Montant",
        "claim_reason": "Motif invoqué",
    },
    "field": "{name} : {value}",
    "reasons": {
        "not_received": "article non reçu",
        "damaged": "article arrivé endommagé",
        "not_as_described": "article non conforme à la description",
        "wrong_item": "article reçu différent de l'article commandé",
        "refund_after_return": "remboursement non reçu après retour",
    },
    "shipped": "La commande a été expédiée comme suit :",
    "tracking_line": "- {carrier}, numéro de suivi {number}",
    "delivered": "Le colis a été livré le {date}.",
    "post": "Service postal",
    "contacts_one": "Le client nous a contactés une fois au sujet de cette commande ; ce message "
    "est conservé et peut être fourni sur demande.",
    "contacts_many": "Le client nous a contactés à {n} reprises au sujet de cette commande ; ces "
    "messages sont conservés et peuvent être fournis sur demande.",
    "annex_intro": "Nous joignons les pièces suivantes à l'appui de notre réponse :",
    "annex_item": "- Annexe {n} : {name}",
    "placeholders": {
        "carrier": "[Indiquer ici le transporteur]",
        "tracking_number": "[Indiquer ici le numéro de suivi]",
        "delivery_date": "[Indiquer ici la date de livraison confirmée par le transporteur]",
        "proof_of_delivery": "[Joindre ici la preuve de livraison]",
    },
    "placeholder_other": "[À compléter : {title}]",
    "months": (
        "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
    ),
    "date": "{day} {month} {year}",
    "first_day": "1er",
    "decimal": ",",
    "buyer": {
        "greeting": "Bonjour,",
        "thanks": "Nous vous remercions pour votre message.",
        "thanks_ref": "Nous vous remercions pour votre message concernant votre commande {ref}.",
        "apology": {
            "not_received": "Nous sommes désolés que votre colis ne vous soit pas encore parvenu.",
            "damaged": "Nous sommes sincèrement désolés que votre article soit arrivé endommagé.",
            "not_as_described": "Nous regrettons que l'article ne corresponde pas à sa "
            "description.",
            "wrong_item": "Nous sommes désolés que vous n'ayez pas reçu l'article commandé.",
            "refund_after_return": "Nous sommes désolés que votre remboursement ne vous soit pas "
            "encore parvenu après votre retour.",
            "other": "Nous sommes désolés pour ce désagrément.",
        },
        "shipped": "Vous pouvez suivre votre colis grâce aux informations suivantes :",
        "delivered": "D'après nos informations, votre colis a été livré le {date}.",
        "photos": "Afin de pouvoir vous aider rapidement, pourriez-vous nous envoyer quelques "
        "photos de l'article et de son emballage ?",
        "help": "N'hésitez pas à répondre à ce message : nous trouverons une solution avec vous "
        "dans les meilleurs délais.",
        "sign_off": "Cordialement,",
    },
}

DE: Words = {
    "salutation": "Sehr geehrte Damen und Herren,",
    # After the salutation's comma a German letter goes on in lower case.
    "opening": {
        "a_to_z": "wir nehmen Stellung zu dem Antrag im Rahmen der A-bis-z-Garantie, den der "
        "Käufer zu der unten genannten Bestellung gestellt hat.",
        "chargeback": "wir nehmen Stellung zu der Rückbuchung (Chargeback), die der Karteninhaber "
        "zu der unten genannten Zahlung veranlasst hat.",
        "chargeback_via": "wir nehmen Stellung zu der Rückbuchung (Chargeback), die uns über "
        "{processor} zu der unten genannten Zahlung mitgeteilt wurde.",
        "other": "wir wenden uns an Sie bezüglich der unten genannten Bestellung.",
    },
    "closing": {
        "a_to_z": "Aufgrund der vorliegenden Angaben und Unterlagen bitten wir Sie, den Antrag zu "
        "prüfen und zu unseren Gunsten zu entscheiden.",
        "chargeback": "Aufgrund der vorliegenden Angaben und Unterlagen bitten wir Sie, den Fall "
        "zu unseren Gunsten zu entscheiden und die Rückbuchung aufzuheben.",
    },
    "available": "Für Rückfragen stehen wir Ihnen gerne zur Verfügung.",
    "sign_off": "Mit freundlichen Grüßen",
    "signature": "[Name]\n[Name des Shops]",
    "fields": {
        "order_ids": "Bestellnummer",
        "payment_refs": "Zahlungsreferenz",
        "shop_orders": "Shop-Bestellnummer",
        "claim_ids": "Fallnummer",
        "amount": "Betrag",
        "claim_reason": "Angegebener Grund",
    },
    "field": "{name}: {value}",
    "reasons": {
        "not_received": "Artikel nicht erhalten",
        "damaged": "Artikel beschädigt angekommen",
        "not_as_described": "Artikel entspricht nicht der Beschreibung",
        "wrong_item": "falscher Artikel erhalten",
        "refund_after_return": "keine Erstattung nach Rücksendung erhalten",
    },
    "shipped": "Die Bestellung wurde wie folgt versandt:",
    "tracking_line": "- {carrier}, Sendungsnummer {number}",
    "delivered": "Das Paket wurde am {date} zugestellt.",
    "post": "Post",
    "contacts_one": "Der Kunde hat uns zu dieser Bestellung einmal kontaktiert; die Nachricht "
    "liegt uns vor und kann auf Anfrage vorgelegt werden.",
    "contacts_many": "Der Kunde hat uns zu dieser Bestellung {n}-mal kontaktiert; die Nachrichten "
    "liegen uns vor und können auf Anfrage vorgelegt werden.",
    "annex_intro": "Zur Unterstützung unserer Stellungnahme fügen wir folgende Unterlagen bei:",
    "annex_item": "- Anlage {n}: {name}",
    "placeholders": {
        "carrier": "[Hier den Versanddienstleister angeben]",
        "tracking_number": "[Hier die Sendungsnummer angeben]",
        "delivery_date": "[Hier das vom Versanddienstleister bestätigte Zustelldatum angeben]",
        "proof_of_delivery": "[Hier den Zustellnachweis beifügen]",
    },
    "placeholder_other": "[Bitte ergänzen: {title}]",
    "months": (
        "Januar Februar März April Mai Juni Juli August September Oktober November Dezember"
    ),
    "date": "{day}. {month} {year}",
    "first_day": "1",
    "decimal": ",",
    "buyer": {
        "greeting": "Guten Tag,",
        "thanks": "vielen Dank für Ihre Nachricht.",
        "thanks_ref": "vielen Dank für Ihre Nachricht zu Ihrer Bestellung {ref}.",
        "apology": {
            "not_received": "Es tut uns leid, dass Ihr Paket noch nicht bei Ihnen angekommen ist.",
            "damaged": "Es tut uns sehr leid, dass Ihr Artikel beschädigt angekommen ist.",
            "not_as_described": "Es tut uns leid, dass der Artikel nicht der Beschreibung "
            "entspricht.",
            "wrong_item": "Es tut uns leid, dass Sie nicht den bestellten Artikel erhalten haben.",
            "refund_after_return": "Es tut uns leid, dass Sie nach Ihrer Rücksendung noch keine "
            "Erstattung erhalten haben.",
            "other": "Bitte entschuldigen Sie die Unannehmlichkeiten.",
        },
        "shipped": "Sie können Ihre Sendung mit folgenden Angaben verfolgen:",
        "delivered": "Laut unseren Unterlagen wurde Ihr Paket am {date} zugestellt.",
        "photos": "Damit wir Ihnen schnell helfen können, senden Sie uns bitte einige Fotos des "
        "Artikels und der Verpackung.",
        "help": "Antworten Sie einfach auf diese Nachricht – wir finden so schnell wie möglich "
        "eine Lösung für Sie.",
        "sign_off": "Freundliche Grüße",
    },
}

ES: Words = {
    "salutation": "Estimados señores:",
    "opening": {
        "a_to_z": "Nos dirigimos a ustedes en relación con la reclamación en virtud de la Garantía "
        "de la A a la Z presentada por el comprador sobre el pedido indicado a continuación.",
        "chargeback": "Nos dirigimos a ustedes en relación con el contracargo (disputa de pago) "
        "iniciado por el titular de la tarjeta sobre la transacción indicada a continuación.",
        "chargeback_via": "Nos dirigimos a ustedes en relación con el contracargo (disputa de "
        "pago) que nos ha notificado {processor} sobre la transacción indicada a continuación.",
        "other": "Nos dirigimos a ustedes en relación con el pedido indicado a continuación.",
    },
    "closing": {
        "a_to_z": "A la vista de la información y los documentos aportados, les rogamos que "
        "revisen esta reclamación y la resuelvan a nuestro favor.",
        "chargeback": "A la vista de la información y los documentos aportados, les rogamos que "
        "resuelvan esta disputa a nuestro favor y anulen el contracargo.",
    },
    "available": "Quedamos a su disposición para cualquier información adicional.",
    "sign_off": "Atentamente,",
    "signature": "[Nombre]\n[Nombre de la tienda]",
    "fields": {
        "order_ids": "Número de pedido",
        "payment_refs": "Referencia de pago",
        "shop_orders": "Pedido de la tienda",
        "claim_ids": "Referencia de la reclamación",
        "amount": "Importe",
        "claim_reason": "Motivo alegado",
    },
    "field": "{name}: {value}",
    "reasons": {
        "not_received": "artículo no recibido",
        "damaged": "artículo recibido en mal estado",
        "not_as_described": "artículo no conforme con la descripción",
        "wrong_item": "artículo distinto del pedido",
        "refund_after_return": "reembolso no recibido tras la devolución",
    },
    "shipped": "El pedido se envió de la siguiente manera:",
    "tracking_line": "- {carrier}, número de seguimiento {number}",
    "delivered": "El paquete se entregó el {date}.",
    "post": "Servicio postal",
    "contacts_one": "El cliente se puso en contacto con nosotros una vez en relación con este "
    "pedido; conservamos el mensaje y podemos facilitarlo si así lo solicitan.",
    "contacts_many": "El cliente se puso en contacto con nosotros {n} veces en relación con este "
    "pedido; conservamos los mensajes y podemos facilitarlos si así lo solicitan.",
    "annex_intro": "Adjuntamos los siguientes documentos en apoyo de nuestra respuesta:",
    "annex_item": "- Anexo {n}: {name}",
    "placeholders": {
        "carrier": "[Indique aquí el transportista]",
        "tracking_number": "[Indique aquí el número de seguimiento]",
        "delivery_date": "[Indique aquí la fecha de entrega confirmada por el transportista]",
        "proof_of_delivery": "[Adjunte aquí la prueba de entrega]",
    },
    "placeholder_other": "[Complete aquí: {title}]",
    "months": (
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
    ),
    "date": "{day} de {month} de {year}",
    "first_day": "1",
    "decimal": ",",
    "buyer": {
        "greeting": "Estimado/a cliente:",
        "thanks": "Gracias por su mensaje.",
        "thanks_ref": "Gracias por su mensaje sobre su pedido {ref}.",
        "apology": {
            "not_received": "Lamentamos que su paquete todavía no le haya llegado.",
            "damaged": "Lamentamos mucho que su artículo haya llegado en mal estado.",
            "not_as_described": "Lamentamos que el artículo no se corresponda con la descripción.",
            "wrong_item": "Lamentamos que no haya recibido el artículo que pidió.",
            "refund_after_return": "Lamentamos que todavía no haya recibido el reembolso tras su "
            "devolución.",
            "other": "Lamentamos las molestias ocasionadas.",
        },
        "shipped": "Puede seguir su paquete con los siguientes datos:",
        "delivered": "Según nuestros registros, su paquete se entregó el {date}.",
        "photos": "Para poder ayudarle cuanto antes, ¿podría enviarnos algunas fotos del artículo "
        "y de su embalaje?",
        "help": "Responda a este mensaje y buscaremos una solución con usted lo antes posible.",
        "sign_off": "Un cordial saludo,",
    },
}

IT: Words = {
    "salutation": "Gentili Signori,",
    "opening": {
        "a_to_z": "Vi scriviamo in merito al reclamo aperto dall'acquirente nell'ambito della "
        "Garanzia dalla A alla Z per l'ordine indicato di seguito.",
        "chargeback": "Vi scriviamo in merito allo storno di addebito (chargeback) avviato dal "
        "titolare della carta per la transazione indicata di seguito.",
        "chargeback_via": "Vi scriviamo in merito allo storno di addebito (chargeback) "
        "notificatoci tramite {processor} per la transazione indicata di seguito.",
        "other": "Vi scriviamo in merito all'ordine indicato di seguito.",
    },
    "closing": {
        "a_to_z": "Alla luce delle informazioni e dei documenti forniti, Vi chiediamo cortesemente "
        "di riesaminare il reclamo e di decidere a nostro favore.",
        "chargeback": "Alla luce delle informazioni e dei documenti forniti, Vi chiediamo "
        "cortesemente di decidere la contestazione a nostro favore e di annullare lo storno.",
    },
    "available": "Restiamo a Vostra disposizione per qualsiasi ulteriore informazione.",
    "sign_off": "Distinti saluti,",
    "signature": "[Nome]\n[Nome del negozio]",
    "fields": {
        "order_ids": "Numero d'ordine",
        "payment_refs": "Riferimento del pagamento",
        "shop_orders": "Ordine del negozio",
        "claim_ids": "Riferimento del reclamo",
        "amount": "Importo",
        "claim_reason": "Motivo indicato",
    },
    "field": "{name}: {value}",
    "reasons": {
        "not_received": "articolo non ricevuto",
        "damaged": "articolo arrivato danneggiato",
        "not_as_described": "articolo non conforme alla descrizione",
        "wrong_item": "articolo diverso da quello ordinato",
        "refund_after_return": "rimborso non ricevuto dopo il reso",
    },
    "shipped": "L'ordine è stato spedito come segue:",
    "tracking_line": "- {carrier}, codice di tracciamento {number}",
    "delivered": "Il pacco è stato consegnato il {date}.",
    "post": "Servizio postale",
    "contacts_one": "Il cliente ci ha contattato una volta in merito a questo ordine; il messaggio "
    "è conservato e può essere fornito su richiesta.",
    "contacts_many": "Il cliente ci ha contattato {n} volte in merito a questo ordine; i messaggi "
    "sono conservati e possono essere forniti su richiesta.",
    "annex_intro": "Alleghiamo i seguenti documenti a sostegno della nostra risposta:",
    "annex_item": "- Allegato {n}: {name}",
    "placeholders": {
        "carrier": "[Indicare qui il corriere]",
        "tracking_number": "[Indicare qui il codice di tracciamento]",
        "delivery_date": "[Indicare qui la data di consegna confermata dal corriere]",
        "proof_of_delivery": "[Allegare qui la prova di consegna]",
    },
    "placeholder_other": "[Da completare: {title}]",
    "months": (
        "gennaio febbraio marzo aprile maggio giugno "
        "luglio agosto settembre ottobre novembre dicembre"
    ),
    "date": "{day} {month} {year}",
    "first_day": "1º",
    "decimal": ",",
    "buyer": {
        "greeting": "Gentile cliente,",
        "thanks": "La ringraziamo per il Suo messaggio.",
        "thanks_ref": "La ringraziamo per il Suo messaggio relativo all'ordine {ref}.",
        "apology": {
            "not_received": "Ci dispiace che il pacco non Le sia ancora arrivato.",
            "damaged": "Ci dispiace molto che l'articolo sia arrivato danneggiato.",
            "not_as_described": "Ci dispiace che l'articolo non corrisponda alla descrizione.",
            "wrong_item": "Ci dispiace che non abbia ricevuto l'articolo ordinato.",
            "refund_after_return": "Ci dispiace che non abbia ancora ricevuto il rimborso dopo il "
            "reso.",
            "other": "Ci scusiamo per il disagio.",
        },
        "shipped": "Può seguire la spedizione con i seguenti dati:",
        "delivered": "Dai nostri dati risulta che il pacco è stato consegnato il {date}.",
        "photos": "Per poterLa aiutare rapidamente, potrebbe inviarci alcune foto dell'articolo e "
        "dell'imballaggio?",
        "help": "Risponda pure a questo messaggio: troveremo insieme una soluzione il prima "
        "possibile.",
        "sign_off": "Cordiali saluti,",
    },
}

LANGUAGES: dict[str, Words] = {"en": EN, "fr": FR, "de": DE, "es": ES, "it": IT}
# Reasons where a photo is what the seller needs first to help the buyer.
PHOTO_REASONS = frozenset({"damaged", "not_as_described", "wrong_item"})


# --- the draft -----------------------------------------------------------------------------------


def draft_response(case: Case) -> str:
    """The reply to send about *case*, in its language, citing only the evidence it holds.

    A tier-1 notice (``a_to_z``, ``chargeback``) gets a formal answer to the marketplace or the
    payment processor; an ``at_risk`` case gets a reply to the buyer, meant to prevent the claim.
    A language other than en, fr, de, es and it falls back to English. Example::

        draft_response({"label": "a_to_z", "language": "de", "order_ids": ["171-..."], ...})
    """
    words = LANGUAGES.get(case.get("language") or "en", EN)
    write = _DRAFTERS.get(case.get("label") or "", _formal_reply)
    return "\n\n".join(p for p in write(case, words) if p) + "\n"


def _formal_reply(case: Case, w: Words) -> list[str]:
    return [
        w["salutation"],
        _opening(case, w),
        _references(case, w),
        _shipping(case, w, w, SHIPPING_ITEMS),
        _contacts(case, w),
        _annexes(case, w),
        _lines(w["closing"].get(case.get("label")), w["available"]),
        f"{w['sign_off']}\n\n{w['signature']}",
    ]


def _buyer_reply(case: Case, w: Words) -> list[str]:
    b = w["buyer"]
    reason = case.get("claim_reason")
    ref = _buyer_ref(case)
    thanks = b["thanks_ref"].format(ref=ref) if ref else b["thanks"]
    return [
        b["greeting"],
        f"{thanks} {b['apology'].get(reason, b['apology']['other'])}",
        _shipping(case, w, b, BUYER_SHIPPING_ITEMS),
        b["photos"] if reason in PHOTO_REASONS else "",
        b["help"],
        f"{b['sign_off']}\n\n{w['signature']}",
    ]


_DRAFTERS: dict[str, Callable[[Case, Words], list[str]]] = {"at_risk": _buyer_reply}


def _opening(case: Case, w: Words) -> str:
    label = case.get("label")
    processor = PROCESSORS.get(case.get("marketplace") or "")
    if label == "chargeback" and processor:
        return w["opening"]["chargeback_via"].format(processor=processor)
    return w["opening"].get(label, w["opening"]["other"])


def _references(case: Case, w: Words) -> str:
    fields = w["fields"]
    pairs = [(fields[key], ", ".join(case.get(key) or [])) for key in REFERENCE_FIELDS]
    pairs.append((fields["amount"], _amount(case.get("amount"), w)))
    pairs.append((fields["claim_reason"], w["reasons"].get(case.get("claim_reason"), "")))
    return _lines(*(w["field"].format(name=name, value=value) for name, value in pairs if value))


def _shipping(case: Case, w: Words, voice: Words, items: tuple[str, ...]) -> str:
    """Carriers and tracking numbers, the delivery date, and placeholders for what is missing."""
    tracking = case.get("tracking") or []
    delivery = case.get("delivery") or {}
    lines = [voice["shipped"]] if tracking else []
    lines += [_tracking_line(t, w) for t in tracking]
    if delivery.get("date"):
        lines.append(voice["delivered"].format(date=_local_date(delivery["date"], w)))
    missing = _missing(case)
    lines += [w["placeholders"][item] for item in items if item in missing]
    return _lines(*lines)


def _tracking_line(tracking: dict[str, Any], w: Words) -> str:
    carrier = _carrier_name(tracking.get("carrier"), tracking.get("number") or "", w)
    return w["tracking_line"].format(carrier=carrier, number=tracking.get("number") or "")


def _carrier_name(code: str | None, number: str, w: Words) -> str:
    if not code:
        return w["placeholders"]["carrier"]
    if code == "s10":
        return POSTS.get(number[-2:].upper(), w["post"])
    return CARRIER_NAMES.get(code) or (
        code.upper() if len(code) <= 4 else code.replace("_", " ").title()
    )


def _contacts(case: Case, w: Words) -> str:
    n = sum(1 for m in case.get("messages") or [] if m.get("label") == "at_risk")
    if not n:
        return ""
    return w["contacts_one"] if n == 1 else w["contacts_many"].format(n=n)


def _annexes(case: Case, w: Words) -> str:
    """The attachments and evidence files as numbered annexes, then the missing documents."""
    names = [_file_name(a) for a in case.get("attachments") or []]
    names += [_file_name(e) for e in case.get("evidence_files") or []]
    lines = [w["annex_item"].format(n=n, name=name) for n, name in enumerate(names, 1)]
    lines += [f"- {p}" for p in _other_placeholders(case, w)]
    return _lines(w["annex_intro"], *lines) if lines else ""


def _other_placeholders(case: Case, w: Words) -> list[str]:
    missing = _missing(case)
    return [
        w["placeholders"].get(item) or w["placeholder_other"].format(title=title)
        for item, title in missing.items()
        if item not in SHIPPING_ITEMS
    ]


def _missing(case: Case) -> dict[str, str]:
    """The checklist items not present, as item -> title, in checklist order."""
    return {
        c.get("item", ""): c.get("title") or c.get("item", "")
        for c in case.get("checklist") or []
        if not c.get("present")
    }


def _buyer_ref(case: Case) -> str:
    for key in ("order_ids", "shop_orders", "payment_refs"):
        if case.get(key):
            return ", ".join(case[key])
    return ""


def _amount(amount: dict[str, Any] | None, w: Words) -> str:
    if not amount or not amount.get("value"):
        return ""
    value = str(amount["value"]).replace(".", w["decimal"])
    return f"{value} {amount.get('currency') or ''}".strip()


def _local_date(value: str, w: Words) -> str:
    """``2026-10-30T14:02:00+00:00`` as a date written the language's way: "30. Oktober 2026"."""
    try:
        day = datetime.fromisoformat(value).date()
    except (TypeError, ValueError):
        return str(value)
    number = w["first_day"] if day.day == 1 else str(day.day)
    return w["date"].format(day=number, month=w["months"].split()[day.month - 1], year=day.year)


def _file_name(entry: dict[str, Any] | str) -> str:
    path = entry.get("file", "") if isinstance(entry, dict) else entry
    return PurePosixPath(path).name


def _lines(*lines: str | None) -> str:
    return "\n".join(line for line in lines if line)


# --- the pack ------------------------------------------------------------------------------------


def export_case(case_dir: Path, out: Path | None = None) -> Path:
    """Write the evidence pack of the case in *case_dir* as a zip and return its path.

    *out* defaults to ``data_dir/exports/<case id>-<YYYYmmdd-HHMMSS>.zip`` (UTC, like every
    timestamp in case.json); an existing directory as *out* gets that file name inside it. The zip
    holds one folder named after the case id with ``response.txt`` (the draft), case.json,
    README.md, timeline.jsonl and the messages/, attachments/ and evidence/ folders, in sorted
    order. Symlinks, files outside the case folder and dotfiles (locks, temp files) are left out.
    Recording the export in the timeline is the caller's job.
    """
    case_dir = Path(case_dir)
    case = CaseFolder(case_dir).read_case()
    case_id = _case_id(case, case_dir)
    out = _target(case_dir, case_id, out)
    members = _case_files(case_dir.resolve())
    draft = draft_response(case).encode("utf-8")

    def write_members(zf: zipfile.ZipFile) -> None:
        entries = sorted([(RESPONSE_FILE, None), *members.items()], key=lambda e: e[0])
        for name, path in entries:
            arcname = f"{case_id}/{name}"
            if path is None:
                zf.writestr(_member_info(arcname, time.time()), draft)
            else:
                _add_file(zf, arcname, path)

    _write_zip_atomic(out, write_members)
    return out


def _case_id(case: Case, case_dir: Path) -> str:
    case_id = case.get("id")
    if not isinstance(case_id, str) or not _SAFE_ID.fullmatch(case_id):
        raise CaseError(
            f"{case_dir / CASE_JSON}: bad case id {case_id!r} (letters, digits, '.', '_' and '-' "
            f"expected); set it to the folder's name, {case_dir.name!r}"
        )
    return case_id


def _target(case_dir: Path, case_id: str, out: Path | None) -> Path:
    name = f"{case_id}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.zip"
    if out is None:
        return case_dir.parent.parent / "exports" / name
    out = Path(out)
    return out / name if out.is_dir() else out


def _case_files(root: Path) -> dict[str, Path]:
    """The files of the pack as relative POSIX name -> path, all really inside *root*."""
    found = {name: root / name for name in TOP_FILES}
    for folder in FOLDERS:
        found.update(_walk(root, root / folder))
    return {name: path for name, path in found.items() if _exportable(path, root)}


def _walk(root: Path, top: Path) -> Iterator[tuple[str, Path]]:
    if not _exportable(top, root, want_dir=True):
        return
    for directory, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in filenames:
            path = Path(directory, filename)
            yield path.relative_to(root).as_posix(), path


def _exportable(path: Path, root: Path, *, want_dir: bool = False) -> bool:
    """A real file (or directory) inside *root*: no symlink, no dotfile, nothing outside."""
    if path.name.startswith(".") or path.is_symlink():
        return False
    if not (path.is_dir() if want_dir else path.is_file()):
        return False
    return path.resolve().is_relative_to(root)


def _add_file(zf: zipfile.ZipFile, arcname: str, path: Path) -> None:
    """Copy *path* into *zf*, opened without following a symlink that appeared since the walk."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOENT):
            return  # turned into a symlink, or removed, since the walk
        raise CaseError(f"{path}: cannot be read ({e.strerror}); check its permissions") from e
    with os.fdopen(fd, "rb") as src:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode):
            return
        info = _member_info(arcname, st.st_mtime)
        info.file_size = st.st_size
        with zf.open(info, "w") as dst:
            shutil.copyfileobj(src, dst)


def _member_info(arcname: str, mtime: float) -> zipfile.ZipInfo:
    date_time = max(time.localtime(mtime)[:6], _ZIP_EPOCH)
    info = zipfile.ZipInfo(arcname, date_time)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | PACK_MODE) << 16  # unzipped, the files stay private
    return info


def _write_zip_atomic(out: Path, write_members: Callable[[zipfile.ZipFile], None]) -> None:
    """Atomically (see :func:`~daemon.atomic.atomic_file`): a crash never leaves half a pack
    under its name."""
    try:
        make_private_dir(out.parent)
        with atomic_file(out, PACK_MODE) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
            write_members(zf)
    except OSError as e:
        raise _unwritable(out, e) from e


def _unwritable(out: Path, e: OSError) -> CaseError:
    return CaseError(
        f"{out}: the export cannot be written there ({e.strerror or e}); "
        "choose another output path or fix the directory's permissions"
    )
