"""The test harness itself: if these fail, every IMAP test after them means nothing."""

from __future__ import annotations

import email
import email.policy
import email.utils
import socket
import ssl
import time

import mailgen
from imapclient import IMAPClient


def _login(user) -> IMAPClient:
    client = IMAPClient(user.host, port=user.port, ssl=False, timeout=10)
    client.login(user.name, user.password)
    return client


def test_append_gives_uids_and_keeps_flags(imap_user):
    server, name = imap_user.server, imap_user.name
    msgs = mailgen.generate(3, seed=1)
    server.append(name, "INBOX", msgs)

    assert server.uids(name, "INBOX") == [1, 2, 3]
    assert server.flags(name, "INBOX") == {1: (), 2: (), 3: ()}
    client = _login(imap_user)
    try:
        client.select_folder("INBOX", readonly=True)
        data = client.fetch([1, 2, 3], ["BODY.PEEK[]", "INTERNALDATE"])
    finally:
        client.logout()
    assert [data[u][b"BODY[]"] for u in (1, 2, 3)] == msgs
    sent = email.message_from_bytes(msgs[0])["Date"]
    assert data[1][b"INTERNALDATE"] == email.utils.parsedate_to_datetime(sent).astimezone().replace(
        tzinfo=None
    )
    assert server.flags(name, "INBOX") == {1: (), 2: (), 3: ()}, "reading must not set \\Seen"


def test_append_creates_folder_with_flags(imap_user):
    server, name = imap_user.server, imap_user.name
    server.append(name, "Claims", mailgen.generate(2, seed=2), flags=["\\Seen", "$Label1"])
    assert server.flags(name, "Claims") == {1: ("\\Seen", "$Label1"), 2: ("\\Seen", "$Label1")}


def test_recreate_folder_changes_uidvalidity_keeps_messages(imap_user):
    server, name = imap_user.server, imap_user.name
    msgs = mailgen.generate(3, seed=3)
    for folder in ("INBOX", "Archive"):
        server.append(name, folder, msgs)
        before = server.uidvalidity(name, folder)
        after = server.recreate_folder(name, folder)
        assert after != before
        assert server.uidvalidity(name, folder) == after
        assert len(server.uids(name, folder)) == 3
        assert set(server.flags(name, folder).values()) == {()}


def test_load_maildir_is_visible_over_imap(imap_user):
    server, name = imap_user.server, imap_user.name
    msgs = mailgen.generate(20, seed=4)
    server.load_maildir(name, msgs)
    assert server.uids(name, "INBOX") == list(range(1, 21))
    assert set(server.flags(name, "INBOX").values()) == {()}
    client = _login(imap_user)
    try:
        client.select_folder("INBOX", readonly=True)
        sizes = client.fetch(client.search("ALL"), ["RFC822.SIZE"])
    finally:
        client.logout()
    assert sorted(v[b"RFC822.SIZE"] for v in sizes.values()) == sorted(map(len, msgs))


def test_tls_and_starttls_verify_against_cert_file(imap_user):
    ctx = ssl.create_default_context(cafile=str(imap_user.server.cert_file))
    with (
        socket.create_connection((imap_user.host, imap_user.server.tls_port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.recv(100).startswith(b"* OK")
    client = IMAPClient(imap_user.host, port=imap_user.port, ssl=False, timeout=10)
    try:
        client.starttls(ctx)
        client.login(imap_user.name, imap_user.password)
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 0
    finally:
        client.logout()


def test_idle_sees_new_mail(imap_user):
    client = _login(imap_user)
    try:
        client.select_folder("INBOX", readonly=True)
        client.idle()
        imap_user.server.append(imap_user.name, "INBOX", mailgen.generate(1, seed=5))
        deadline = time.monotonic() + 10
        seen = []
        while not seen and time.monotonic() < deadline:
            seen = [r for r in client.idle_check(timeout=1) if r[1] == b"EXISTS"]
        client.idle_done()
    finally:
        client.logout()
    assert seen, "no EXISTS pushed during IDLE"


def test_restart_keeps_ports_and_mail(private_dovecot, dovecot_server):
    server = private_dovecot()
    assert server.instance_name != dovecot_server.instance_name
    server.add_user("alice", "pw")
    server.append("alice", "INBOX", mailgen.generate(2, seed=6))
    ports, validity = (server.port, server.tls_port), server.uidvalidity("alice", "INBOX")

    server.restart()

    assert (server.port, server.tls_port) == ports
    assert server.uids("alice", "INBOX") == [1, 2]
    assert server.uidvalidity("alice", "INBOX") == validity
    assert dovecot_server.running, "instances must not interfere"


def test_mailgen_is_deterministic_and_sized():
    a = mailgen.generate(200, seed=7)
    assert a == mailgen.generate(200, seed=7)
    assert a != mailgen.generate(200, seed=8)
    assert all(2_000 <= len(m) <= 80_000 for m in a)
    assert all(b"\n" not in m.replace(b"\r\n", b"") for m in a), "CRLF only"
    small = mailgen.generate(50, seed=7, min_size=5_000, max_size=9_000)
    assert all(5_000 <= len(m) <= 9_000 for m in small)


def test_mailgen_messages_are_well_formed():
    msgs = [email.message_from_bytes(m, policy=email.policy.default) for m in mailgen.generate(300)]
    assert len({m["Message-ID"] for m in msgs}) == 300
    assert all(not m.defects and m.get_body(("plain",)) and m.get_body(("html",)) for m in msgs)
    dates = [m["Date"].datetime for m in msgs]
    assert dates == sorted(dates), "a mailbox is chronological"
    assert max(dates) - min(dates) > mailgen.SPAN * 0.9
    subjects = " ".join(str(m["Subject"]) for m in msgs)
    for word in ("Vendu", "Verkauft", "Vendido", "Venduto", "Sold", "A-to-z"):
        assert word in subjects
    assert any(a.get_content_type() == "image/jpeg" for m in msgs for a in m.iter_attachments())
