"""The demo's own IMAP server (pymap, in memory, on 127.0.0.1), met with a real IMAP client."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from daemon.demo import sample_messages
from daemon.demo_server import DemoImapServer


def unix(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


@pytest.fixture
def server():
    with DemoImapServer([raw for _, raw in sample_messages()]) as server:
        yield server


def login(server: DemoImapServer) -> IMAPClient:
    client = IMAPClient(server.host, server.port, ssl=False, timeout=10)
    client.login(server.user, server.password)
    return client


def test_it_serves_the_samples_read_only(server):
    samples = [raw for _, raw in sample_messages()]
    client = login(server)
    try:
        info = client.select_folder("INBOX", readonly=True)
        assert info[b"EXISTS"] == len(samples) and info[b"UIDVALIDITY"]
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["BODY.PEEK[]"])
        assert [unix(fetched[uid][b"BODY[]"]) for uid in uids] == [unix(s) for s in samples]
    finally:
        client.logout()


def test_mail_appended_while_it_runs_is_there_at_the_next_look(server):
    client = login(server)
    try:
        before = client.select_folder("INBOX", readonly=True)[b"EXISTS"]
        server.append([b"From: a@b.example\r\nSubject: late\r\n\r\nhello\r\n"])
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == before + 1
    finally:
        client.logout()


def test_a_wrong_password_is_refused(server):
    client = IMAPClient(server.host, server.port, ssl=False, timeout=10)
    with pytest.raises(LoginError):
        client.login(server.user, "not-" + server.password)


def test_stop_leaves_no_listener_and_no_thread():
    server = DemoImapServer([])
    server.start()
    port = server.port
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert not [t for t in threading.enumerate() if t.name == "claimwatch-demo-imap"]


@pytest.mark.parametrize(("user", "password"), [("-demo", "-starts-with-a-dash"), ("demo", "--x")])
def test_a_password_that_looks_like_an_option_still_logs_in(user, password):
    # token_urlsafe starts with "-" one time in 64: pymap's argparse read it as an option
    with DemoImapServer([b"Subject: x\r\n\r\nhi\r\n"], user=user, password=password) as server:
        client = IMAPClient(server.host, server.port, ssl=False, timeout=10)
        client.login(user, password)
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 1
        client.logout()


def test_stop_with_a_client_still_idling_says_bye_at_once():
    server = DemoImapServer([b"Subject: x\r\n\r\nhi\r\n"])
    server.start()
    client = IMAPClient(server.host, server.port, ssl=False, timeout=10)
    client.login(server.user, server.password)
    client.select_folder("INBOX", readonly=True)
    client.idle()
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    assert not [t for t in threading.enumerate() if t.name.startswith("claimwatch-demo-imap")]
    sock = client._imap.sock
    sock.settimeout(2)
    received = b""
    for _ in range(100):  # bounded: BYE, then EOF
        chunk = sock.recv(1024)
        if not chunk:
            break
        received += chunk
    assert b"BYE" in received
