"""Keeps the generated parts of README.md (configuration and roles tables) in step with code."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from bot.settings import render_config_table
from dialogs.policy import render_roles_table

README = Path(__file__).resolve().parents[1] / "README.md"
SECTIONS = {"configuration": render_config_table, "roles": render_roles_table}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.DOTALL
    )


def _filler(generated: str) -> Callable[[re.Match[str]], str]:
    return lambda match: match[1] + generated + "\n" + match[2]


def updated(text: str) -> str:
    """README text with every generated section rewritten from the code."""
    for name, render in SECTIONS.items():
        text = _block(name).sub(_filler(render()), text)
    return text


def main() -> None:
    """Rewrite README.md in place (python -m bot.readme)."""
    README.write_text(updated(README.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
