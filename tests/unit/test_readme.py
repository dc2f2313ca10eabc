"""The README's operator tables stay true: every setting and every CLI command is in it, and nothing else."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from scimhub.cli import build_parser
from scimhub.settings import VARIABLES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n#", start + len(title))
    return README[start:end]


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every command path of the parser: ("tenant", "token", "rotate"), ..."""
    found: set[tuple[str, ...]] = set()
    for action in parser._actions:  # argparse has no public walk of its sub-commands
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _commands(sub, (*prefix, name)) or {(*prefix, name)}
    return found


def test_every_setting_is_in_the_settings_table() -> None:
    table = _section("### Settings")
    listed = set(re.findall(r"`((?:SCIMHUB_|SENTRY_)[A-Z_]+)`", table))
    assert listed == set(VARIABLES.values())


def test_the_command_table_lists_every_command_and_no_other() -> None:
    table = _section("## Operating it")
    listed: set[tuple[str, ...]] = set()
    for row in re.findall(r"^\| (`scimhub [^|]+?)\|", table, re.MULTILINE):
        first, *alternatives = row.split(" / ")
        command = _longest_known(tuple(re.findall(r"[a-z][a-z-]*", first.split("`")[1].removeprefix("scimhub"))))
        listed.add(command)
        for alt in alternatives:  # "`scimhub tenant disable SLUG` / `enable SLUG`"
            listed.add((*command[:-1], re.findall(r"[a-z][a-z-]*", alt)[0]))
    assert listed == _commands(build_parser())


def _longest_known(words: tuple[str, ...]) -> tuple[str, ...]:
    known = _commands(build_parser())
    for n in range(len(words), 0, -1):
        if words[:n] in known:
            return words[:n]
    raise AssertionError(f"the README names an unknown command: scimhub {' '.join(words)}")
