"""Logging set up for a terminal or for journald.

Under systemd (``JOURNAL_STREAM`` set) journald stamps every line itself, so we print none of our
own timestamps: one line per event, with the level. Secrets never reach a logger: passwords are
read at connect time and handed straight to the IMAP library, whose protocol log is off.
"""

import logging
import os
import sys

# syslog priorities (sd-daemon(3)): journald reads a "<N>" prefix as the line's level
PRIORITIES = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class JournalFormatter(logging.Formatter):
    """One line per event with its priority prefix, and no timestamp: journald adds its own.
    A message that spans lines (a traceback) is folded so it stays one journal entry."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\n", " | ")
        return f"<{PRIORITIES.get(record.levelname, 6)}>{text}"


def under_journald() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM"))


def setup_logging(level: str = "info") -> None:
    """Configure the root logger once, on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if under_journald():
        handler.setFormatter(JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
        handler.setFormatter(logging.Formatter(fmt, datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    set_level(level)


def set_level(level: str) -> None:
    """The root level (SIGHUP may change it); libraries stay quieter than us."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    # Libraries are chatty at debug level; their protocol traces may carry mail content.
    for noisy in ("imapclient", "watchdog"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # mail-parser logs an error line, quoting the header, for every odd message; our parser
    # records those as defects of the message instead, so one bad mail is not a log flood.
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)
