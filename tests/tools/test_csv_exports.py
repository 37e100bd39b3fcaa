"""Issue 17, finding 5: every CSV the product writes goes through domain.kernel.csv_writer, which neutralises
cells a spreadsheet would run as formulas (OWASP "CSV Injection") and keeps negative amounts as numbers.

The source scan makes the list of exports: a module that writes CSV without the kernel's writer fails, and a
function that renders CSV with it must have a producer here that feeds it hostile names (so a new export cannot
escape the test)."""

from __future__ import annotations

import ast
import csv
import io
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.finance import reports
from domain.finance.models import Account
from domain.finance.reports import BalanceSheet, BalanceSheetCurrency, IncomeStatement, IncomeStatementCurrency, \
    ReportLine
from domain.finance.service import CurrencyTotals, TrialBalance, TrialBalanceRow
from domain.kernel.csv_writer import FORMULA_STARTS, render_csv, safe_cell
from domain.payroll import remittance, stp
from domain.payroll.payslip_document import RunSummaryRow, render_run_summary_csv
from tests.conftest import wait_for
from tests.factories import make_school
from tools.invoke import invoke

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("domain", "tools", "workers", "server", "prompts", "evals")
KERNEL_WRITER = "domain/kernel/csv_writer.py"

# What a hostile user types as a name (OWASP's examples); every one a spreadsheet would run as a formula.
FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0"]
CONTROL_LED = ["\tTAB=1+1", "\r=1+1"]  # only where no input bound refuses control characters first


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def assert_inert(text: str, hostile: list[str]) -> None:
    """No cell of `text` begins like a formula (but negative numbers), and each hostile value is there, defused."""
    table = cells(text)
    flat = [cell for row in table for cell in row]
    for cell in flat:
        if cell.startswith(FORMULA_STARTS):
            assert cell[0] == "-" and cell[1:].replace(".", "", 1).isdigit(), f"formula cell {cell!r} in {table}"
    for value in hostile:
        assert "'" + value in flat, f"{value!r} not written as text in {table}"


# ---------------------------------------------------------------- the rule


@pytest.mark.parametrize("value", FORMULAS + CONTROL_LED + ["=", "+", "-", "@", "-1e5", "-12.5.0", "- 3"])
def test_formula_cells_get_an_apostrophe(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["-12.50", "-1500", "-0", "12.50", "Amelia Brown", "", "O'Neil", "'=already"])
def test_numbers_and_plain_text_are_written_as_they_are(value):
    assert safe_cell(value) == value


@given(st.one_of(st.text(), st.text(alphabet="=+-@\t\r0123456789.,'\" x\n").map(lambda s: s[:12])))
def test_no_cell_ever_starts_a_formula_and_the_text_is_kept(value):
    out = safe_cell(value)
    assert out in (value, "'" + value)
    if out.startswith(FORMULA_STARTS):
        assert out == value and out[0] == "-" and out[1:].replace(".", "", 1).isdigit()
    (row,) = cells(render_csv(["h"], [[value]]))[1:] or [[""]]
    assert row == [out] or (out == "" and row == [""])


def test_none_is_an_empty_cell_and_headers_are_neutralised_too():
    assert cells(render_csv(["=h", "ok"], [[None, -5]])) == [["'=h", "ok"], ["", "-5"]]


# ---------------------------------------------------------------- every export


def _line(code: str, name: str, type_: str, amount: int) -> ReportLine:
    return ReportLine(account_id=1, code=code, name=name, type=type_, currency="USD", amount=amount)


def trial_balance(names: list[str]) -> str:
    accounts = [Account(id=i, code=f"10{i:02d}", name=n, type="asset", currency="USD") for i, n in enumerate(names)]
    rows = [TrialBalanceRow(account=a, debit_total=-100, credit_total=250) for a in accounts]
    total = -100 * len(names)
    return reports.trial_balance_csv(TrialBalance(as_of=None, from_date=None, rows=rows, totals=[
        CurrencyTotals("USD", total, 250 * len(names), 0, 150 * len(names))]))


def income_statement(names: list[str]) -> str:
    lines = [_line(f"41{i:02d}", n, "income", -100 * (i + 1)) for i, n in enumerate(names)]
    return reports.income_statement_csv(IncomeStatement(from_date=None, to_date=None, currencies=[
        IncomeStatementCurrency(currency="USD", income=lines, expenses=[])]))


def balance_sheet(names: list[str]) -> str:
    assets = [_line(f"10{i:02d}", n, "asset", -100) for i, n in enumerate(names)]
    return reports.balance_sheet_csv(BalanceSheet(as_of=None, currencies=[BalanceSheetCurrency(
        currency="USD", assets=assets, liabilities=[], equity=[], net_income_to_date=0)]))


def run_summary(names: list[str]) -> str:
    rows = [RunSummaryRow(employee_code=n, employee_name=n, department=n, gross_minor=-1000, deductions_minor=0,
                          net_minor=-1000, employer_cost_minor=-1000, currency="USD") for n in names]
    return render_run_summary_csv(rows)


def superstream_saff(names: list[str]) -> str:
    contributions = [remittance.MemberContribution(
        employee_id=i, fund={"abn": None, "usi": None, "name": n}, period_start=date(2026, 7, 1),
        period_end=date(2026, 7, 14), member={"family_name": n, "given_name": n, "member_number": n},
        amounts={"super_guarantee": -1200, "resc": 0, "salary_sacrifice": 0}) for i, n in enumerate(names)]
    return remittance.saff_csv(contributions, file_id="SUP-1", paid_on=date(2026, 7, 28), employer_name=names[0],
                               employer_abn=None)


def stp_report(names: list[str]) -> str:
    payees = [{"payee": {"payroll_id": f"E{i}", "family_name": n, "given_name": n},
               "ytd": {"gross_minor": -1000, "allowances": {n: -500}}} for i, n in enumerate(names)]
    return stp.render({"payees": payees}, "csv")[0].decode()


# Every function that renders CSV with the kernel's writer, and how this test feeds it hostile names.
PURE_PRODUCERS = {
    "domain/finance/reports.py:trial_balance_csv": trial_balance,
    "domain/finance/reports.py:income_statement_csv": income_statement,
    "domain/finance/reports.py:balance_sheet_csv": balance_sheet,
    "domain/payroll/payslip_document.py:render_run_summary_csv": run_summary,
    "domain/payroll/remittance.py:saff_csv": superstream_saff,
    "domain/payroll/stp.py:render": stp_report,
}
JOB_PRODUCERS = {"workers/exports.py:export_term_grades"}  # test_export_term_grades_defuses_formula_names


@pytest.mark.parametrize("producer", sorted(PURE_PRODUCERS))
def test_each_export_defuses_hostile_names_and_keeps_negative_amounts(producer):
    text = PURE_PRODUCERS[producer](FORMULAS + CONTROL_LED)
    assert_inert(text, FORMULAS + CONTROL_LED)
    assert any(cell.startswith("-") and cell[1:].replace(".", "", 1).isdigit()
               for row in cells(text) for cell in row), "negative amounts stay numbers"


async def test_export_term_grades_defuses_formula_names(rt):
    school = await make_school(rt, students=1)
    hostile = FORMULAS[:2]
    created = await invoke(rt, "create_student", {
        "first_name": hostile[0], "last_name": hostile[1], "date_of_birth": "2014-05-01",
        "year_level_id": (await invoke(rt, "get_student", {"student_id": school.student_ids[0]},
                                       school.registrar)).year_level_id,
        "section_id": school.section_id, "guardians": []}, school.registrar)
    job = await invoke(rt, "export_term_grades", {"section_id": school.section_id, "term_id": school.term_id},
                       school.registrar)
    done = await wait_for(rt, school.registrar, job.job_id)
    assert done.status == "succeeded", done.error
    names = [row[2] for row in cells(done.result["csv"])[1:] if row[1] == created.code]
    assert names and all(name == f"'{hostile[0]} {hostile[1]}" for name in names), done.result["csv"]
    assert_inert(done.result["csv"], [])


# ---------------------------------------------------------------- nothing escapes


def _sources():
    for top in SOURCE_DIRS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def test_only_the_kernel_writer_writes_csv():
    offenders = []
    for rel, tree in _sources():
        if rel == KERNEL_WRITER:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "csv" \
                    and node.attr in {"writer", "DictWriter"}:
                offenders.append(f"{rel}:{node.lineno} csv.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "csv" and \
                    {a.name for a in node.names} & {"writer", "DictWriter"}:
                offenders.append(f"{rel}:{node.lineno} from csv import writer")
    assert not offenders, f"write CSV with domain.kernel.csv_writer.render_csv: {offenders}"


def test_every_function_rendering_csv_is_fed_hostile_names_here():
    renderers = set()
    for rel, tree in _sources():
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                    isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == "render_csv"
                    for n in ast.walk(fn)) and rel != KERNEL_WRITER:
                renderers.add(f"{rel}:{fn.name}")
    covered = set(PURE_PRODUCERS) | JOB_PRODUCERS
    assert renderers <= covered, f"add a producer to this test for {sorted(renderers - covered)}"
    assert covered <= renderers, f"no longer render CSV: {sorted(covered - renderers)}"
    assert any("text/csv" in path.read_text(encoding="utf-8") for path in (ROOT / "workers").rglob("*.py"))
