"""Reporting categories of payslip lines: how each amount is disaggregated for Single Touch Payroll Phase 2.

Source: ATO, "Single Touch Payroll Phase 2 employer reporting guidelines" (QC 68146), sections "Income types",
"Disaggregation of gross", "Allowances", "Paid leave", "Lump sums", "Salary sacrifice", "Deductions" and
"Super liability". Each payslip line stores its category, taken from its component (`Component.category`) or, when
the component names none, from its kind (`default_category`); the payroll's own lines (leave, loading, arrears,
termination payouts) name theirs. Categories are written `group` or `group:code` with the ATO's code:

- gross: salary and wages not reported under another category (income type SAW);
- overtime, bonus (bonuses and commissions), directors_fees;
- paid_leave:C|U|P|W|A|O: cash out of leave in service, unpaid parental, paid parental, workers' compensation,
  ancillary and defence, other paid leave (annual, personal, long service leave taken, and the loading paid
  with it);
- allowance:CD|AD|LD|MD|RD|TD|KN|QN|OD: car expenses (cents per km), award transport, laundry, overtime meals,
  travel and accommodation, tools, task, qualification and certification, other;
- lump_sum:A|B|D|E|W: A unused annual or long service leave on termination (type R or T), B pre-1978 long
  service leave, D tax-free part of genuine redundancy, E amounts for earlier income years, W return to work;
- salary_sacrifice:S|O: sacrificed to super, sacrificed for other benefits (pre-tax deductions);
- deduction:F|W|D|G: union or professional association fees, workplace giving, child support deduction, child
  support garnishee; deduction: any other deduction (not reported);
- payg: PAYG withholding (tax lines);
- super:L|RESC: the super guarantee liability, reportable employer super contributions; employer: any other
  employer contribution (not reported).
"""

from __future__ import annotations

from domain.kernel.errors import InvalidInput

CATEGORIES: frozenset[str] = frozenset(
    ["gross", "overtime", "bonus", "directors_fees", "payg", "deduction", "employer"]
    + [f"paid_leave:{c}" for c in "CUPWAO"]
    + [f"allowance:{c}" for c in ("CD", "AD", "LD", "MD", "RD", "TD", "KN", "QN", "OD")]
    + [f"lump_sum:{c}" for c in "ABDEW"]
    + [f"salary_sacrifice:{c}" for c in "SO"]
    + [f"deduction:{c}" for c in "FWDG"]
    + ["super:L", "super:RESC"])

_BY_KIND = {"earning": "gross", "arrears": "gross", "deduction": "deduction", "tax": "payg",
            "employer_contribution": "employer", "leave": "paid_leave:O", "termination": "gross"}


def default_category(kind: str, *, pre_tax: bool = False) -> str:
    """Return the category of a line of `kind` (a payslip line kind) whose component names none: earnings and
    arrears gross, a pre-tax deduction salary_sacrifice:O, another deduction deduction, tax payg, an employer
    contribution employer, paid leave paid_leave:O, unused leave paid on a normal termination gross (ATO Schedule 7:
    post-17 August 1993 leave on a normal termination is reported with gross payments; on a genuine redundancy,
    invalidity or early retirement scheme the service uses lump_sum:A)."""
    if kind == "deduction" and pre_tax:
        return "salary_sacrifice:O"
    return _BY_KIND[kind]


def check_category(value: str, *, field: str = "category") -> str:
    """Return `value` if it is a category (CATEGORIES); raises InvalidInput listing them."""
    if value not in CATEGORIES:
        raise InvalidInput(f"category {value!r} is unknown; use one of {', '.join(sorted(CATEGORIES))}", field=field)
    return value
