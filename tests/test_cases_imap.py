"""End to end on a real Dovecot: an order's mail arrives over weeks and ends in one case folder;
the ``cases`` and ``case`` commands work on it while it is there."""

import json
import os
import zipfile
from datetime import UTC, datetime, timedelta

import sellermail
from support import claimwatch, write_config

from evidence_store.folder import CaseFolder

ORDER = "171-5551234-7654321"
START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def test_an_orders_mail_over_weeks_makes_one_case(imap_user, tmp_path):
    server, user = imap_user.server, imap_user.name
    config = write_config(tmp_path, server, imap_user)
    cases = tmp_path / "data" / "cases"
    shipping, claim, reminder, decision = sellermail.life_of_an_order(ORDER, START)

    server.append(user, "INBOX", [shipping])  # the shipping confirmation, three weeks earlier
    assert claimwatch("run", "--once", "--config", str(config)).returncode == 0
    assert not (cases / f"order-{ORDER}").exists()  # routine mail opens no case

    server.append(user, "INBOX", [claim])
    assert claimwatch("run", "--once", "--config", str(config)).returncode == 0
    server.append(user, "INBOX", [reminder, decision])
    assert claimwatch("run", "--once", "--config", str(config)).returncode == 0

    visible = sorted(p.name for p in cases.iterdir() if not p.name.startswith("."))
    assert visible == ["index.html", f"order-{ORDER}"]
    folder = cases / f"order-{ORDER}"
    stored = sorted((folder / "messages").iterdir())
    unix = lambda data: data.replace(b"\r\n", b"\n")  # noqa: E731  (IMAP hands out CRLF)
    assert sorted(unix(p.read_bytes()) for p in stored) == sorted(
        unix(m) for m in (shipping, claim, reminder, decision)
    )
    case = json.loads((folder / "case.json").read_text())
    assert [t["number"] for t in case["tracking"]] == [sellermail.UPS]
    assert case["status"] == "denied"  # from the last notice: closed in the seller's favour
    timeline = CaseFolder(folder).read_timeline()
    assert [(line["role"], line["label"]) for line in timeline] == [
        ("history", "routine"),
        ("opened", "a_to_z"),
        ("joined", "a_to_z"),
        ("joined", "a_to_z"),
    ]
    assert f"order-{ORDER}" in (cases / "index.html").read_text()
    readme = (folder / "README.md").read_text()
    assert sellermail.UPS in readme and "- [x] Tracking number" in readme


def test_the_case_commands(imap_user, tmp_path):
    server, user = imap_user.server, imap_user.name
    # dated weeks ago and met at the first sync: without this they would be backfill
    config = str(write_config(tmp_path, server, imap_user, extra='backfill_age = "3650d"'))
    other = "171-0000001-0000002"
    server.append(
        user,
        "INBOX",
        [
            sellermail.shipping(ORDER, START),
            sellermail.claim(ORDER, START + timedelta(days=21)),
            sellermail.buyer_damaged(other, START, [("photo.png", sellermail.PNG)]),
        ],
    )
    assert claimwatch("run", "--once", "--config", config).returncode == 0

    listed = json.loads(claimwatch("cases", "--json", "--config", config).stdout)
    # the nearest deadline first: the buyer's 24 h response target passed weeks before the
    # claim's "3 calendar days"
    assert [c["id"] for c in listed] == [f"order-{other}", f"order-{ORDER}"]
    assert [c["deadline_source"] for c in listed] == ["policy:buyer-at-risk", "stated"]
    status = json.loads(claimwatch("status", "--json", "--config", config).stdout)
    assert [(c["id"], c["label"], c["urgency"]) for c in status["cases"]] == [
        (f"order-{other}", "at_risk", "overdue"),
        (f"order-{ORDER}", "a_to_z", "overdue"),
    ]
    table = claimwatch("cases", "--config", config).stdout
    assert f"order-{ORDER}" in table and "A-to-z" in table and "2 case(s)" in table

    summary = claimwatch("case", ORDER, "--config", config)  # found by its order id
    assert summary.returncode == 0 and summary.stdout.startswith("# A-to-z Guarantee claim")

    note = claimwatch("case", f"order-{ORDER}", "note", "called", "UPS", "--config", config)
    assert note.returncode == 0, note.stderr
    assert (
        claimwatch("case", f"order-{other}", "status", "closed", "--config", config).returncode == 0
    )
    shown = json.loads(claimwatch("case", f"order-{ORDER}", "--json", "--config", config).stdout)
    assert shown["notes"][0]["text"] == "called UPS"

    listed = json.loads(claimwatch("cases", "--json", "--config", config).stdout)
    assert [c["id"] for c in listed] == [f"order-{ORDER}"]  # the closed case needs --all
    listed = json.loads(claimwatch("cases", "--json", "--all", "--config", config).stdout)
    assert [c["status"] for c in listed] == ["open", "closed"]

    pack = tmp_path / "pack.zip"
    done = claimwatch("case", ORDER, "export", "--out", str(pack), "--config", config)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(pack) as zf:
        names = zf.namelist()
        response = zf.read(f"order-{ORDER}/response.txt").decode()
    assert f"order-{ORDER}/case.json" in names
    assert sum(n.startswith(f"order-{ORDER}/messages/") for n in names) == 2
    assert ORDER in response and sellermail.UPS in response
    assert os.stat(pack).st_mode & 0o077 == 0
    timeline = CaseFolder(tmp_path / "data" / "cases" / f"order-{ORDER}").read_timeline()
    assert [line["kind"] for line in timeline] == ["message", "message", "note", "export"]

    missing = claimwatch("case", "nope", "--config", config)
    assert missing.returncode == 1
    assert "no case matches 'nope'" in missing.stderr
    bad = claimwatch("case", ORDER, "status", "won", "--config", config)
    assert bad.returncode == 2 and "give one of: open, responded" in bad.stderr
