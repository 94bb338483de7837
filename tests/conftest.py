"""Shared pytest fixtures."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# tests/ is not a package: make the harness importable however pytest was started.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dovecot import Dovecot, find_binary
from support import require

# --- Dovecot: a real IMAP server on 127.0.0.1 ----------------------------------------------------
# dovecot_server: one server for the whole session; imap_user: a fresh mailbox per test on it;
# private_dovecot: a factory for tests that stop, restart or break their own server.
# Missing dovecot or not root: a skip on a developer machine, a failure when CI is set, so that
# CI can never go green by silently skipping every IMAP test.

_user_numbers = itertools.count(1)


def _dovecot_unavailable() -> str | None:
    if find_binary("dovecot") is None:
        return "dovecot is not installed (apt-get install -y dovecot-imapd)"
    if os.geteuid() != 0:
        return "the Dovecot harness needs root (the master setuids to the mail user)"
    return None


def require_dovecot() -> None:
    require(_dovecot_unavailable(), "IMAP tests")


@dataclass(frozen=True)
class ImapUser:
    name: str
    password: str
    server: Dovecot

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    require_dovecot()
    server = Dovecot()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def imap_user(dovecot_server: Dovecot, request: pytest.FixtureRequest) -> ImapUser:
    """A new user per test, named after it so the Dovecot log is easy to read."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    name = f"{slug}-{next(_user_numbers)}"
    password = secrets.token_hex(8)
    dovecot_server.add_user(name, password)
    return ImapUser(name, password, dovecot_server)


@pytest.fixture
def private_dovecot() -> Iterator[Callable[..., Dovecot]]:
    """make(start=True) -> a Dovecot of the test's own; all are closed after the test."""
    require_dovecot()
    with contextlib.ExitStack() as stack:

        def make(start: bool = True) -> Dovecot:
            server = Dovecot()
            stack.callback(server.close)
            if start:
                server.start()
            return server

        yield make


# --- end of Dovecot fixtures ---------------------------------------------------------------------
