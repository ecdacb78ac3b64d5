"""Docs stay true: every command-line option is documented in docs/cli.md."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from memlens.cli import COMMANDS, build_parser

CLI_DOC = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub: argparse.ArgumentParser = action.choices[name]
            return sub
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_every_option_is_in_the_cli_doc(command: str) -> None:
    assert f"## `memlens {command}`" in CLI_DOC
    for action in _subparser(command)._actions:
        for flag in action.option_strings:
            if flag in ("-h", "--help"):
                continue
            assert f"`{flag}" in CLI_DOC, f"{command} {flag} is not documented in docs/cli.md"
