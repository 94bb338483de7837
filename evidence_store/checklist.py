"""The evidence checklist of a case: what wins this kind of claim, and whether the case holds it.

Marketplaces decide a claim on evidence, and each reason asks for its own: a "not received" claim
is lost without a tracking number and a delivery date, a "damaged" one without photos. The list
tells the seller at a glance what is missing, while there is still time to find it.

Items are found in what the case already holds (tracking numbers and delivery notices from its
messages, attachments) and in the files the seller adds to the case's ``evidence/`` folder, which
are recognised by words in their names in the five languages ("proof-of-delivery.pdf",
"preuve-de-livraison.pdf", "foto-danni.jpg").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from daemon.text import fold
from evidence_store.carriers import CARRIER_NAMES

IMAGE = re.compile(r"\.(?:jpe?g|png|gif|webp|heic|heif|bmp|tiff?)$", re.IGNORECASE)
PROOF_OF_DELIVERY = re.compile(
    r"proof|\bpod\b|deliver|signature|signed|preuve|livraison|zustell|nachweis|liefer"
    r"|entrega|prueba|consegna|prova"
)
LISTING = re.compile(r"listing|product|annonce|fiche|angebot|artikel|anuncio|inserzione|scheda")
PACKING = re.compile(r"pack|emballage|colis|verpack|embala|imball")
RETURN = re.compile(r"return|retour|rucksend|retoure|devoluc|reso\b|restitu")
REFUND = re.compile(r"refund|rembours|erstatt|reembols|rimbors")
BUYER = re.compile(r"buyer|customer|acheteur|client|kaufer|kunde|comprador|acquirente|chat")

# What each claim reason needs, in the order a seller gathers it; the issue fixes the lists.
REASON_ITEMS: dict[str, tuple[str, ...]] = {
    "not_received": ("carrier", "tracking_number", "delivery_date", "proof_of_delivery"),
    "damaged": ("photos", "listing", "packing_evidence"),
    "not_as_described": ("photos", "listing", "packing_evidence"),
    "wrong_item": ("photos", "listing", "packing_evidence"),
    "refund_after_return": ("return_tracking", "refund_proof"),
}
CHARGEBACK_ITEMS = ("order_details", "delivery_proof", "buyer_communication")
# A claim whose reason the notice does not say: what answers most claims.
DEFAULT_ITEMS = ("order_details", "tracking_number", "delivery_proof", "buyer_communication")

TITLES = {
    "carrier": "Carrier",
    "tracking_number": "Tracking number",
    "delivery_date": "Delivery date",
    "proof_of_delivery": "Proof of delivery",
    "photos": "Photos",
    "listing": "Listing (the product page as sold)",
    "packing_evidence": "Packing evidence",
    "return_tracking": "Return tracking",
    "refund_proof": "Refund proof",
    "order_details": "Order details",
    "delivery_proof": "Delivery proof",
    "buyer_communication": "Buyer communication",
}
HINTS = {
    "carrier": "not found in the case's messages",
    "tracking_number": "no valid tracking number in the case's messages",
    "delivery_date": "no delivery notice in the case's messages",
    "proof_of_delivery": "add it to evidence/ (e.g. evidence/proof-of-delivery.pdf)",
    "photos": "add photos to evidence/ (e.g. evidence/photo-packed-item.jpg)",
    "listing": "add the product page to evidence/ (e.g. evidence/listing.pdf)",
    "packing_evidence": "add it to evidence/ (e.g. evidence/packing-photo.jpg)",
    "return_tracking": "add it to evidence/ (e.g. evidence/return-tracking.pdf)",
    "refund_proof": "add it to evidence/ (e.g. evidence/refund-receipt.pdf)",
    "order_details": "no order id or amount found",
    "delivery_proof": "add it to evidence/ (e.g. evidence/proof-of-delivery.pdf)",
    "buyer_communication": "no buyer message in the case; add any to evidence/",
}


@dataclass(frozen=True)
class Holdings:
    """What a case holds, as the checks read it (built by :mod:`evidence_store.summary`)."""

    tracking: list[dict]
    delivery: dict | None
    messages: list[dict]
    attachments: list[dict]
    evidence_files: list[str]
    order_refs: list[str]
    amount: dict | None


def items_for(label: str, reason: str | None) -> tuple[str, ...]:
    """The checklist items of a case with this *label* and claim *reason*."""
    items = REASON_ITEMS.get(reason or "", ())
    if label == "chargeback":
        items = (*items, *CHARGEBACK_ITEMS)
    return tuple(dict.fromkeys(items or DEFAULT_ITEMS))


def checklist(label: str, reason: str | None, holdings: Holdings) -> list[dict]:
    """``[{"item", "title", "present", "detail"}]``; *detail* says what was found or what to do."""
    entries = []
    for item in items_for(label, reason):
        found = CHECKS[item](holdings)
        entries.append(
            {
                "item": item,
                "title": TITLES[item],
                "present": found is not None,
                "detail": found if found is not None else HINTS[item],
            }
        )
    return entries


def _files(holdings: Holdings, pattern: re.Pattern[str], images_only: bool = False) -> str | None:
    """The seller's evidence files and the attachments whose names match *pattern*."""
    names = [*holdings.evidence_files, *(a["file"] for a in holdings.attachments)]
    hits = [
        n
        for n in names
        if pattern.search(fold(n.rsplit("/", 1)[-1])) and (not images_only or IMAGE.search(n))
    ]
    return ", ".join(hits) if hits else None


def _carrier(h: Holdings) -> str | None:
    carriers = dict.fromkeys(CARRIER_NAMES.get(t["carrier"], t["carrier"]) for t in h.tracking)
    return ", ".join(carriers) or None


def _tracking_number(h: Holdings) -> str | None:
    return ", ".join(t["number"] for t in h.tracking) or None


def _delivery_date(h: Holdings) -> str | None:
    return (h.delivery["date"] or "date unknown")[:10] if h.delivery else None


def _proof_of_delivery(h: Holdings) -> str | None:
    return _files(h, PROOF_OF_DELIVERY)


def _photos(h: Holdings) -> str | None:
    images = [n for n in h.evidence_files if IMAGE.search(n)]
    images += [a["file"] for a in h.attachments if a["content_type"].startswith("image/")]
    return ", ".join(images) if images else None


def _listing(h: Holdings) -> str | None:
    return _files(h, LISTING)


def _packing(h: Holdings) -> str | None:
    return _files(h, PACKING)


def _return_tracking(h: Holdings) -> str | None:
    """A tracking number from a message about the return, or a file named after it."""
    returned = [
        t["number"]
        for t in h.tracking
        if RETURN.search(fold(t.get("subject", ""))) or t.get("reason") == "refund_after_return"
    ]
    return ", ".join(returned) if returned else _files(h, RETURN)


def _refund_proof(h: Holdings) -> str | None:
    notices = [
        m["file"]
        for m in h.messages
        if m["label"] == "routine" and REFUND.search(fold(m.get("subject", "")))
    ]
    return ", ".join(notices) if notices else _files(h, REFUND)


def _order_details(h: Holdings) -> str | None:
    if not h.order_refs:
        return None
    amount = f", {h.amount['value']} {h.amount['currency']}" if h.amount else ""
    return f"{', '.join(h.order_refs)}{amount}"


def _delivery_proof(h: Holdings) -> str | None:
    date = _delivery_date(h)
    files = _proof_of_delivery(h)
    found = [f"delivered {date}" if date else "", files or ""]
    return ", ".join(x for x in found if x) or None


def _buyer_communication(h: Holdings) -> str | None:
    buyer = [m["file"] for m in h.messages if m.get("buyer")]
    if buyer:
        return f"{len(buyer)} buyer message(s)"
    return _files(h, BUYER)


CHECKS: dict[str, Callable[[Holdings], str | None]] = {
    "carrier": _carrier,
    "tracking_number": _tracking_number,
    "delivery_date": _delivery_date,
    "proof_of_delivery": _proof_of_delivery,
    "photos": _photos,
    "listing": _listing,
    "packing_evidence": _packing,
    "return_tracking": _return_tracking,
    "refund_proof": _refund_proof,
    "order_details": _order_details,
    "delivery_proof": _delivery_proof,
    "buyer_communication": _buyer_communication,
}
