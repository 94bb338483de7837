"""Malformed and hostile mail through the real pipeline: spooled, then parsed or quarantined."""

import json
import os

from tests import hostile
from tests.support import claimwatch, spooled, write_config


def files_under(root) -> set[str]:
    return {os.path.join(d, f) for d, _, names in os.walk(root) for f in names}


def test_hostile_messages_are_spooled_then_parsed_or_quarantined(imap_user, tmp_path):
    server, user = imap_user.server, imap_user.name
    cases = {name: raw for name, raw in hostile.HOSTILE.items() if raw}  # IMAP refuses 0 bytes
    cases["huge_attachment"] = hostile.huge_attachment()
    server.append(user, "INBOX", list(cases.values()))
    config = write_config(tmp_path, server, imap_user)
    data = tmp_path / "data"
    (data / "inbox").mkdir(parents=True)
    (data / "inbox" / "empty.eml").write_bytes(b"")
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    before = files_under(tmp_path)

    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    result = claimwatch("run", "--once", "--config", str(config), cwd=cwd, env=env, timeout=300)
    assert result.returncode == 0, result.stderr

    assert len(spooled(data)) == len(cases) + 1
    assert os.listdir(data / "spool" / "new") == [], "every message was handed on"
    notes = [json.loads(p.read_text()) for p in (data / "quarantine").glob("*.json")]
    reasons = [n["reason"] for n in notes]
    assert any("empty" in r for r in reasons), reasons
    for note in notes:
        assert note["reason"].startswith("cannot parse: ")
        assert (data / "quarantine" / f"{note['spool_file']}.eml").exists()
    assert len(notes) < len(cases) // 2, f"too much quarantined: {reasons}"
    written_outside = {f for f in files_under(tmp_path) - before if not f.startswith(str(data))}
    assert written_outside == set()
