"""Deterministic, realistic seller-mailbox messages as raw RFC 5322 bytes (CRLF).

Tests and benchmarks need mail that looks like what a marketplace seller really receives: many
routine notifications in five languages, MIME structure with text and HTML alternatives, RFC 2047
subjects, attachments that give the size spread of a real mailbox, and a few of the messages
claimwatch exists to catch. Everything derives from (seed, index), so a failure reproduces exactly.
"""

from __future__ import annotations

import binascii
import email.base64mime
import email.utils
import html
import math
import random
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import Compat32

EPOCH = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
SPAN = timedelta(days=60)


class _Policy(Compat32):
    """compat32 with a fast path for headers that are already fit to send.

    The modern policy parses and refolds every header, and compat32 still runs each one through
    email.header.Header: together that was most of the time spent on 10,000 messages.
    """

    def _fold(self, name: str, value, sanitize: bool) -> str:
        if isinstance(value, str) and value.isascii():
            lines = value.split("\r\n")
            if len(name) + len(lines[0]) + 2 <= 78 and all(len(x) <= 78 for x in lines[1:]):
                return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


POLICY = _Policy(linesep="\r\n")
SELLER = ("Atelier Lumière", "orders@atelier-lumiere.example")

LANGS = ("en", "fr", "de", "es", "it")
LANG_WEIGHTS = (35, 20, 20, 13, 12)
KINDS = ("order", "shipping", "buyer", "payout", "newsletter", "a_to_z", "chargeback")
KIND_WEIGHTS = (30, 15, 20, 6, 22, 4, 3)
ATTACHMENT_KINDS = {"shipping", "buyer", "payout", "a_to_z", "chargeback"}

DOMAINS = {"en": ("amazon.com", "amazon.co.uk"), "fr": ("amazon.fr",), "de": ("amazon.de",)}
DOMAINS |= {"es": ("amazon.es",), "it": ("amazon.it",)}
ZONES = {"en": (-5, 0), "fr": (1,), "de": (1,), "es": (1,), "it": (1,)}
CURRENCY = {"en": "$", "fr": "€", "de": "€", "es": "€", "it": "€"}

PRODUCTS = {
    "en": ("Ceramic table lamp, linen shade", "Brass desk lamp", "LED bulb E27 (pack of 4)"),
    "fr": ("Lampe de chevet en céramique", "Applique murale laiton", "Abat-jour en lin écru"),
    "de": ("Keramik-Tischleuchte mit Leinenschirm", "Messing-Schreibtischlampe", "Glühbirne E27"),
    "es": ("Lámpara de mesa de cerámica", "Aplique de pared de latón", "Pantalla de lino"),
    "it": ("Lampada da tavolo in ceramica", "Applique in ottone", "Paralume in lino naturale"),
}
BUYERS = ("Emma Schmidt", "Lucas Martin", "Chloé Dubois", "Jürgen Weiß", "Sofía García")
BUYERS += ("Giulia Rossi", "Oliver Smith", "Noah Müller", "Inès Lefèvre", "Álvaro Núñez")
CARRIERS = (("UPS", "1Z{:016X}"), ("DHL", "{:010d}"), ("Colissimo", "6A{:011d}"))
CARRIERS += (("USPS", "9400{:018d}"), ("GLS", "{:011d}"))

TEXT: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "en": {
        "order": (
            "Sold, ship now: {product}",
            (
                "Congratulations, you sold an item on {domain}.",
                "Order ID: {order_id}. Item: {product}. Quantity: {qty}. Price: {price}.",
                "Please ship this item by {ship_by} and confirm shipment in Seller Central.",
            ),
        ),
        "shipping": (
            "Your {carrier} shipment {tracking} has been delivered",
            (
                "Your package was delivered on {ship_by} at the front door.",
                "Tracking number: {tracking}. Reference: {order_id}.",
            ),
        ),
        "buyer": (
            "Inquiry from Amazon customer {buyer} (Order: {order_id})",
            (
                "You have received a message from {buyer}.",
                "Order ID: {order_id}. Item: {product}.",
                "{buyer_text}",
                "To reply, respond to this e-mail or visit Buyer-Seller Messages.",
            ),
        ),
        "payout": (
            "Your payment has been sent",
            (
                "We have initiated a payout of {price} to your bank account ending in 4471.",
                "Settlement period ending {ship_by}. Funds usually arrive in 3-5 business days.",
            ),
        ),
        "newsletter": (
            "Seller News: prepare your shop for the holiday season",
            (
                "Five tips to keep your Order Defect Rate low during peak season.",
                "Fast shipping and quick answers to buyers prevent most A-to-z claims.",
                "New: bulk upload of tracking numbers is now available for all sellers.",
            ),
        ),
        "a_to_z": (
            "A-to-z Guarantee claim on order {order_id}",
            (
                "The buyer {buyer} has filed an A-to-z Guarantee claim for order {order_id}.",
                "Claim reason: item not received. Claim amount: {price}.",
                "Please respond by {ship_by}. If you do not respond, the claim may be granted.",
            ),
        ),
        "chargeback": (
            "Chargeback notification: order {order_id}",
            (
                "The buyer's card issuer has initiated a chargeback for order {order_id}.",
                "Amount: {price}. Please provide proof of delivery by {ship_by}.",
            ),
        ),
    },
    "fr": {
        "order": (
            "Vendu, expédiez maintenant : {product}",
            (
                "Félicitations, vous avez vendu un article sur {domain}.",
                "Numéro de commande : {order_id}. Article : {product}. Quantité : {qty}.",
                "Prix : {price}. Veuillez expédier l'article avant le {ship_by}.",
            ),
        ),
        "shipping": (
            "Votre colis {tracking} a été livré",
            (
                "Votre colis {carrier} a été livré le {ship_by} dans la boîte aux lettres.",
                "Numéro de suivi : {tracking}. Référence : {order_id}.",
            ),
        ),
        "buyer": (
            "Demande de renseignements de la part du client Amazon {buyer} (Commande : {order_id})",
            (
                "Vous avez reçu un message de {buyer}.",
                "Numéro de commande : {order_id}. Article : {product}.",
                "{buyer_text}",
                "Pour répondre, répondez à cet e-mail ou utilisez la messagerie acheteur-vendeur.",
            ),
        ),
        "payout": (
            "Votre paiement a été envoyé",
            (
                "Nous avons initié un virement de {price} vers votre compte bancaire.",
                "Période de règlement se terminant le {ship_by}.",
            ),
        ),
        "newsletter": (
            "Actualités vendeurs : préparez les fêtes de fin d'année",
            (
                "Cinq conseils pour garder un taux de défauts de commande bas pendant les fêtes.",
                "Une expédition rapide évite la plupart des réclamations au titre de la "
                "Garantie A à Z.",
            ),
        ),
        "a_to_z": (
            "Réclamation au titre de la Garantie A à Z – commande {order_id}",
            (
                "L'acheteur {buyer} a déposé une réclamation pour la commande {order_id}.",
                "Motif : article non reçu. Montant : {price}.",
                "Veuillez répondre avant le {ship_by}, faute de quoi la réclamation sera accordée.",
            ),
        ),
        "chargeback": (
            "Notification de rétrofacturation : commande {order_id}",
            (
                "L'émetteur de la carte de l'acheteur a ouvert une rétrofacturation.",
                "Montant : {price}. Merci de fournir une preuve de livraison avant le {ship_by}.",
            ),
        ),
    },
    "de": {
        "order": (
            "Verkauft, jetzt versenden: {product}",
            (
                "Herzlichen Glückwunsch, Sie haben einen Artikel auf {domain} verkauft.",
                "Bestellnummer: {order_id}. Artikel: {product}. Menge: {qty}. Preis: {price}.",
                "Bitte versenden Sie den Artikel bis zum {ship_by}.",
            ),
        ),
        "shipping": (
            "Ihre {carrier} Sendung {tracking} wurde zugestellt",
            (
                "Ihre Sendung wurde am {ship_by} zugestellt. Empfangen von: Nachbar.",
                "Sendungsnummer: {tracking}. Referenz: {order_id}.",
            ),
        ),
        "buyer": (
            "Anfrage von Amazon-Kunde {buyer} (Bestellung: {order_id})",
            (
                "Sie haben eine Nachricht von {buyer} erhalten.",
                "Bestellnummer: {order_id}. Artikel: {product}.",
                "{buyer_text}",
                "Um zu antworten, antworten Sie auf diese E-Mail.",
            ),
        ),
        "payout": (
            "Ihre Auszahlung wurde veranlasst",
            (
                "Wir haben eine Auszahlung über {price} auf Ihr Bankkonto veranlasst.",
                "Abrechnungszeitraum endet am {ship_by}.",
            ),
        ),
        "newsletter": (
            "Verkäufer-News: Fünf Tipps für das Weihnachtsgeschäft",
            (
                "So halten Sie Ihre Bestellmängelquote niedrig.",
                "Schnelle Antworten verhindern die meisten Anträge auf die A-bis-z-Garantie.",
            ),
        ),
        "a_to_z": (
            "A-bis-z-Garantieantrag für Bestellung {order_id}",
            (
                "Der Käufer {buyer} hat einen Antrag auf die A-bis-z-Garantie gestellt.",
                "Grund: Artikel nicht erhalten. Betrag: {price}.",
                "Bitte antworten Sie bis zum {ship_by}.",
            ),
        ),
        "chargeback": (
            "Rückbuchung für Bestellung {order_id}",
            (
                "Die kartenausgebende Bank des Käufers hat eine Rückbuchung eingeleitet.",
                "Betrag: {price}. Bitte legen Sie bis zum {ship_by} einen Zustellnachweis vor.",
            ),
        ),
    },
    "es": {
        "order": (
            "Vendido, envíalo ahora: {product}",
            (
                "Enhorabuena, has vendido un artículo en {domain}.",
                "Número de pedido: {order_id}. Artículo: {product}. Cantidad: {qty}.",
                "Precio: {price}. Envía el artículo antes del {ship_by}.",
            ),
        ),
        "shipping": (
            "Tu envío {tracking} ha sido entregado",
            (
                "Tu paquete de {carrier} fue entregado el {ship_by}.",
                "Número de seguimiento: {tracking}. Referencia: {order_id}.",
            ),
        ),
        "buyer": (
            "Consulta del cliente de Amazon {buyer} (Pedido: {order_id})",
            (
                "Has recibido un mensaje de {buyer}.",
                "Número de pedido: {order_id}. Artículo: {product}.",
                "{buyer_text}",
                "Para responder, contesta a este correo electrónico.",
            ),
        ),
        "payout": (
            "Se ha enviado tu pago",
            (
                "Hemos iniciado una transferencia de {price} a tu cuenta bancaria.",
                "Periodo de liquidación que finaliza el {ship_by}.",
            ),
        ),
        "newsletter": (
            "Noticias para vendedores: prepara tu tienda para Navidad",
            (
                "Cinco consejos para mantener baja tu tasa de pedidos defectuosos.",
                "Responder rápido evita la mayoría de las reclamaciones de la Garantía de la A a "
                "la z.",
            ),
        ),
        "a_to_z": (
            "Reclamación de la Garantía de la A a la z para el pedido {order_id}",
            (
                "El comprador {buyer} ha presentado una reclamación para el pedido {order_id}.",
                "Motivo: artículo no recibido. Importe: {price}.",
                "Responde antes del {ship_by}.",
            ),
        ),
        "chargeback": (
            "Notificación de contracargo: pedido {order_id}",
            (
                "El banco emisor de la tarjeta del comprador ha iniciado un contracargo.",
                "Importe: {price}. Aporta una prueba de entrega antes del {ship_by}.",
            ),
        ),
    },
    "it": {
        "order": (
            "Venduto, spedisci ora: {product}",
            (
                "Congratulazioni, hai venduto un articolo su {domain}.",
                "Numero ordine: {order_id}. Articolo: {product}. Quantità: {qty}.",
                "Prezzo: {price}. Spedisci l'articolo entro il {ship_by}.",
            ),
        ),
        "shipping": (
            "La tua spedizione {tracking} è stata consegnata",
            (
                "Il pacco {carrier} è stato consegnato il {ship_by}.",
                "Numero di tracciamento: {tracking}. Riferimento: {order_id}.",
            ),
        ),
        "buyer": (
            "Richiesta da parte del cliente Amazon {buyer} (Ordine: {order_id})",
            (
                "Hai ricevuto un messaggio da {buyer}.",
                "Numero ordine: {order_id}. Articolo: {product}.",
                "{buyer_text}",
                "Per rispondere, rispondi a questa e-mail.",
            ),
        ),
        "payout": (
            "Il tuo pagamento è stato inviato",
            (
                "Abbiamo avviato un bonifico di {price} sul tuo conto bancario.",
                "Periodo di liquidazione che termina il {ship_by}.",
            ),
        ),
        "newsletter": (
            "Novità per i venditori: prepara il tuo negozio per le feste",
            (
                "Cinque consigli per mantenere basso il tasso di difettosità degli ordini.",
                "Risposte rapide evitano la maggior parte dei reclami Garanzia dalla A alla Z.",
            ),
        ),
        "a_to_z": (
            "Reclamo Garanzia dalla A alla Z per l'ordine {order_id}",
            (
                "L'acquirente {buyer} ha aperto un reclamo per l'ordine {order_id}.",
                "Motivo: articolo non ricevuto. Importo: {price}.",
                "Rispondi entro il {ship_by}.",
            ),
        ),
        "chargeback": (
            "Notifica di chargeback: ordine {order_id}",
            (
                "L'emittente della carta dell'acquirente ha avviato un chargeback.",
                "Importo: {price}. Fornisci una prova di consegna entro il {ship_by}.",
            ),
        ),
    },
}

BUYER_TEXTS = {
    "en": (
        "Hello, could you tell me when my order will ship? Thank you.",
        "Hi, the lamp arrived broken, the shade is torn. I want a refund.",
        "I still have not received my package after two weeks. If I do not hear from you "
        "I will open an A-to-z claim.",
        "Thanks, everything arrived fine, great quality!",
    ),
    "fr": (
        "Bonjour, pouvez-vous me dire quand ma commande sera expédiée ? Merci.",
        "Bonjour, la lampe est arrivée cassée. Je souhaite être remboursée.",
        "Je n'ai toujours pas reçu mon colis. Sans réponse, j'ouvrirai une réclamation A à Z.",
        "Merci, tout est bien arrivé, très belle qualité !",
    ),
    "de": (
        "Hallo, wann wird meine Bestellung versendet? Danke.",
        "Die Lampe ist beschädigt angekommen, der Schirm ist zerrissen. Bitte erstatten.",
        "Ich habe mein Paket immer noch nicht erhalten. Sonst stelle ich einen A-bis-z-Antrag.",
        "Danke, alles gut angekommen, tolle Qualität!",
    ),
    "es": (
        "Hola, ¿cuándo se enviará mi pedido? Gracias.",
        "La lámpara llegó rota. Quiero un reembolso.",
        "Todavía no he recibido mi paquete. Si no responde, abriré una reclamación A a la z.",
        "Gracias, todo llegó perfecto.",
    ),
    "it": (
        "Salve, quando verrà spedito il mio ordine? Grazie.",
        "La lampada è arrivata rotta. Vorrei un rimborso.",
        "Non ho ancora ricevuto il pacco. Senza risposta aprirò un reclamo dalla A alla Z.",
        "Grazie, tutto arrivato perfettamente.",
    ),
}

FILLER_WORDS = (
    *("lamp", "shade", "brass", "linen", "ceramic", "bulb", "warm", "light", "design", "order"),
    *("seller", "shipping", "delivery", "return", "policy", "offer", "discount", "season"),
    *("collection", "handmade", "vintage", "modern", "living", "room"),
)
HTML_FOOT = '<p style="color:#888;font-size:11px">&copy; {domain}</p>\n</body></html>\n'
TOKEN_TEXT = b"@@CW-TEXT@@"
TOKEN_HTML = b"@@CW-HTML@@"
TOKEN_ATT = b"@@CW-ATTACHMENT@@"
JPEG_MAGIC = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PDF_MAGIC = b"%PDF-1.4\n"


def _filler_rows() -> tuple[bytes, ...]:
    """A fixed pool of newsletter table rows, already encoded.

    Each row is one line, and quoted-printable works line by line, so encoded rows can simply
    be concatenated: sizes are exact and nothing is re-encoded per message.
    """
    rng = random.Random(20_260_115)
    rows = []
    for _ in range(256):
        words = " ".join(rng.choices(FILLER_WORDS, k=rng.randint(6, 14)))
        href = f"https://sellercentral.example/p/{rng.randrange(10**6)}?ref=nl"
        rows.append(_qp(f'<tr><td class="offer"><a href="{href}">{words}</a></td></tr>\n'))
    return tuple(rows)


def generate(n: int, seed: int = 0, min_size: int = 2_000, max_size: int = 80_000) -> list[bytes]:
    """n messages, oldest first like a mailbox; message i depends only on (n, seed, i, sizes)."""
    if n < 0 or min_size < 1_000 or max_size < max(min_size, 5_000):
        raise ValueError("need n >= 0, min_size >= 1000 and max_size >= max(min_size, 5000)")
    return [_message(i, n, seed, min_size, max_size) for i in range(n)]


def _message(i: int, n: int, seed: int, min_size: int, max_size: int) -> bytes:
    """Headers and MIME structure come from the email package; bodies are encoded in C and
    spliced in, because the email package's line-by-line generator is ~10x too slow for 10,000.
    """
    rng = random.Random(seed * 1_000_003 + i)
    kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
    lang = rng.choices(LANGS, LANG_WEIGHTS)[0]
    f = _fields(rng, lang, i, n)
    # Log-uniform: most mail is small and a long tail is large, as in a real mailbox.
    target = int(math.exp(rng.uniform(math.log(min_size), math.log(max_size))))
    paragraphs = [p.format(**f) for p in TEXT[lang][kind][1]]
    text = _qp("\n\n".join(paragraphs) + f"\n\n-- \n{f['domain']}\n")
    head, foot = _html_head(paragraphs), HTML_FOOT.format(**f)
    attachment = None
    if kind in ATTACHMENT_KINDS or target > 25_000:
        photo = kind in ("buyer", "newsletter", "order") or rng.random() < 0.3
        attachment = ("photo.jpg", "image/jpeg") if photo else (f"{kind}.pdf", "application/pdf")
    raw = _skeleton(rng, kind, lang, f, f"{seed}_{i}", attachment).as_bytes(policy=POLICY)
    raw = raw.replace(TOKEN_TEXT, text)
    fixed = len(raw) - len(TOKEN_HTML) - (len(TOKEN_ATT) if attachment else 0)
    if attachment is None:
        raw = raw.replace(TOKEN_HTML, _grown_html(rng, head, foot, target - fixed))
        if len(raw) < min_size:
            raw = _pad_header(raw, min_size)
    else:
        html = _qp(head + foot)
        magic = JPEG_MAGIC if attachment[1] == "image/jpeg" else PDF_MAGIC
        data = _random_file(rng, magic, target - fixed - len(html))
        raw = raw.replace(TOKEN_HTML, html).replace(TOKEN_ATT, base64_crlf(data))
    if len(raw) > max_size:
        raise ValueError(f"message {i} needs {len(raw)} bytes, above max_size={max_size}")
    return raw


def _qp(s: str) -> bytes:
    return binascii.b2a_qp(s.encode("utf-8")).replace(b"\n", b"\r\n")


FILLER_ROWS = _filler_rows()
AVG_ROW = sum(map(len, FILLER_ROWS)) // len(FILLER_ROWS)


def base64_crlf(data: bytes) -> bytes:
    """76-character lines as MIME wants; base64.encodebytes loops in Python per 57 bytes."""
    flat = binascii.b2a_base64(data, newline=False)
    return b"".join(flat[k : k + 76] + b"\r\n" for k in range(0, len(flat), 76))


def _base64_size(n: int) -> int:
    chars = 4 * ((n + 2) // 3)
    return chars + 2 * ((chars + 75) // 76)


def _random_file(rng: random.Random, magic: bytes, room: int) -> bytes:
    """Random bytes behind a file signature, as large as fits in `room` base64 bytes."""
    n = max(64, room * 57 // 78)
    for _ in range(8):  # the estimate above is within a few bytes
        if n <= 64 or _base64_size(n) <= room:
            break
        n -= 3
    return magic + rng.randbytes(max(0, n - len(magic)))


def _pad_header(raw: bytes, min_size: int) -> bytes:
    """Rare: a small message below min_size gets a tracking header, as bulk senders add."""
    missing = min_size - len(raw)
    value = ("x" * missing).encode()
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = [value[k : k + 70] for k in range(0, len(value), 70)]
    return head + b"\r\nX-Campaign-Trace: " + b"\r\n ".join(lines) + sep + body


def _html_head(paragraphs: list[str]) -> str:
    ps = "".join(f'<p style="font-family:Arial">{html.escape(p)}</p>\n' for p in paragraphs)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
        f'<table width="600" align="center"><tr><td>\n{ps}</td></tr></table>\n'
    )


def _grown_html(rng: random.Random, head: str, foot: str, size: int) -> bytes:
    """HTML of about `size` encoded bytes (never more), grown with offer rows like a newsletter."""
    top, bottom = _qp(head + '<table width="600">\n'), _qp("</table>\n" + foot)
    room = size - len(top) - len(bottom)
    if room <= 0:
        return _qp(head + foot)
    rows = rng.choices(FILLER_ROWS, k=max(1, room // AVG_ROW))
    total = sum(map(len, rows))
    for _ in range(len(rows)):  # trim the random overshoot: bounded by the row count
        if total <= room:
            break
        total -= len(rows.pop())
    return top + b"".join(rows) + bottom


def _fields(rng: random.Random, lang: str, i: int, n: int) -> dict:
    """The facts one notification is about: order, buyer, product, money, tracking, date."""
    when = EPOCH - SPAN + SPAN * ((i + rng.random()) / max(n, 1))
    carrier, pattern = rng.choice(CARRIERS)
    price = rng.randrange(900, 25_000) / 100
    order_id = f"{rng.randrange(100, 1000)}-{rng.randrange(10**7):07d}-{rng.randrange(10**7):07d}"
    return {
        "domain": rng.choice(DOMAINS[lang]),
        "order_id": order_id,
        "product": rng.choice(PRODUCTS[lang]),
        "qty": rng.randint(1, 3),
        "price": f"${price:.2f}" if lang == "en" else f"{price:.2f} €".replace(".", ","),
        "buyer": rng.choice(BUYERS),
        "carrier": carrier,
        "tracking": pattern.format(rng.randrange(10**10)),
        "ship_by": (when + timedelta(days=2)).strftime("%d/%m/%Y"),
        "when": when,
        "buyer_text": rng.choice(BUYER_TEXTS[lang]),
        "tz": timezone(timedelta(hours=rng.choice(ZONES[lang]))),
    }


def _sender(kind: str, f: dict) -> tuple[str, str, str]:
    """(display name, address, Message-ID domain) as each kind of sender really writes them."""
    d = f["domain"]
    if kind == "buyer":
        local = "".join(c for c in f["order_id"] if c.isdigit())[:14]
        return f"{f['buyer']} - Amazon Marketplace", f"{local}@marketplace.{d}", d
    if kind == "shipping":
        carrier = f["carrier"].lower()
        return f["carrier"], f"tracking@{carrier}.example", f"{carrier}.example"
    if kind == "payout":
        return "Amazon Payments", f"payments-messages@{d}", "email.amazonses.com"
    if kind == "newsletter":
        return "Seller News", f"seller-news@{d}", "email.amazonses.com"
    return "Amazon Seller Central", f"seller-notification@{d}", "email.amazonses.com"


def _header_text(value: str) -> str:
    """RFC 2047 only when needed, as real senders do, in folded base64 encoded-words.

    Chunks of at most 39 UTF-8 bytes keep every line under 78 characters and never split a
    character (email.header.Header does the same, but slowly).
    """
    if value.isascii():
        return value
    words, chunk = [], b""
    for ch in value:
        b = ch.encode("utf-8")
        if len(chunk) + len(b) > 39:
            words.append(chunk)
            chunk = b""
        chunk += b
    words.append(chunk)
    return "\r\n ".join(email.base64mime.header_encode(w, "utf-8") for w in words)


def _address(name: str, addr: str) -> str:
    return email.utils.formataddr((_header_text(name), addr))


def _skeleton(
    rng: random.Random, kind: str, lang: str, f: dict, key: str, attachment: tuple | None
) -> EmailMessage:
    """Headers and MIME structure, with tokens where the pre-encoded bodies go."""
    name, addr, id_domain = _sender(kind, f)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = _address(name, addr)
    msg["To"] = _address(*SELLER)
    msg["Subject"] = _header_text(TEXT[lang][kind][0].format(**f))
    msg["Date"] = email.utils.format_datetime(f["when"].astimezone(f["tz"]))
    msg["Message-ID"] = f"<{rng.getrandbits(64):016x}.{key}@{id_domain}>"
    if kind == "newsletter":
        msg["List-Unsubscribe"] = f"<https://sellercentral.{f['domain']}/unsubscribe/{key}>"
    msg["MIME-Version"] = "1.0"
    alt = msg if attachment is None else EmailMessage(policy=POLICY)
    alt["Content-Type"] = "multipart/alternative"
    alt.set_boundary(f"=_cw{key}_alt")
    alt.attach(_leaf("text/plain", "quoted-printable", TOKEN_TEXT, charset="utf-8"))
    alt.attach(_leaf("text/html", "quoted-printable", TOKEN_HTML, charset="utf-8"))
    if attachment is not None:
        filename, ctype = attachment
        msg["Content-Type"] = "multipart/mixed"
        msg.set_boundary(f"=_cw{key}_mix")
        msg.attach(alt)
        att = _leaf(ctype, "base64", TOKEN_ATT, name=filename)
        att.add_header("Content-Disposition", "attachment", filename=filename)
        msg.attach(att)
    return msg


def _leaf(ctype: str, cte: str, token: bytes, **params: str) -> EmailMessage:
    part = EmailMessage(policy=POLICY)
    part.add_header("Content-Type", ctype, **params)
    part["Content-Transfer-Encoding"] = cte
    part.set_payload(token.decode())
    return part
