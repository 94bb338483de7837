"""``python -m daemon`` is the ``claimwatch`` command (used by the tests to run the real CLI)."""

from daemon.cli import main

main(prog_name="claimwatch")
