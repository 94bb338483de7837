"""The evidence a message carries: order ids, payment references, tracking numbers, amounts,
the claim reason, a notice's decision and the response deadline it states.

Every message goes through :func:`extract`, routine mail too (a shipping confirmation carries
the tracking number a claim three weeks later needs). Everything here is a pure function of the
message, so reprocessing gives the same answer.

Libraries, and why: tracking-numbers validates carriers' check digits (see
:mod:`evidence_store.carriers`); price-parser reads a price's digits however it is written
("1.234,56", "1,234.56", "45.–"), while the candidate substrings and the currency's ISO code
come from the tables here, since price-parser finds one price per string and keeps symbols as
written ("€", "$").

Reason and decision come from keyword tables in English, French, German, Spanish and Italian,
matched on folded text (lower case, no accents: ``fold``); the first label in table order whose
pattern matches wins, so the more specific labels come first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from price_parser import Price

from daemon.message import Message
from daemon.text import fold
from evidence_store.carriers import find_tracking
from evidence_store.deadline import stated_deadline

T = TypeVar("T")


@dataclass(frozen=True)
class Tracking:
    """A tracking number that passed its carrier's check: ``Tracking("ups", "1Z...")``."""

    carrier: str
    number: str


@dataclass(frozen=True)
class Amount:
    """A sum of money with its ISO 4217 currency: ``Amount(Decimal("89.90"), "EUR")``."""

    value: Decimal
    currency: str


@dataclass(frozen=True)
class Extracted:
    """What :func:`extract` found in one message; each tuple in order of appearance, no repeats."""

    order_ids: tuple[str, ...]
    payment_refs: tuple[str, ...]
    shop_orders: tuple[str, ...]
    claim_ids: tuple[str, ...]
    tracking: tuple[Tracking, ...]
    amounts: tuple[Amount, ...]
    reason: str | None
    decision: str | None
    delivered: bool
    deadline: datetime | None

    def as_dict(self) -> dict:
        """The JSON-ready form, as ``classify --json`` and ``case.json`` print it."""
        return {
            "order_ids": list(self.order_ids),
            "payment_refs": list(self.payment_refs),
            "shop_orders": list(self.shop_orders),
            "claim_ids": list(self.claim_ids),
            "tracking": [{"carrier": t.carrier, "number": t.number} for t in self.tracking],
            "amounts": [{"value": str(a.value), "currency": a.currency} for a in self.amounts],
            "reason": self.reason,
            "decision": self.decision,
            "delivered": self.delivered,
            "deadline": self.deadline.isoformat() if self.deadline else None,
        }


AMAZON_ORDER = re.compile(r"(?<![\w-])\d{3}-\d{7}-\d{7}(?![\w-])")
# Amazon Pay (P01/S02/C02...), Stripe disputes (dp_/du_), PayPal cases, Adyen PSP references
# (16 characters, recognised only after their label: bare, they look like any other number).
PAYMENT_REF = re.compile(
    r"(?<![\w-])(?P<ref>[PSC]0\d-\d{7}-\d{7}(?:-[A-Z]\d{6})?"
    r"|d[pu]_[A-Za-z0-9]{14,}"
    r"|PP-[DR]-(?:[A-Z]{3}-)?\d{5,12})(?![\w-])"
    r"|(?i:psp\s*ref(?:erence)?)\s*[:#]?\s*(?P<psp>[A-Z0-9]{16})(?![\w-])"
)
# 15 to 34 characters (Norway's are the shortest), so a 13-character S10 number is no IBAN.
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")

_ID = r"#?(?P<id>[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]|[0-9])"
SHOP_ORDER = re.compile(
    r"(?i:\b(?:order|commande|bestellung|auftrag|pedido|ordine|ordre)\s*"
    r"(?:#|n[°º]|no\.|nr\.?|num(?:ber|[eé]ro)?\.?)"
    r"|\b(?:bestell|auftrags)nummer|\border number|\bnum[eé]ro de commande"
    r"|\bn[uú]mero de pedido|\bnumero (?:d'|dell')ordine)"
    rf"\s*:?\s*{_ID}"
    r"|(?<![\w&#])#(?P<bare>\d{3,10})(?![\w-])"
)
# A claim, case or dispute number, recognised only after its label (bare, it is any number): "Claim
# ID: 4455667788", "réclamation n° R-20261", "Fall-ID 12345678", "ID de reclamación", "ID reclamo".
CLAIM_ID = re.compile(
    r"(?i:\b(?:fall|reklamations|streitfall|antrags)nummer"
    r"|\b(?:claim|case|dispute|r[ée]clamation|litige|dossier|fall|streitfall|reklamation"
    r"|antrag|reclamaci[óo]n|caso|disputa|reclamo|contestazione|pratica)"
    r"(?:[ -]?(?:id|number|no\.|nr\.?|n[°º]|n\.[°º]|#|num[ée]ro|nummer|n[úu]mero|numero))?"
    r"|\b(?:id|num[ée]ro|n[úu]mero|numero) (?:de (?:la |l[ae] )?|del |della |di )?"
    r"(?:r[ée]clamation|litige|dossier|reclamaci[óo]n|caso|disputa|reclamo|contestazione|pratica)"
    r")\s*[:#]?\s*(?P<id>[A-Za-z0-9][A-Za-z0-9_-]{3,40})(?![\w-])"
)
# A shipping notice saying the parcel arrived: the delivery date a "not received" claim needs.
# Past tense only ("will be delivered" is a promise, not a proof); folded text.
DELIVERED = re.compile(
    r"\b(?:has been|was|been successfully|got) delivered\b|(?<!be )\bdelivered (?:on|to|at)\b"
    r"|\ba (?:bien )?ete (?:livre|distribue)|\b(?:colis|commande) (?:a ete )?livree? le\b"
    r"|\bwurde (?:erfolgreich )?(?:zugestellt|geliefert)|\bzugestellt am\b"
    r"|\b(?:ha sido|fue) entregad[oa]|\bentregad[oa] el\b"
    r"|\be stat[oa] consegnat[oa]|\bconsegnat[oa] il\b|\bconsegna effettuata"
)
# A negation in the few words before a phrase turns it around: "was not delivered", "no amount
# will be debited from your account", "n'a pas été accordée". Folded text.
_NEGATED = re.compile(
    r"\b(?:not|never|no|n't|pas|aucun\w*|jamais|nicht|kein\w*|nie|non|ningun\w*|nunca"
    r"|nessun\w*|mai)\W+(?:\w+\W+){0,3}$"
)

# A bare "#12345" after these words is a support case or claim, not a shop order.
_NOT_AN_ORDER = re.compile(r"(case|ticket|claim|dispute|reclamation|dossier|fall|caso|reclamo)\W*$")

_CODES = "EUR|USD|GBP|CHF|MXN|CAD|AUD|JPY|SEK|NOK|DKK|PLN|CZK|BRL|INR|TRY"
_SYMBOLS = {"€": "EUR", "£": "GBP", "$": "USD", "US$": "USD", "MX$": "MXN", "CA$": "CAD",
            "C$": "CAD", "AU$": "AUD", "A$": "AUD", "¥": "JPY"}  # fmt: skip
_CURRENCY = rf"(?<![A-Za-z])(?:{_CODES})(?![A-Za-z])|(?:US|MX|CA|AU|A|C)?\$|[€£¥]"
_NUMBER = r"(?:\d{1,3}(?:[.,'\u00a0\u202f ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?!\d)"
_DASH = r"(?:[.,][-–])?"  # "45.–", "45,-": a whole amount, as Swiss and German prices write it
AMOUNT = re.compile(
    rf"(?P<pre>{_CURRENCY})\s?{_NUMBER}{_DASH}"
    rf"|(?<![\d.,]){_NUMBER}{_DASH}\s?(?P<post>{_CURRENCY})"
)

# Claim reasons, most specific first (a missing refund "not received" is refund_after_return;
# "received the wrong item, broken" is wrong_item). Each label lists alternatives, written for
# folded text (lower case, no accents); the EN FR DE ES IT order is kept within a label.
_RETURNED = (
    r"(?:return|retour|renvoy|rucksend|zuruckgeschickt|zuruckgesendet|devol|devuel|reso\b|restitu)"
)
_REFUND = r"(?:refund|rembours|erstatt|reembols|rimbors)"
_STILL_NOT = (
    r"\b(?:not|never|no|n't|pas|jamais|kein|nicht|noch|non|ancora|todavia|aun|still|toujours"
    r"|yet|encore|waiting|attends|attente|warte|espero|esperando|aspetto|in attesa)\b"
)
REASON_TABLE: dict[str, tuple[str, ...]] = {
    "refund_after_return": (
        rf"{_RETURNED}[^.!?]{{0,120}}{_STILL_NOT}[^.!?]{{0,60}}{_REFUND}",
        rf"{_STILL_NOT}[^.!?]{{0,40}}{_REFUND}[^.!?]{{0,120}}{_RETURNED}",
    ),
    "wrong_item": (
        r"\bwrong (?:item|product|article|size|colou?r|model)",
        r"sent (?:me )?the wrong",
        r"\b(?:incorrect|different) (?:item|product)",
        r"\bmauvais (?:article|produit|modele|colis)",
        r"\bpas le bon (?:article|produit|modele)",
        r"\barticle (?:errone|incorrect)",
        r"\bfalsche[nrs]? (?:artikel|produkt|ware|grosse|farbe)",
        r"\b(?:articulo|producto) (?:equivocado|incorrecto|erroneo)",
        r"\b(?:articolo|prodotto) (?:sbagliato|errato|diverso)",
    ),
    "not_as_described": (
        r"\bnot as described",
        r"\b(?:significantly|materially) different",
        r"does(?:n't| not) match the (?:description|listing)",
        r"\b(?:non|pas) conforme",
        r"\bne correspond pas a (?:la|sa) description",
        r"\bnicht wie beschrieben",
        r"\bentspricht nicht der (?:artikel)?beschreibung",
        r"\bno (?:es|coincide|corresponde) (?:como|con) (?:se describe|la descripcion|lo descrito)",
        r"\bdiferente (?:a|de) (?:lo descrito|la descripcion)",
        r"\bnon (?:corrisponde|conforme) (?:alla|a) descrizione",
        r"\bdiverso dalla descrizione",
    ),
    "damaged": (
        r"\b(?:damaged|defective|broken|faulty|smashed|cracked)",
        r"\b(?:does not|doesn't|won't|will not) work",
        r"\bendommag",
        r"\babime",
        r"\bcasse\b",
        r"\bdefectueu",
        r"\bne fonctionne (?:pas|plus)",
        r"\bbeschadigt",
        r"\bkaputt",
        r"\bdefekt",
        r"\bzerbrochen",
        r"\bfunktioniert nicht",
        r"\bdanad[oa]",
        r"\brot[oa]\b",
        r"\bdefectuos",
        r"\bno funciona",
        r"\bdanneggiat",
        r"\brott[oa]\b",
        r"\bdifettos",
        r"\bnon funziona",
    ),
    "not_received": (
        r"\bnot (?:yet )?(?:been )?(?:received|arrived|delivered)",
        r"\b(?:never|hasn't|has not|haven't|have not|didn't|did not) (?:yet )?"
        r"(?:received|arrived|got|been delivered)",
        r"\bn'(?:ai|avons|est|a) (?:(?:toujours|jamais|pas|encore) )+(?:recu|arrive|ete livre)",
        r"\bnon (?:recu|livre)",
        r"\bjamais (?:recu|arrive|livre)",
        r"\b(?:nicht|nie) (?:erhalten|angekommen|geliefert|zugestellt)",
        r"\bno (?:me |nos )?(?:he |hemos |ha |han )?(?:recibido|llegado)",
        r"\bnunca (?:ha )?(?:llegado|recibido)",
        r"\bnon (?:mi |ci )?(?:ho |abbiamo |e |sono )?(?:ancora )?(?:ricevut|arrivat|consegnat)",
        r"\bmai (?:ricevut|arrivat)",
    ),
}

# A notice's decision. Amazon-funded comes before the generic grant, since a grant is charged to
# the seller unless the notice says Amazon pays; "in your favour" is the seller winning (denied);
# a final outcome outranks "closed", which outranks "open".
DECISION_TABLE: dict[str, tuple[str, ...]] = {
    "granted_amazon_funded": (
        r"\bamazon[- ]funded",
        r"funded by amazon",
        r"at no cost to you",
        r"\bamazon (?:has )?(?:covered|paid|reimbursed)",
        r"\b(?:finance|pris en charge) par amazon",
        r"\bvon amazon (?:finanziert|ubernommen|getragen)",
        r"\b(?:financiad|asumid|cubiert)[oa] por amazon",
        r"\b(?:finanziat|copert|sostenut)[oa] da amazon",
    ),
    "granted_seller_funded": (
        r"\bseller[- ]funded",
        r"\bgranted",
        r"\b(?:debited|deducted|charged) (?:from|to) your (?:seller )?account",
        r"\bin favou?r of the (?:buyer|customer)",
        r"\baccordee",
        r"\ben faveur (?:de l'acheteur|du client)",
        r"\bdebite de votre compte",
        r"\bstattgegeben",
        r"\bgewahrt",
        r"\bzugunsten de[sr] (?:kaufers|kunden)",
        r"\bconcedid[oa]",
        r"\ba favor del (?:comprador|cliente)",
        r"\bconcess[oa]\b",
        r"\baccolt[oa]",
        r"\ba favore (?:dell'acquirente|del cliente)",
    ),
    "denied": (
        r"\b(?:denied|rejected|declined)",
        r"\b(?:decided|closed|resolved) in your favou?r",
        r"\b(?:refusee|rejetee)",
        r"\ben votre faveur",
        r"\babgelehnt",
        r"\bzu ihren gunsten",
        r"\b(?:denegad|rechazad)[oa]",
        r"\ba (?:su|tu) favor\b",
        r"\b(?:respint|rifiutat)[oa]",
        r"\ba (?:tuo|suo|vostro) favore",
    ),
    "withdrawn": (
        r"\bwithdr[ae]wn?",
        r"\bcancell?ed by the (?:buyer|customer)",
        r"\bretiree",
        r"\bannulee par (?:l'acheteur|le client)",
        r"\bzuruckgezogen",
        r"\bretirad[oa]",
        r"\b(?:cancelad|anulad)[oa] por el (?:comprador|cliente)",
        r"\britirat[oa]",
        r"\bannullat[oa] dall'acquirente",
    ),
    "closed": (
        r"\bclosed",
        r"\b(?:cloturee|fermee)",
        r"\b(?:abgeschlossen|geschlossen)",
        r"\bcerrad[oa]",
        r"\bchius[oa]",
    ),
    "open": (
        r"\b(?:has been|was) (?:filed|opened|submitted)",
        r"\b(?:opened|filed) an? (?:[a-z-]+ ){0,3}(?:claim|dispute|chargeback)",
        r"\ba (?:depose|ouvert)",
        r"\b(?:deposee|ouverte)",
        r"\beingereicht",
        r"\beroffnet",
        r"\bha (?:presentado|abierto)",
        r"\babiert[oa]",
        r"\bha (?:aperto|presentato)",
        r"\bapert[oa]",
    ),
}


def _compile(table: dict[str, tuple[str, ...]]) -> dict[str, re.Pattern[str]]:
    """Each label's alternatives as one pattern, the table's order kept (it is the priority)."""
    return {label: re.compile("|".join(alternatives)) for label, alternatives in table.items()}


REASONS = _compile(REASON_TABLE)
DECISIONS = _compile(DECISION_TABLE)
# A notice that opens a claim warns what happens without an answer ("may be granted to the buyer",
# "pourra être accordée", "wird ... stattgegeben"): a sentence with one of these words states no
# decision. Folded text.
CONDITIONAL = re.compile(
    r"\b(?:if|unless|may|might|could|would|otherwise|without|"
    r"si|sans|pourra|pourrait|sinon|"
    r"falls|wenn|ohne|kann|konnte|andernfalls|sonst|"
    r"podra|podria|sin|de lo contrario|"
    r"se non|qualora|senza|potra|potrebbe|altrimenti|in caso)\b"
)
_SENTENCE = re.compile(r"[^.!?\n]+")


def extract(message: Message) -> Extracted:
    """Everything :class:`Extracted` lists, from the subject and the text of *message*.

    The text is ``message.text``, or ``message.html_text`` when the message has no text.
    """
    text = f"{message.subject}\n{message.text or message.html_text}"
    folded = " ".join(fold(text).split())
    return Extracted(
        order_ids=_unique(m.group() for m in AMAZON_ORDER.finditer(text)),
        payment_refs=_unique(m["ref"] or m["psp"] for m in PAYMENT_REF.finditer(text)),
        shop_orders=find_shop_orders(text),
        claim_ids=find_claim_ids(text),
        tracking=_unique(Tracking(c, n) for c, n in find_tracking(_mask_non_tracking(text))),
        amounts=find_amounts(text),
        reason=first_label(REASONS, folded),
        decision=find_decision(folded),
        delivered=says_delivered(folded),
        deadline=stated_deadline(text, message.date),
    )


def find_amounts(text: str) -> tuple[Amount, ...]:
    """Each amount written with a currency: ``"1.234,56 EUR"`` is ``Amount(1234.56, "EUR")``."""
    amounts = []
    for match in AMOUNT.finditer(text):
        price = Price.fromstring(match.group())
        symbol = (match["pre"] or match["post"]).strip()
        if price.amount is not None:
            amounts.append(Amount(price.amount, _SYMBOLS.get(symbol, symbol.upper())))
    return _unique(amounts)


def find_shop_orders(text: str) -> tuple[str, ...]:
    """Shop order numbers as ``"#ID"``: "Bestellung #1344", "commande n°3306", a bare "#1234"."""
    orders = []
    for match in SHOP_ORDER.finditer(text):
        ident = match["id"] or match["bare"]
        if not any(ch.isdigit() for ch in ident) or AMAZON_ORDER.fullmatch(ident):
            continue
        if match["bare"] and _after_case_word(text, match.start()):
            continue
        orders.append(f"#{ident}")
    return _unique(orders)


def find_claim_ids(text: str) -> tuple[str, ...]:
    """Claim, case and dispute numbers written after their label, holding at least 3 digits.

    Order ids and payment references are left out: they already key the case.
    """
    ids = []
    for match in CLAIM_ID.finditer(text):
        ident = match["id"]
        if sum(ch.isdigit() for ch in ident) < 3 or AMAZON_ORDER.fullmatch(ident):
            continue
        if PAYMENT_REF.fullmatch(ident):
            continue
        ids.append(ident)
    return _unique(ids)


def says_delivered(folded: str) -> bool:
    """Whether folded text reports a delivery, not a non-delivery ("was not delivered")."""
    return any(not _negated(folded, m.start()) for m in DELIVERED.finditer(folded))


def _negated(folded: str, start: int) -> bool:
    """Whether a negation stands in the few words before position *start*."""
    return bool(_NEGATED.search(folded[max(0, start - 40) : start]))


def find_decision(folded: str) -> str | None:
    """The decision a notice states, read only from sentences that state rather than warn, and
    not from a negated phrase ("no amount will be debited", "n'a pas été accordée")."""
    stated = " . ".join(
        m.group() for m in _SENTENCE.finditer(folded) if not CONDITIONAL.search(m.group())
    )
    for label, pattern in DECISIONS.items():
        if any(not _negated(stated, m.start()) for m in pattern.finditer(stated)):
            return label
    return None


def first_label(table: dict[str, re.Pattern[str]], folded: str) -> str | None:
    """The first label of *table* whose pattern occurs in *folded* text, else ``None``."""
    return next((label for label, pattern in table.items() if pattern.search(folded)), None)


def _after_case_word(text: str, start: int) -> bool:
    """Whether the bare "#" number at *start* follows a word naming a case or a claim."""
    return bool(_NOT_AN_ORDER.search(fold(text[max(0, start - 20) : start])))


def _mask_non_tracking(text: str) -> str:
    """*text* with order ids, payment references, IBANs and amounts blanked out (same length).

    Their digits would otherwise be tried as tracking numbers, and some would pass a check digit.
    """
    for pattern in (AMAZON_ORDER, PAYMENT_REF, IBAN, AMOUNT):
        text = pattern.sub(lambda m: "|" * len(m.group()), text)
    return text


def _unique(items: Iterable[T]) -> tuple[T, ...]:
    """*items* in their first order, repeats dropped."""
    return tuple(dict.fromkeys(items))
