"""The spool's crash-safety and duplicate rules, on a real directory."""

import json
import os

from daemon.spool import Origin, Spool, content_hash, message_id_of

MSG = b"Message-ID: <a1@example.com>\r\nSubject: hi\r\n\r\nbody\r\n"
OTHER = b"Message-ID: <b2@example.com>\r\nSubject: hi\r\n\r\nother\r\n"


def imap(uid: int, validity: int = 7) -> Origin:
    return Origin.imap("acct", "INBOX", validity, uid)


def test_a_message_is_stored_once_per_origin(tmp_path):
    spool = Spool(tmp_path)
    assert len(spool.add([(imap(1), MSG), (imap(2), OTHER)])) == 2
    assert spool.add([(imap(1), MSG)]) == []
    assert spool.has_origin(imap(2)) and not spool.has_origin(imap(3))
    assert len(os.listdir(tmp_path / "spool" / "new")) == 2


def test_same_content_under_a_new_origin_becomes_an_alias(tmp_path):
    spool = Spool(tmp_path)
    spool.add([(imap(1), MSG)])
    assert spool.add([(imap(1, validity=8), MSG), (Origin.drop("x.eml"), MSG)]) == []
    assert spool.has_origin(imap(1, validity=8))
    assert spool.count() == 1
    reopened = Spool(tmp_path)
    assert reopened.has_origin(imap(1, validity=8)) and reopened.count() == 1


def test_line_endings_do_not_defeat_the_content_identity():
    assert content_hash(MSG) == content_hash(MSG.replace(b"\r\n", b"\n"))


def test_a_ledger_line_without_its_file_does_not_count(tmp_path):
    """A crash after the ledger append but before the rename: the UID must be fetched again."""
    spool = Spool(tmp_path)
    (name,) = spool.add([(imap(1), MSG)])
    os.unlink(tmp_path / "spool" / "new" / name)
    (tmp_path / "spool" / "tmp" / name).write_bytes(MSG)
    reopened = Spool(tmp_path)
    assert not reopened.has_origin(imap(1))
    assert os.listdir(tmp_path / "spool" / "tmp") == []
    assert len(reopened.add([(imap(1), MSG)])) == 1


def test_a_torn_last_ledger_line_is_cut_and_later_appends_stay_readable(tmp_path):
    spool = Spool(tmp_path)
    spool.add([(imap(1), MSG)])
    with open(spool.ledger_path, "ab") as f:
        f.write(b'{"key": "imap\\u0000acct')
    reopened = Spool(tmp_path)
    reopened.add([(imap(2), OTHER)])
    lines = spool.ledger_path.read_bytes().splitlines()
    assert [json.loads(line)["origin"]["uid"] for line in lines] == [1, 2]


def test_processed_messages_stay_known_and_readable(tmp_path):
    spool = Spool(tmp_path)
    (name,) = spool.add([(imap(1), MSG)])
    spool.mark_done([name])
    assert spool.pending() == []
    reopened = Spool(tmp_path)
    assert reopened.has_origin(imap(1))
    assert reopened.read(name) == MSG


def test_spool_files_are_private(tmp_path):
    spool = Spool(tmp_path)
    (name,) = spool.add([(imap(1), MSG)])
    assert (tmp_path / "spool" / "new" / name).stat().st_mode & 0o077 == 0
    assert (tmp_path / "spool").stat().st_mode & 0o077 == 0


def test_message_id_is_read_from_the_header_block_only():
    assert message_id_of(MSG) == "<a1@example.com>"
    folded = b"Subject: x\nMessage-ID:\n <c3@example.com>\n\nMessage-ID: <body@x>\n"
    assert message_id_of(folded) == "<c3@example.com>"
    assert message_id_of(b"Subject: none\r\n\r\nMessage-ID: <body@x>\r\n") is None
