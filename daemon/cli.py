"""The ``claimwatch`` command (DESIGN.md's public contract).

Errors stop here: a :class:`~daemon.errors.ClaimwatchError` is printed as one line naming what is
wrong and the process exits 1; anything else is a bug and keeps its traceback.
"""

import json
import sys
from pathlib import Path

import click

from daemon.config import load_config
from daemon.errors import ClaimwatchError
from daemon.logs import setup_logging
from evidence_store.summary import STATUSES

CONFIG_HELP = (
    "configuration file (default: $CLAIMWATCH_CONFIG, then ~/.config/claimwatch/config.toml)"
)
config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=CONFIG_HELP
)


class _Group(click.Group):
    """Turns our own errors into one readable line and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ClaimwatchError as e:
            click.echo(f"claimwatch: error: {e}", err=True)
            ctx.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="claimwatch")
def main() -> None:
    """Watch a seller's notification mailbox; file A-to-z claims and chargebacks before their
    deadline."""


@main.command()
@config_option
@click.option("--once", is_flag=True, help="sync every account, process, then exit")
def run(config_path: Path | None, once: bool) -> None:
    """Run the daemon (or one pass with --once)."""
    from daemon.service import Daemon

    config = load_config(config_path)
    setup_logging(config.log_level)
    daemon = Daemon(config)
    sys.exit(daemon.run_once() if once else daemon.run_forever())


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(config_path: Path | None, as_json: bool) -> None:
    """Health: accounts, last sync, queue, last errors."""
    from daemon.status_report import format_status, gather_status

    report = gather_status(load_config(config_path, required=False))
    click.echo(json.dumps(report, indent=2) if as_json else format_status(report))


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line and file")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def classify(config_path: Path | None, as_json: bool, files: tuple[Path, ...]) -> None:
    """Classify .eml files: label, tier, confidence, reasons."""
    from classifier.commands import classify_files, format_verdict

    setup_logging("warning")
    results = classify_files(load_config(config_path, required=False), files)
    for result in results:
        click.echo(json.dumps(result, ensure_ascii=False) if as_json else format_verdict(result))
    if any("error" in r for r in results):
        sys.exit(1)


@main.command()
@config_option
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="labeled corpus <dir>/<label>/*.eml (default: the shipped corpus); repeatable",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="where to write the model (default: data_dir/model)",
)
@click.option("--force", is_flag=True, help="install the new model even if it scores worse")
def train(config_path: Path | None, data: tuple[Path, ...], out: Path | None, force: bool) -> None:
    """Train on the shipped corpus plus your labeled mail."""
    from classifier.commands import run_training

    setup_logging("warning")
    click.echo(run_training(load_config(config_path, required=False), list(data), out, force))


@main.command()
@config_option
@click.option(
    "--data",
    required=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="labeled messages <dir>/<label>/*.eml",
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def evaluate(config_path: Path | None, data: Path, as_json: bool) -> None:
    """Score the current model and rules on labeled mail."""
    from classifier.commands import format_evaluation, run_evaluation

    setup_logging("warning")
    result = run_evaluation(load_config(config_path, required=False), data)
    click.echo(json.dumps(result, indent=2) if as_json else format_evaluation(result))


@main.command()
@config_option
@click.argument("ref")
@click.argument("label")
def label(config_path: Path | None, ref: str, label: str) -> None:
    """Record that message REF (a file, spool name or Message-ID) has label LABEL."""
    from classifier.commands import add_label

    try:
        path = add_label(load_config(config_path, required=False), ref, label)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="LABEL") from e
    click.echo(f"saved as {path}; run 'claimwatch train' to learn from it")


@main.command()
@config_option
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="where to keep the demo's spool (default: a new temporary directory)",
)
def demo(config_path: Path | None, data_dir: Path | None) -> None:
    """The whole flow on bundled sample mail, no account needed."""
    from daemon.demo import run_demo

    setup_logging("error")
    run_demo(data_dir)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="a JSON list of case.json objects")
@click.option("--all", "show_all", is_flag=True, help="closed and decided cases too")
def cases(config_path: Path | None, as_json: bool, show_all: bool) -> None:
    """Open cases, most urgent first."""
    from evidence_store.commands import format_cases, list_cases

    cases_dir = load_config(config_path, required=False).data_dir / "cases"
    found = list_cases(cases_dir, show_all)
    click.echo(
        json.dumps(found, indent=2, ensure_ascii=False)
        if as_json
        else format_cases(found, cases_dir, show_all)
    )


@main.group(invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="print case.json")
@click.argument("ref", metavar="ID")
@click.pass_context
def case(ctx: click.Context, config_path: Path | None, as_json: bool, ref: str) -> None:
    """One case (by case id, order id or other reference): its summary, or a sub-command."""
    from evidence_store.cases import find_case
    from evidence_store.commands import show_case

    folder = find_case(load_config(config_path, required=False).data_dir / "cases", ref)
    ctx.obj = folder
    if ctx.invoked_subcommand is None:
        click.echo(
            json.dumps(folder.read_case(), indent=2, ensure_ascii=False)
            if as_json
            else show_case(folder)
        )


@case.command()
@click.argument("text", nargs=-1, required=True)
@click.pass_obj
def note(folder, text: tuple[str, ...]) -> None:
    """Add a note to the case's timeline."""
    from evidence_store.commands import add_note

    add_note(folder, " ".join(text))
    click.echo(f"note added to {folder.id}")


@case.command(name="status")
@click.argument("new_status", metavar="STATUS", type=click.Choice(STATUSES))
@click.pass_obj
def case_status(folder, new_status: str) -> None:
    """Set the case's status (e.g. responded once you have answered)."""
    from evidence_store.commands import set_status

    set_status(folder, new_status)
    click.echo(f"{folder.id}: {new_status}")


@case.command(name="open")
@click.pass_obj
def open_case(folder) -> None:
    """Open the case folder in the file manager (xdg-open)."""
    from evidence_store.commands import open_folder

    open_folder(folder)


@case.command(name="export")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="zip file or directory (default: data_dir/exports/)",
)
@click.pass_obj
def export_pack(folder, out: Path | None) -> None:
    """Write a zip evidence pack with a drafted response in the marketplace's language."""
    from evidence_store.commands import export

    click.echo(export(folder, out))
