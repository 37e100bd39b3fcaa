"""Markdown templates: MCP prompts and the agent's system prompt."""

from __future__ import annotations

from pathlib import Path
from string import Template

HERE = Path(__file__).resolve().parent


def render(name: str, **values: str) -> str:
    """Render prompts/NAME.md with $placeholders filled from `values` (missing ones stay as written)."""
    return Template((HERE / f"{name}.md").read_text(encoding="utf-8")).safe_substitute(values)
