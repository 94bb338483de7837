"""The ``claimwatch`` command (DESIGN.md's public contract).

Errors stop here: a :class:`~daemon.errors.ClaimwatchError` is printed as one line naming what is
wrong and the process exits 1; anything else is a bug and keeps its traceback.
"""

import json
import shlex
import sys
from pathlib import Path

import click

from daemon.config import load_config
from daemon.errors import ClaimwatchError
from daemon.logs import setup_logging
from evidence_store.summary import STATUSES

CASE_ACTIONS = ("note", "status", "open", "export")

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
    from daemon.state import now
    from evidence_store.commands import format_cases, list_cases

    cases_dir = load_config(config_path, required=False).data_dir / "cases"
    found = list_cases(cases_dir, show_all)
    click.echo(
        json.dumps(found, indent=2, ensure_ascii=False)
        if as_json
        else format_cases(found, cases_dir, show_all, now())
    )


@main.command(name="case")
@config_option
@click.option("--json", "as_json", is_flag=True, help="print case.json instead of the summary")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="export: zip file or directory (default: data_dir/exports/)",
)
@click.argument("ref", metavar="ID")
@click.argument("action", required=False, type=click.Choice(CASE_ACTIONS))
@click.argument("words", nargs=-1, metavar="[TEXT|STATUS]")
def case_command(
    config_path: Path | None,
    as_json: bool,
    out: Path | None,
    ref: str,
    action: str | None,
    words: tuple[str, ...],
) -> None:
    """One case, by case id, order id or other reference.

    \b
    claimwatch case ID                 the summary (README.md); --json: case.json
    claimwatch case ID note TEXT       add a note to its timeline
    claimwatch case ID status STATUS   set its status, e.g. responded
    claimwatch case ID open            open its folder (xdg-open)
    claimwatch case ID export          zip evidence pack with a drafted response
    """
    from evidence_store import commands
    from evidence_store.cases import find_case

    config = load_config(config_path, required=False)
    folder = find_case(config.data_dir / "cases", ref)
    if action is None:
        case = folder.read_case()
        click.echo(
            json.dumps(case, indent=2, ensure_ascii=False)
            if as_json
            else commands.show_case(folder)
        )
    elif action == "note":
        commands.add_note(folder, " ".join(words))
        click.echo(f"note added to {folder.id}")
    elif action == "status":
        if len(words) != 1 or words[0] not in STATUSES:
            raise click.BadParameter(f"give one of: {', '.join(STATUSES)}", param_hint="STATUS")
        commands.set_status(folder, words[0])
        click.echo(f"{folder.id}: {words[0]}")
    elif action == "open":
        commands.open_folder(folder, config.open_command)
    else:
        click.echo(commands.export(folder, out))


@main.command()
@config_option
@click.argument("action", type=click.Choice(["install", "uninstall"]))
@click.option(
    "--print", "print_only", is_flag=True, help="show the unit and commands, change nothing"
)
def service(config_path: Path | None, action: str, print_only: bool) -> None:
    """Install (write, enable, start) or uninstall the systemd user unit."""
    from daemon import service_install as si

    if print_only:
        text = si.render(config_path) if action == "install" else ""
        commands = si.install_commands() if action == "install" else si.uninstall_commands()
        target = si.unit_path()
        click.echo(f"# {target}\n{text}" if text else f"# remove {target}")
        click.echo("\n".join(shlex.join(c) for c in commands))
        return
    lines = si.install(config_path) if action == "install" else si.uninstall()
    click.echo("\n".join(lines))
    if action == "install":
        click.echo(
            "claimwatch runs while you are logged in; 'journalctl --user -u claimwatch' logs"
        )
