"""Tools only declare (issue 15): no module of tools/ holds SQL or reads through a repository.

A tool is a typed declaration that calls a domain function; queries live in `domain/<context>/repository.py`
(STYLE.md 5). The import contract "tools never import a repository" (pyproject.toml) checks the imports too; this
test also catches SQL written inline, which no import contract sees. The checks read each file's syntax tree, so
a docstring or comment that names `select(` is not SQL.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
QUERY_BUILDERS = frozenset({"select", "insert", "update", "delete", "text"})
SQL_METHODS = frozenset({"exec", "execute"})
# What tools may import from the database libraries: the session's type (for annotations) and their errors.
ALLOWED_DB_IMPORTS = frozenset({"sqlmodel.ext.asyncio.session", "sqlalchemy.exc"})


def sql_problems(source: str) -> list[str]:
    """Return 'line N: what' for each SQL statement, query builder import or execution in `source`."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in QUERY_BUILDERS:
                problems.append(f"line {node.lineno}: calls the query builder {func.id}(...)")
            elif isinstance(func, ast.Attribute) and func.attr in SQL_METHODS:
                problems.append(f"line {node.lineno}: runs a statement with .{func.attr}(...)")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for module in modules:
                root = module.split(".")[0]
                if root in {"sqlalchemy", "sqlmodel"} and module not in ALLOWED_DB_IMPORTS:
                    problems.append(f"line {node.lineno}: imports {module} (only {sorted(ALLOWED_DB_IMPORTS)} "
                                    "are allowed in tools)")
    return problems


def repository_imports(source: str) -> list[str]:
    """Return 'line N: imports X' for each import of a context's repository (`domain.<context>.repository`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if len(parts) >= 3 and parts[0] == "domain" and parts[2] == "repository":
                found.append(f"line {node.lineno}: imports {'.'.join(parts[:3])}")
                break
    return found


def tool_files() -> list[Path]:
    files = sorted(TOOLS.glob("*.py"))
    assert len(files) > 10, f"expected the tools package at {TOOLS}"
    return files


@pytest.mark.parametrize("path", tool_files(), ids=lambda p: p.name)
def test_no_tool_module_holds_sql(path: Path) -> None:
    problems = sql_problems(path.read_text())
    assert not problems, f"tools/{path.name} holds SQL; move it to the context's repository: {problems}"


@pytest.mark.parametrize("path", tool_files(), ids=lambda p: p.name)
def test_no_tool_module_imports_a_repository(path: Path) -> None:
    found = repository_imports(path.read_text())
    assert not found, f"tools/{path.name} reads through a repository; call a service function instead: {found}"


def test_the_checks_find_sql_and_repositories_and_leave_look_alikes_alone() -> None:
    sql = '''
from sqlmodel import col, select
import sqlalchemy.sql
from sqlalchemy import text as sql_text
async def f(session):
    rows = (await session.exec(select(Grade).where(col(Grade.id) > 0))).all()
    await session.execute(update(Grade).values(score=1))
    return text("select 1")
'''
    found = sql_problems(sql)
    assert {p.split(":", 1)[0] for p in found} == {"line 2", "line 3", "line 4", "line 6", "line 7", "line 8"}
    assert any("select(...)" in p for p in found) and any(".exec(...)" in p for p in found)
    assert any(".execute(...)" in p for p in found) and any("update(...)" in p for p in found)

    look_alikes = '''
"""Docstrings may say select( or session.exec(...) freely."""
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlalchemy.exc import IntegrityError
def _text(n): return n
def run(preview, ctx):
    preview.update(a=1)  # a dict's update( is no SQL; nor is select( in a comment
    return ToolContext(ctx), _text(3), ctx.select(1)
'''
    assert sql_problems(look_alikes) == []

    repos = '''
from domain.hr import repository as hr_repo
from domain.fees.repository import list_families
import domain.jobs.repository
from domain.hr import service
from domain.fees.models import Invoice
'''
    assert sorted(repository_imports(repos)) == ["line 2: imports domain.hr.repository",
                                         "line 3: imports domain.fees.repository",
                                         "line 4: imports domain.jobs.repository"]


# The two modules of tools/ whose output models are not a school context's: the generic page (tools/types.py)
# and the catalogue's own discovery tools (tools/discovery.py: toolsets belong to the registry, not a context).
OWN_OUTPUTS = frozenset({"types.py", "discovery.py"})
OUTPUT_BASES = frozenset({"OutputModel", "ToolOutput"})


def output_models(source: str) -> list[str]:
    """Return 'line N: class X' for each class of `source` derived from an output model base."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                     for b in node.bases}
            if bases & OUTPUT_BASES:
                found.append(f"line {node.lineno}: class {node.name}")
    return found


@pytest.mark.parametrize("path", [p for p in tool_files() if p.name not in OWN_OUTPUTS], ids=lambda p: p.name)
def test_no_tool_module_defines_an_output_schema(path: Path) -> None:
    found = output_models(path.read_text())
    assert not found, (f"tools/{path.name} defines output models; they belong in domain/<context>/schemas.py "
                       f"(issue 15): {found}")


def test_the_output_check_finds_output_models() -> None:
    source = '''
class A(ToolOutput):
    x: int
class B(schemas.OutputModel):
    y: int
class C(ToolInput):
    z: int
'''
    assert output_models(source) == ["line 2: class A", "line 4: class B"]
