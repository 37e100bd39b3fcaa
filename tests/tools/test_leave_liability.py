"""The leave liability report and its provision in the ledger (issue 18, item 2), through the tools on a database of
its own, with hand figures:

    A: 10,000.00 a month (120,000.00 a year), 38 h a week, 17.5 % leave loading; holds 152 h annual, 20 h long
       service and 40 h personal leave. Ordinary rate 120,000.00 / (52 x 38) = 60.7287... an hour (Fair Work Act
       2009 s 90). Annual: 152 x 60.7287 x 1.175 = 10,846.153... -> 10,846.15; LSL (no loading): 20 x 60.7287 =
       1,214.574... -> 1,214.57; personal leave is not a liability (AASB 119, non-vesting). Total 12,060.72.
    B: 45.00 an hour, no loading; holds 76 h annual: 3,420.00.
    Liability on 30 June 2026: 15,480.72 (annual 14,266.15, LSL 1,214.57).
"""

from __future__ import annotations

import json
from datetime import date
from fractions import Fraction

import pytest

from domain.finance import service as finance
from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import Conflict, InvalidInput, PermissionDenied
from domain.leave import service as leave
from domain.leave.rules import Movement
from domain.payroll.liability import in_force, leave_value
from domain.payroll.models import EmploymentContract, SalaryStructure
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tests.gate_helpers import released
from tools.invoke import invoke

RATE_A = Fraction(12_000_000, 52 * 38)


@pytest.fixture(scope="module")
async def lrt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "leave_liability", in_process_jobs=True) as runtime:
        yield runtime


def contract(number: str, version: int, *, employee_id: int = 1, effective_from: date = date(2020, 1, 1),
             start: date = date(2020, 1, 1), end: date | None = None, base: int = 1_000_000) -> EmploymentContract:
    return EmploymentContract(contract_number=number, version_no=version, employee_id=employee_id, start_date=start,
                              end_date=end, effective_from=effective_from, pay_basis="monthly", base_minor=base,
                              currency="AUD", salary_structure_id=1)


def test_leave_is_valued_at_the_ordinary_rate_with_loading_rounded_half_up_once():
    assert leave_value(Fraction(152), RATE_A, loading_x100=1750, with_loading=True) == 1_084_615
    assert leave_value(Fraction(152), RATE_A, loading_x100=1750, with_loading=False) == 923_077  # 923,076.92
    assert leave_value(Fraction(20), RATE_A, loading_x100=None, with_loading=True) == 121_457
    assert leave_value(Fraction(-8), Fraction(4500), loading_x100=None, with_loading=False) == -36_000
    assert leave_value(Fraction(1, 2), Fraction(3), loading_x100=None, with_loading=False) == 2  # 1.5 -> 2


def test_the_version_in_force_on_a_day_is_chosen_per_contract():
    v1, v2 = contract("C1", 1), contract("C1", 2, effective_from=date(2026, 8, 1), base=1_100_000)
    ended = contract("C2", 1, employee_id=2, end=date(2026, 6, 15))
    later = contract("C3", 1, employee_id=3, start=date(2026, 9, 1), effective_from=date(2026, 9, 1))
    assert in_force([v1, v2, ended, later], date(2026, 7, 31)) == [v1]
    assert in_force([v1, v2, ended, later], date(2026, 8, 1)) == [v2]
    assert in_force([v1, v2, ended, later], date(2026, 6, 15)) == [v1, ended]
    assert in_force([v1, v2, ended, later], date(2026, 9, 1)) == [v2, later]


@pytest.fixture(scope="module")
async def school(lrt):
    async with lrt.db.write() as s:
        dep_a = await hr.create_department(s, SYSTEM_ACTOR, code=unique("SCI"), name="Science")
        dep_b = await hr.create_department(s, SYSTEM_ACTOR, code=unique("OFF"), name="Office")
        a, b = [await hr.create_employee(
            s, SYSTEM_ACTOR, first_name=name, last_name="Leave", work_email=f"{name}.{unique()}@ex.org",
            position="Teacher", department_id=dep.id, hire_date=date(2019, 1, 7),
            employment_type=EmploymentType.FULL_TIME) for name, dep in (("Ada", dep_a), ("Bo", dep_b))]
        structure = SalaryStructure(code=unique("LS"), name="Leave", currency="AUD",
                                    components=json.dumps({"components": []}))
        s.add(structure)
        await s.flush()
        for employee, basis, base, loading, dep in ((a, "monthly", 1_000_000, 1750, dep_a),
                                                    (b, "hourly", 4_500, None, dep_b)):
            s.add(EmploymentContract(contract_number=unique("C"), version_no=1, employee_id=employee.id,
                                     start_date=date(2019, 1, 7), effective_from=date(2019, 1, 7), pay_basis=basis,
                                     base_minor=base, currency="AUD", salary_structure_id=structure.id,
                                     department_id=dep.id, hours_per_week_x100=3800, leave_loading_x100=loading))
        await leave.post_movements(s, [
            Movement(a.id, "ANNUAL", "accrual", Fraction(152), date(2026, 6, 1), "test"),
            Movement(a.id, "LSL", "accrual", Fraction(20), date(2026, 6, 1), "test"),
            Movement(a.id, "PERSONAL", "accrual", Fraction(40), date(2026, 6, 1), "test"),
            Movement(b.id, "ANNUAL", "accrual", Fraction(76), date(2026, 6, 1), "test")])
        officer = await make_user(s, roles="payroll")
        admin = await make_user(s, roles="admin")
        return {"a": a, "b": b, "dep_a": dep_a.code, "dep_b": dep_b.code, "officer": officer, "admin": admin}


async def provision(lrt, school, as_of: str) -> dict:
    pending = await invoke(lrt, "post_leave_provision", {"as_of": as_of}, school["officer"])
    assert pending.level == "approve"
    return {"preview": pending.preview, "result": await released(lrt, pending, school["officer"], school["admin"])}


async def test_the_liability_is_valued_per_employee_and_type_and_the_provision_follows_it(lrt, school):
    report = await invoke(lrt, "get_leave_liability", {"as_of": "2026-06-30"}, school["officer"])
    assert (report.currency, report.total_minor) == ("AUD", 1_548_072)
    assert report.by_type_minor == {"ANNUAL": 1_426_615, "LSL": 121_457}
    assert report.by_department_minor == {school["dep_a"]: 1_206_072, school["dep_b"]: 342_000}
    rows = {r.employee_code: r for r in report.employees}
    a = rows[school["a"].code]
    assert a.hourly_rate_minor == "6072.87" and a.total_minor == 1_206_072
    assert a.leave == {"ANNUAL": {"hours": "152.00", "value_minor": 1_084_615},
                       "LSL": {"hours": "20.00", "value_minor": 121_457}}  # no PERSONAL: not a liability
    assert (report.ledger_balance_minor, report.difference_minor) == (0, 1_548_072)

    done = await provision(lrt, school, "2026-06-30")
    assert done["preview"]["accounts_created"] == ["5160 Leave expense",
                                                   "2140 Provision for annual and long service leave"]
    assert (done["preview"]["debit"], done["preview"]["posting_minor"]) == ("5160 Leave expense", 1_548_072)
    assert (done["result"]["ledger_balance_minor"], done["result"]["liability_minor"]) == (1_548_072, 1_548_072)
    async with lrt.db.read() as s:
        entry = await finance.get_entry(s, done["result"]["journal_entry_id"])
    assert (entry.entry.entry_date, entry.entry.idempotency_key) == (date(2026, 6, 30),
                                                                    "leave_provision:2026-06-30:1548072")
    with pytest.raises(Conflict, match="already equals"):
        await invoke(lrt, "post_leave_provision", {"as_of": "2026-06-30"}, school["officer"])

    # A takes 38 h of annual leave in August: 114 h x 60.7287 x 1.175 = 8,134.615... -> 8,134.62, so the
    # provision is released by 10,846.15 - 8,134.62 = 2,711.53 (Dr 2140 / Cr 5160).
    async with lrt.db.write() as s:
        await leave.post_movements(s, [Movement(school["a"].id, "ANNUAL", "taken", Fraction(-38), date(2026, 8, 10),
                                                "test")])
    done = await provision(lrt, school, "2026-08-31")
    assert (done["preview"]["posting_minor"], done["preview"]["credit"]) == (-271_153, "5160 Leave expense")
    assert done["result"]["liability_minor"] == done["result"]["ledger_balance_minor"] == 1_548_072 - 271_153
    async with lrt.db.read() as s:
        account = await finance.find_account_by_code(s, "2140")
        assert await finance.account_balance(s, account.id) == 1_276_919
        assert await finance.account_balance(s, account.id, as_of=date(2026, 6, 30)) == 1_548_072
        expense = await finance.find_account_by_code(s, "5160")
        assert await finance.account_balance(s, expense.id) == 1_276_919
    # On 30 June the report still reads the balances and the provision as they were then.
    then = await invoke(lrt, "get_leave_liability", {"as_of": "2026-06-30"}, school["officer"])
    assert (then.total_minor, then.ledger_balance_minor, then.difference_minor) == (1_548_072, 1_548_072, 0)


async def test_pages_roles_and_an_empty_day(lrt, school):
    first = await invoke(lrt, "get_leave_liability", {"as_of": "2026-06-30", "limit": 1}, school["officer"])
    second = await invoke(lrt, "get_leave_liability", {"as_of": "2026-06-30", "limit": 1,
                                                       "cursor": first.next_cursor}, school["officer"])
    assert [len(first.employees), len(second.employees), second.next_cursor] == [1, 1, None]
    assert first.total_minor == second.total_minor == 1_548_072  # totals cover every employee on every page
    before_contracts = await invoke(lrt, "get_leave_liability", {"as_of": "2018-12-31"}, school["officer"])
    assert (before_contracts.total_minor, before_contracts.employees, before_contracts.currency) == (0, [], None)
    with pytest.raises(InvalidInput, match="no contract is in force"):
        await invoke(lrt, "post_leave_provision", {"as_of": "2018-12-31"}, school["officer"])
    async with lrt.db.write() as s:
        teacher = await make_user(s, roles="teacher")
    with pytest.raises(PermissionDenied):
        await invoke(lrt, "get_leave_liability", {"as_of": "2026-06-30"}, teacher)
