"""The deadline a notice states, in five languages, absolute and relative, anchored at its Date."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from evidence_store.deadline import stated_deadline

PARIS = timezone(timedelta(hours=1))
SENT = datetime(2026, 11, 20, 9, 30, tzinfo=PARIS)  # 08:30 UTC


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


END_OF_DAY = (22, 59, 59)  # 23:59:59 in the Date header's zone (UTC+1): a whole day to answer
DEADLINES = [
    # English
    ("Please respond by 24 November 2026.", utc(2026, 11, 24, *END_OF_DAY)),
    ("Respond within 48 hours with tracking information.", utc(2026, 11, 22, 8, 30)),
    ("You have 3 calendar days: reply within 3 calendar days.", utc(2026, 11, 23, 8, 30)),
    ("Evidence due by November 29, 2026, 11:59 PM UTC", utc(2026, 11, 29, 23, 59)),
    ("Respond by November 24, 2026 at 6:00 PM PST", utc(2026, 11, 25, 2, 0)),
    ("Deadline: 2026-11-25", utc(2026, 11, 25, *END_OF_DAY)),
    ("within two days", utc(2026, 11, 22, 8, 30)),
    # French
    ("Veuillez répondre avant le 3 décembre 2026.", utc(2026, 12, 3, *END_OF_DAY)),
    ("Répondez dans un délai de 3 jours calendaires.", utc(2026, 11, 23, 8, 30)),
    ("Merci de répondre au plus tard le 25/11/2026.", utc(2026, 11, 25, *END_OF_DAY)),
    # German
    ("Bitte antworten Sie innerhalb von 7 Tagen.", utc(2026, 11, 27, 8, 30)),
    ("Bitte antworten Sie bis zum 3. Dezember 2026.", utc(2026, 12, 3, *END_OF_DAY)),
    ("Frist: 25.11.2026, 18:00 Uhr", utc(2026, 11, 25, 17, 0)),
    # Spanish
    ("Responda antes del 3 de diciembre de 2026.", utc(2026, 12, 3, *END_OF_DAY)),
    ("Responda en un plazo de 2 días hábiles.", utc(2026, 11, 22, 8, 30)),
    # Italian
    ("Rispondi entro 3 giorni di calendario.", utc(2026, 11, 23, 8, 30)),
    ("Rispondi entro il 3 dicembre 2026.", utc(2026, 12, 3, *END_OF_DAY)),
    # two stated: the earliest wins
    ("Respond within 7 days, and in any case by 22 November 2026.", utc(2026, 11, 22, *END_OF_DAY)),
]


@pytest.mark.parametrize(("text", "deadline"), DEADLINES)
def test_stated_deadline(text, deadline):
    assert stated_deadline(text, SENT) == deadline


NO_DEADLINE = [
    "Your order was shipped by UPS on 3 November 2026.",  # "by" without a date right after
    "Your order shipped by 1 November 2026.",  # a date before the message is no deadline
    "Thank you for your order.",
    "Il pacco è stato consegnato il 3 novembre 2026.",
]


@pytest.mark.parametrize("text", NO_DEADLINE)
def test_no_deadline(text):
    assert stated_deadline(text, SENT) is None


def test_without_a_date_header_the_arrival_time_anchors_a_window():
    arrived = utc(2026, 11, 21, 12, 0)
    assert stated_deadline("Respond within 48 hours.", None, arrived) == utc(2026, 11, 23, 12, 0)
