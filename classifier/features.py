"""What the model sees of a message: text fields and a few structural tokens.

Words and character n-grams of the subject and body carry five languages without per-language
code; the sender's domain and role, a few headers and the shape of the message (attachments, a
reply, a list-unsubscribe header) separate notices from newsletters. Mail relayed by a marketplace
wraps the buyer's words in a frame that is identical for a harmless question and a furious
complaint, so the buyer's own words are cut out of the frame (and out of quoted earlier replies)
and given to the model as a field of their own: it has to read what the buyer wrote.
"""

import re
from dataclasses import dataclass

from classifier.cues import cue_tokens
from daemon.message import Message

MAX_BODY_CHARS = 4000
"""Notices say what they are near the top; legal footers and quoted history add noise and time."""
MAX_OWN_CHARS = 800
"""The newest words feed the costly character n-grams: a buyer says it in far fewer."""

# A marketplace frame line: "------------- Message: -------------", "----- Nachricht -----", ...
_FRAME = re.compile(r"^\s*-{5,}\s*([^\n-][^\n]{0,60}?)\s*-{5,}\s*$", re.MULTILINE)
# Where quoted history starts: "On Mon, ... wrote:", "Le ... a écrit :", "Am ... schrieb ...:", ...
_QUOTE_HEAD = re.compile(
    r"^(?:On .{0,200}wrote:|Le .{0,200}a écrit\s?:|Am .{0,200}schrieb.{0,80}:|"
    r"El .{0,200}escribió:|Il giorno .{0,200}ha scritto:|Il .{0,200}ha scritto:|"
    r"-{2,}\s*(?:Original Message|Message d'origine|Ursprüngliche Nachricht|Mensaje original|"
    r"Messaggio originale|Forwarded message|Message transféré|Weitergeleitete Nachricht)"
    r"\s*-{2,})",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTED_LINE = re.compile(r"^\s*>.*$", re.MULTILINE)
_RELAY_DOMAIN = re.compile(r"(^|\.)marketplace\.amazon\.")
_SPACE = re.compile(r"\s+")
# A shop's contact form relays a buyer's words from the shop's own mailer: the subject says so,
# or the body lists the form's fields ("Name: ...", "E-mail: ...").
_CONTACT_FORM = re.compile(
    r"contact ?form|contact us|customer message|new entry|kontaktformular|kontaktanfrage|"
    r"kundennachricht|message client|formulaire de contact|\[contact\]|formulario de contacto|"
    r"mensaje de(l)? (contacto|cliente)|modulo di contatto|messaggio (dal|del|da un) "
    r"(cliente|tuo sito)",
    re.IGNORECASE,
)
_FORM_FIELD = re.compile(
    r"^\s*(?:name|e-?mail|phone|nom|pr[ée]nom|t[ée]l[ée]phone|courriel|vorname|nachname|"
    r"telefon|nombre|correo|tel[ée]fono|nome|cognome)\s*:",
    re.IGNORECASE | re.MULTILINE,
)
# Mailbox providers people write from, whatever the country: gmail.com, hotmail.cl, yahoo.com.mx,
# gmx.at, libero.it... A shop or a company writes from a domain of its own.
PERSONAL_PROVIDERS = frozenset(
    [
        "gmail",
        "googlemail",
        "yahoo",
        "ymail",
        "rocketmail",
        "hotmail",
        "outlook",
        "live",
        "msn",
        "windowslive",
        "icloud",
        "me",
        "mac",
        "aol",
        "proton",
        "protonmail",
        "pm",
        "gmx",
        "web",
        "t-online",
        "freenet",
        "posteo",
        "mailbox",
        "arcor",
        "online",
        "vodafone",
        "kabelmail",
        "aon",
        "a1",
        "chello",
        "bluewin",
        "sunrise",
        "hispeed",
        "orange",
        "wanadoo",
        "free",
        "sfr",
        "laposte",
        "neuf",
        "bbox",
        "numericable",
        "skynet",
        "telenet",
        "proximus",
        "scarlet",
        "videotron",
        "sympatico",
        "telus",
        "shaw",
        "rogers",
        "cogeco",
        "libero",
        "virgilio",
        "alice",
        "tin",
        "tiscali",
        "email",
        "fastwebnet",
        "tim",
        "inwind",
        "iol",
        "telefonica",
        "movistar",
        "terra",
        "ono",
        "jazztel",
        "btinternet",
        "sky",
        "virginmedia",
        "talktalk",
        "ntlworld",
        "blueyonder",
        "eircom",
        "comcast",
        "verizon",
        "att",
        "sbcglobal",
        "bellsouth",
        "charter",
        "cox",
        "earthlink",
        "bigpond",
        "optusnet",
        "iinet",
        "xtra",
        "prodigy",
        "fibertel",
        "speedy",
        "arnet",
        "vtr",
        "uol",
        "zoho",
        "yandex",
        "mail",
        "tutanota",
        "seznam",
    ]
)
_COUNTRY_SUFFIX = re.compile(r"^[a-z]{2,3}$")
_DIGIT = re.compile(r"\d")
_LINK = re.compile(r"https?://", re.IGNORECASE)
_ORDER_ID = re.compile(r"\b\d{3}-\d{7}-\d{7}\b")
_UNSUBSCRIBE = re.compile(
    r"unsubscribe|d[ée]sabonner|d[ée]sinscri|abmelden|abbestellen|darse de baja|"
    r"cancelar (la )?suscripci|annulla(re)? l'iscrizione|disiscriviti|cancella(re)? l'iscrizione",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Fields:
    """The text fields one message contributes to the model."""

    subject: str
    body: str
    own: str  # the newest words: inside a marketplace frame, without quoted history
    meta: str  # structural tokens, space separated


def own_words(text: str) -> str:
    """The newest words of a message: inside a marketplace frame, without quoted history."""
    frames = list(_FRAME.finditer(text))
    if len(frames) >= 2:
        text = text[frames[0].end() : frames[1].start()]
    elif len(frames) == 1:
        text = text[frames[0].end() :]
    head = _QUOTE_HEAD.search(text)
    if head:
        text = text[: head.start()]
    return _SPACE.sub(" ", _QUOTED_LINE.sub(" ", text)).strip()


def meta_tokens(message: Message) -> str:
    """Sender, headers and shape as tokens, e.g. ``dom_amazon.fr local_atoz-guarantee-no-reply``."""
    local, _, domain = message.from_addr.partition("@")
    tokens = [f"dom_{domain}", f"sld_{_second_level(domain)}"]
    if _RELAY_DOMAIN.search(domain):
        tokens.append("relayed_marketplace")
    else:
        tokens.append(f"local_{local}")
    notification = message.headers.get("X-Space-Notification-Type")
    if notification:
        tokens.append(f"space_{notification.strip().lower()}")
    for header in ("List-Unsubscribe", "List-Id", "Auto-Submitted", "Precedence"):
        if message.headers.get(header):
            tokens.append(f"has_{header.lower()}")
    if message.in_reply_to or message.references:
        tokens.append("is_reply")
    if message.subject.lower().startswith(("re:", "aw:", "r:", "rv:", "tr:", "fw:", "fwd:", "wg:")):
        tokens.append("subject_reply_prefix")
    if message.attachments:
        tokens.append("has_attachment")
        if any(a.content_type.startswith("image/") for a in message.attachments):
            tokens.append("has_image")
    if message.html_text and not message.text.strip():
        tokens.append("html_only")
    return " ".join(tokens)


def _second_level(domain: str) -> str:
    parts = domain.split(".")
    return ".".join(parts[-2:]) if len(parts) >= 2 else domain


def fields_of(message: Message) -> Fields:
    """Reduce a parsed message to the fields the vectorizers read."""
    text = message.text or message.html_text
    own = own_words(text[: MAX_BODY_CHARS * 2])[:MAX_OWN_CHARS]
    subject, body = message.subject, _SPACE.sub(" ", text[:MAX_BODY_CHARS])
    if _RELAY_DOMAIN.search(message.from_addr.partition("@")[2]):
        # The marketplace's subject and frame are the same for a thank-you and a threat.
        subject, body = "", own
    cues = cue_tokens(message.subject + " " + own).split()
    buyer = _is_person(message.from_addr) or _is_contact_form(message.subject, text)
    kind = "buyer" if buyer else "company"
    cues += [f"{kind}_{cue}" for cue in cues]
    meta = f"{meta_tokens(message)} {_content_tokens(text)} from_{kind} {' '.join(cues)}"
    return Fields(_digits(subject), _digits(body), _digits(own), meta)


def _is_person(address: str) -> bool:
    """A buyer writing: relayed by a marketplace or from a personal mailbox provider."""
    domain = address.partition("@")[2].lower()
    if _RELAY_DOMAIN.search(domain):
        return True
    provider, *suffix = domain.split(".")
    return (
        provider in PERSONAL_PROVIDERS
        and 1 <= len(suffix) <= 2
        and all(_COUNTRY_SUFFIX.match(part) for part in suffix)
    )


def _is_contact_form(subject: str, text: str) -> bool:
    """A shop's contact form passing on a buyer's words: named so, or a list of form fields."""
    return bool(_CONTACT_FORM.search(subject)) or len(_FORM_FIELD.findall(text[:1500])) >= 2


def _digits(text: str) -> str:
    """Numbers as shapes (``405-1234567-1234567`` -> ``000-0000000-0000000``): an order id or an
    amount matters, which one does not."""
    return _DIGIT.sub("0", text)


def _content_tokens(text: str) -> str:
    """Shape of the content: marketing mail has many links and an unsubscribe line."""
    tokens = []
    links = len(_LINK.findall(text))
    tokens.append("links_many" if links > 5 else "links_some" if links else "links_none")
    if _UNSUBSCRIBE.search(text):
        tokens.append("says_unsubscribe")
    if _ORDER_ID.search(text):
        tokens.append("has_amazon_order_id")
    length = len(text)
    tokens.append("len_short" if length < 400 else "len_medium" if length < 2500 else "len_long")
    return " ".join(tokens)
