"""Logging set up for a terminal or for journald.

Under systemd (``JOURNAL_STREAM`` set) journald stamps every line itself, so we print none of our
own timestamps: one line per event, with the level. Secrets never reach a logger: passwords are
read at connect time and handed straight to the IMAP library, whose protocol log is off.
"""

import logging
import os
import sys


def setup_logging(level: str = "info") -> None:
    """Configure the root logger once, on stderr."""
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s %(name)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt, datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries are chatty at debug level; their protocol traces may carry mail content.
    for noisy in ("imapclient", "watchdog"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # mail-parser logs an error line, quoting the header, for every odd message; our parser
    # records those as defects of the message instead, so one bad mail is not a log flood.
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)
