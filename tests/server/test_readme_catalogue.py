"""The README's tool catalogue is the registry's, as `mcs-erp tools --markdown` prints it: a tool added, renamed,
re-gated or re-described shows in the README in the same change (it had fallen 80 rows behind)."""

from __future__ import annotations

from pathlib import Path

from server.mcp_server import catalogue_markdown

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| tool | module | effect | gate | roles | what it does |"


def test_the_readmes_tool_catalogue_is_the_registrys(rt):
    text = README.read_text(encoding="utf-8")
    assert text.count(HEADER) == 1, "the README holds one tool catalogue table"
    start = text.index(HEADER)
    end = text.find("\n\n", start)
    table = text[start:end if end >= 0 else len(text)].strip("\n")
    expected = catalogue_markdown(rt).strip("\n")
    missing = sorted(set(expected.splitlines()) - set(table.splitlines()))
    stale = sorted(set(table.splitlines()) - set(expected.splitlines()))
    # The rows as a multiset: the registry's order follows the modules' import order, which may differ by process.
    assert sorted(table.splitlines()) == sorted(expected.splitlines()), (
        f"README's catalogue differs from `mcs-erp tools --markdown` (run it and paste the table under "
        f"'## Tool catalogue'): {len(missing)} rows missing or changed, e.g. {missing[:2]}; {len(stale)} stale, "
        f"e.g. {stale[:2]}")
