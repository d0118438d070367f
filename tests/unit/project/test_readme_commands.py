"""Every `arbkit ...` command the README names exists, with every option the README gives it: the
README describes what this build has (issue 19: "the README's claims each match a command that
works"). Read through the CLI's own command tree (typer's click command objects), no subprocess per command."""

from __future__ import annotations

import re
from pathlib import Path

import typer
import typer.main

from arbkit.cli import app

README = Path(__file__).resolve().parents[3] / "README.md"
_SPAN = re.compile(r"`(arbkit [^`]+)`")


def _spans() -> list[str]:
    return sorted(set(_SPAN.findall(README.read_text(encoding="utf-8"))))


def _resolve(root, words: list[str]) -> list:
    """(command, remaining words) for every path the words name ("tail | show | verify" branches)."""
    out = []
    stack = [(root, words)]
    while stack:
        cmd, rest = stack.pop()
        # "a | b | c" written with spaces is one alternative group
        if rest and _is_group(cmd):
            group = [rest[0]]
            i = 1
            while i + 1 < len(rest) and rest[i] == "|":
                group.append(rest[i + 1])
                i += 2
            names = [n for g in group for n in g.split("|")]
            if all(n in cmd.commands for n in names):
                for n in names:
                    stack.append((cmd.commands[n], rest[i:]))
                continue
        out.append((cmd, rest))
    return out


def _is_group(cmd) -> bool:
    return isinstance(getattr(cmd, "commands", None), dict)


def _options(cmd) -> set[str]:
    return {o for p in cmd.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])} | {"--help"}


def test_readme_names_commands():
    assert len(_spans()) >= 20


def test_every_command_and_option_the_readme_names_exists():
    root = typer.main.get_command(app)
    problems = []
    for span in _spans():
        words = span.split()[1:]
        for cmd, rest in _resolve(root, words):
            if _is_group(cmd) and rest and not rest[0].lstrip("[").startswith("--"):
                problems.append(f"{span!r}: {cmd.name!r} needs a subcommand; {rest[:1] or 'none'} is not one of {sorted(cmd.commands)}")
                continue
            opts = {re.split(r"[=\]]", w.strip("["))[0] for w in rest if w.strip("[").startswith("--")}
            missing = sorted(o for o in opts if o not in _options(cmd))
            if missing:
                problems.append(f"{span!r}: {cmd.name} has no option {', '.join(missing)}")
    assert not problems, "\n".join(problems)
