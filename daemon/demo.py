"""``claimwatch demo``: the whole flow on bundled sample seller mail, with no account.

An IMAP server of its own on 127.0.0.1 (daemon/demo_server.py) holds the samples, in five
languages; the daemon syncs that mailbox as it would a seller's, parses (a broken message is
quarantined with its reason), classifies, files the tier-1 mail into case folders with their
deadlines, and raises its alerts: on the desktop when a session bus is there, otherwise they are
printed. The clock is set to the morning after the samples arrived, so the demo tells the same
story on any day.
"""

import dataclasses
import json
import os
import tempfile
from importlib import resources
from pathlib import Path

import click

from daemon.config import Account, default_config
from daemon.demo_server import DemoImapServer
from daemon.message import Message
from daemon.service import Daemon
from daemon.state import CLOCK_VARIABLE, now
from evidence_store.commands import format_cases, list_cases

DEMO_CLOCK = "2026-11-21T09:00:00+00:00"  # the morning after the samples arrived
PASSWORD_VARIABLE = "CLAIMWATCH_DEMO_PASSWORD"


def sample_messages() -> list[tuple[str, bytes]]:
    """(file name, bytes) of the bundled samples, in order."""
    folder = resources.files("daemon").joinpath("samples")
    found = sorted((p.name, p.read_bytes()) for p in folder.iterdir() if p.name.endswith(".eml"))
    return found


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _verdicts(path: Path) -> dict[str, dict]:
    """The last verdict recorded for each spooled message."""
    if not path.exists():
        return {}
    lines = (json.loads(line) for line in path.read_text().splitlines())
    return {v["spool_file"]: v for v in lines}


def demo_config(data_dir: Path, server: DemoImapServer):
    """A configuration with one account: the demo server, over plain IMAP on loopback."""
    os.environ[PASSWORD_VARIABLE] = server.password
    account = Account(
        name="demo",
        host=server.host,
        port=server.port,
        security="none",
        username=server.user,
        auth="login",
        password_file=None,
        password_command=None,
        password_env=PASSWORD_VARIABLE,
        folders=("INBOX",),
        ca_file=None,
        idle=False,
        poll_interval=60.0,
    )
    return dataclasses.replace(
        default_config(),
        data_dir=data_dir,
        drop_folder=data_dir / "inbox",
        accounts=(account,),
    )


def run_demo(data_dir: Path | None = None) -> None:
    """Serve the samples over IMAP, run one pass of the daemon on them, print what happened."""
    os.environ.setdefault(CLOCK_VARIABLE, DEMO_CLOCK)
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="claimwatch-demo-"))
    samples = sample_messages()
    names = {raw: name for name, raw in samples}
    with DemoImapServer([raw for _, raw in samples]) as server:
        config = demo_config(data_dir, server)
        seen: list[tuple[str, dict, Message]] = []
        daemon = Daemon(config, handlers=[lambda name, rec, msg: seen.append((name, rec, msg))])
        failed = daemon.run_once()
    click.secho(
        f"claimwatch demo: {len(samples)} sample messages served by an IMAP server on "
        f"{server.host}:{server.port}, synced into {daemon.spool.root}",
        bold=True,
    )
    if failed:
        click.secho("the demo could not sync its own IMAP server; see the errors above", fg="red")
    click.echo(f"clock: {now():%Y-%m-%d %H:%M} UTC (${CLOCK_VARIABLE} changes it)\n")
    _print_triage(daemon, seen, names)
    _print_cases(data_dir / "cases")
    _print_alerts(daemon)
    click.echo(f"remove the demo with: rm -r {data_dir}")


def _print_triage(daemon: Daemon, seen: list, names: dict[bytes, str]) -> None:
    verdicts = _verdicts(daemon.verdicts.path)
    click.echo(f"{'label':11} {'tier':>4} {'conf':>5}  {'sample':34} {'order':19} subject")
    for name, _record, msg in seen:
        verdict = verdicts.get(name, {})
        label = verdict.get("label", "?") + ("?" if verdict.get("needs_review") else "")
        orders = verdict.get("order_ids", []) + verdict.get("shop_orders", [])
        sample = names.get(daemon.spool.read(name), name)
        line = (
            f"{label:11} {verdict.get('tier', '?'):>4} {verdict.get('confidence', 0):5.2f}  "
            f"{_shorten(sample, 34):34} {(orders or ['-'])[0]:19} {_shorten(msg.subject, 50)}"
        )
        click.secho(line, fg="red" if verdict.get("tier") == 1 else None)
    model = daemon.classifier.model
    click.echo(f"('?' after a label: needs review)   model: {model.version if model else 'none'}")
    for name, reason in daemon.totals.reasons.items():
        click.secho(
            f"quarantined {names.get(daemon.spool.read(name), name)}: {reason}", fg="yellow"
        )
    click.echo(
        f"processed {daemon.totals.processed}, quarantined {daemon.totals.quarantined} "
        f"(see {daemon.processor.quarantine_dir})"
    )


def _print_cases(cases_dir: Path) -> None:
    """The case folders the run opened, as ``claimwatch cases --all`` lists them."""
    click.secho("\ncases (claimwatch cases --all), most urgent first:", bold=True)
    found = list_cases(cases_dir, show_all=True)
    click.echo(format_cases(found, cases_dir, show_all=True, now=now()))
    for case in found:
        click.echo(f"  {case['id']}: {cases_dir / case['id']}")
    click.echo(f"browse them offline: {cases_dir / 'index.html'}")


def _print_alerts(daemon: Daemon) -> None:
    """The alerts the run raised, and where they went (the desktop, or here)."""
    path = daemon.ledger.path
    lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    click.secho("\nalerts:", bold=True)
    if not lines:
        click.echo("  none")
    for line in lines:
        where = {"desktop": "on your desktop", "command": "to notify_command"}.get(
            line["channel"], "printed here (no desktop session bus)"
        )
        for title in line.get("titles", []):
            click.echo(f"  {title}  [{where}]")
