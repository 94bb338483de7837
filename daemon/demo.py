"""``claimwatch demo``: the flow on bundled sample seller mail, with no account and no network.

The samples are dropped into a fresh drop folder, spooled, parsed (a broken one is quarantined
with its reason), classified into tiers, filed into case folders, and listed. Alerts join the
demo when their issue lands.
"""

import dataclasses
import json
import tempfile
from importlib import resources
from pathlib import Path

import click

from daemon.config import default_config
from daemon.message import Message
from daemon.service import Daemon
from daemon.state import now
from evidence_store.commands import format_cases, list_cases


def _copy_samples(inbox: Path) -> int:
    inbox.mkdir(parents=True, exist_ok=True)
    count = 0
    for sample in sorted(resources.files("daemon").joinpath("samples").iterdir()):
        if sample.name.endswith(".eml"):
            (inbox / sample.name).write_bytes(sample.read_bytes())
            count += 1
    return count


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _verdicts(path: Path) -> dict[str, dict]:
    """The last verdict recorded for each spooled message."""
    if not path.exists():
        return {}
    lines = (json.loads(line) for line in path.read_text().splitlines())
    return {v["spool_file"]: v for v in lines}


def run_demo(data_dir: Path | None = None) -> None:
    """Run one pass over the samples and print what happened."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="claimwatch-demo-"))
    config = dataclasses.replace(
        default_config(), data_dir=data_dir, drop_folder=data_dir / "inbox"
    )
    count = _copy_samples(config.drop_folder)
    seen: list[tuple[str, dict, Message]] = []
    daemon = Daemon(config, handlers=[lambda name, record, msg: seen.append((name, record, msg))])
    daemon.run_once()
    click.secho(
        f"claimwatch demo: {count} sample messages dropped into {config.drop_folder}", bold=True
    )
    verdicts = _verdicts(daemon.verdicts.path)
    click.echo(f"{'label':11} {'tier':>4} {'conf':>5}  {'file':34} {'order':19} subject")
    for name, record, msg in seen:
        file = record.get("origin", {}).get("filename", "")
        verdict = verdicts.get(name, {})
        label = verdict.get("label", "?") + ("?" if verdict.get("needs_review") else "")
        orders = verdict.get("order_ids", []) + verdict.get("shop_orders", [])
        line = (
            f"{label:11} {verdict.get('tier', '?'):>4} {verdict.get('confidence', 0):5.2f}  "
            f"{_shorten(file, 34):34} {(orders or ['-'])[0]:19} {_shorten(msg.subject, 50)}"
        )
        click.secho(line, fg="red" if verdict.get("tier") == 1 else None)
    model = daemon.classifier.model
    click.echo(f"('?' after a label: needs review)   model: {model.version if model else 'none'}")
    for name, reason in daemon.totals.reasons.items():
        click.secho(f"quarantined {name}: {reason}", fg="yellow")
    click.echo(
        f"\nspooled {daemon.spool.count()} message(s) in {daemon.spool.root}; "
        f"processed {daemon.totals.processed}, quarantined {daemon.totals.quarantined} "
        f"(see {daemon.processor.quarantine_dir})"
    )
    click.echo("originals moved to " + str(config.drop_folder / "done"))
    _print_cases(data_dir / "cases")
    click.echo(f"remove the demo with: rm -r {data_dir}")


def _print_cases(cases_dir: Path) -> None:
    """The case folders the run opened, as ``claimwatch cases --all`` lists them."""
    click.secho("\ncases (claimwatch cases --all):", bold=True)
    found = list_cases(cases_dir, show_all=True)
    click.echo(format_cases(found, cases_dir, show_all=True, now=now()))
    click.echo(f"browse them offline: {cases_dir / 'index.html'}")
