"""The mail of one order's life, as a seller's mailbox receives it: shipping confirmation, buyer
message, A-to-z claim, reminder, decision. Real RFC 5322 bytes from the stdlib's EmailMessage,
for the case tests (the senders are the ones config/rules.toml knows)."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

# A valid UPS number (its check digit passes), shipped with every order by default.
UPS = "1Z5R89390357567127"
# A tiny PNG (1x1 pixel): photos a buyer attaches.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def message(
    sender: str,
    subject: str,
    body: str,
    date: datetime,
    *,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, bytes]] = (),
    reply_to: str | None = None,
    message_id: str | None = None,
) -> bytes:
    """One message; a PNG per attachment (name, bytes)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "seller@example.com"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id or make_msgid(domain="test.claimwatch.invalid")
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, payload in attachments:
        msg.add_attachment(payload, maintype="image", subtype="png", filename=filename)
    return bytes(msg)


def shipping(order: str, date: datetime, tracking: str = UPS) -> bytes:
    return message(
        "ship-confirm@amazon.com",
        f"Your Amazon order {order} has shipped",
        f"Hello,\n\nyour order {order} has shipped with UPS.\nTracking number: {tracking}\n"
        "Estimated delivery: in 3 days.\n",
        date,
    )


def delivered(order: str, date: datetime, tracking: str = UPS) -> bytes:
    return message(
        "shipment-tracking@amazon.com",
        f"Delivered: your package for order {order}",
        f"Your package was delivered on {date:%d %B %Y}.\nOrder {order}, UPS {tracking}.\n",
        date,
    )


def buyer_damaged(order: str, date: datetime, photos: list[tuple[str, bytes]] = ()) -> bytes:
    return message(
        "k7m2xq9p4v1@marketplace.amazon.com",
        f"Item arrived damaged - order {order}",
        f"Hello, the lamp of order {order} arrived broken, the glass is cracked. "
        "I want a refund or I will open an A-to-z claim. Photos attached.\n",
        date,
        attachments=list(photos),
    )


def claim(order: str, date: datetime, amount: str = "89.90") -> bytes:
    return message(
        "atoz-guarantee-no-reply@amazon.com",
        f"A-to-z Guarantee claim for order {order}",
        f"The buyer has filed an A-to-z Guarantee claim for order {order}.\n"
        f"Reason: item not received. Claim amount: EUR {amount}.\n"
        "Please respond within 3 calendar days with tracking information and proof of "
        "delivery. If you do not respond, the claim may be granted to the buyer.\n",
        date,
        headers={"X-Space-Notification-Type": "A_Z_CLAIM_RESPONDENT_NOTIFY"},
    )


def reminder(order: str, date: datetime) -> bytes:
    return message(
        "atoz-guarantee-no-reply@amazon.com",
        f"Reminder: A-to-z Guarantee claim for order {order} awaits your response",
        f"This is a reminder that the A-to-z Guarantee claim for order {order} still awaits "
        "your response. Please respond with tracking information.\n",
        date,
        headers={"X-Space-Notification-Type": "A_Z_CLAIM_RESPONDENT_NOTIFY"},
    )


DECISIONS = {
    "granted_seller_funded": "The claim has been granted to the buyer and the amount was "
    "debited from your account.",
    "denied": "After review, the claim has been closed in your favour.",
    "granted_amazon_funded": "The claim was granted and funded by Amazon, at no cost to you.",
}


def decision(order: str, date: datetime, outcome: str = "denied") -> bytes:
    return message(
        "atoz-guarantee-no-reply@amazon.com",
        f"Decision on the A-to-z Guarantee claim for order {order}",
        f"Decision on the A-to-z Guarantee claim for order {order}.\n{DECISIONS[outcome]}\n",
        date,
        headers={"X-Space-Notification-Type": "A_Z_CLAIM_RESPONDENT_NOTIFY"},
    )


def life_of_an_order(order: str, start: datetime) -> list[bytes]:
    """Shipping confirmation, then three weeks later a claim, a reminder and a decision."""
    return [
        shipping(order, start),
        claim(order, start + timedelta(days=21)),
        reminder(order, start + timedelta(days=22)),
        decision(order, start + timedelta(days=25), "denied"),
    ]
