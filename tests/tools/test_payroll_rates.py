"""Dated payroll rates (issue 18, item 8): the super guarantee rate is a dated setting of the jurisdiction. An
admin adds next year's rate through the gate (four eyes); payslips pick it by pay date (domain.payroll.jurisdiction,
Jurisdiction.rate with the added rates of domain.payroll.service.added_rates). Refused: an unknown name, a rate
outside 0 to 100 %, a date on or before the latest posted run's pay date, a date already added, a date on or before
the pay date of a run awaiting posting. On its own database (a posted run is school-wide state)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlmodel import select

from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import Conflict, InvalidInput, PermissionDenied, StaleAction
from domain.payroll import rates, service
from domain.payroll.jurisdiction import AU, SUPER_GUARANTEE
from domain.payroll.models import PayrollRun
from domain.payroll.rates_models import PayrollRate
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tests.gate_helpers import released
from tests.tools.test_payroll import payslips_of
from tools.invoke import invoke

SG_ACT = "Superannuation Guarantee (Administration) Act 1992 s 19(2)"
FIXTURE = "test fixture, not a published rate: " + SG_ACT


@pytest.fixture(scope="module")
async def rrt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "payroll_rates", in_process_jobs=True) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def people(rrt):
    async with rrt.db.write() as s:
        return {"officer": await make_user(s, roles="payroll"), "admin": await make_user(s, roles="admin"),
                "hr": await make_user(s, roles="hr")}


async def stored_rates(rrt) -> list[PayrollRate]:
    async with rrt.db.read() as s:
        return list((await s.exec(select(PayrollRate).order_by(PayrollRate.id))).all())


async def posted_run(rrt, period: str, pay_date: date, status: str = "posted") -> int:
    """A run in `status` as the rate rules see it (they read only its status and pay date); returns its id."""
    async with rrt.db.write() as s:
        start = date(pay_date.year, pay_date.month, 1)
        run = PayrollRun(period=period, period_start=start, period_end=pay_date, pay_date=pay_date, currency="AUD",
                         status=status)
        s.add(run)
        await s.flush()
        return run.id


async def set_status(rrt, run_id: int, status: str) -> None:
    async with rrt.db.write() as s:
        run = await s.get(PayrollRun, run_id)
        run.status = status
        s.add(run)


def proposal(percent, effective_from: str, **extra) -> dict:
    return {"name": SUPER_GUARANTEE, "percent": percent, "effective_from": effective_from, "source": FIXTURE, **extra}


async def test_the_bundled_rates_are_listed_with_their_sources(rrt, people):
    page = await invoke(rrt, "list_payroll_rates", {"limit": 100}, people["officer"])
    # The ATO's super guarantee percentages, SGAA 1992 s 19(2): 10 % from 1 July 2021, then +0.5 a year to 12 %.
    assert [(r.effective_from, r.percent, r.origin) for r in page.items] == [
        (date(2021, 7, 1), Decimal("10"), "bundled"), (date(2022, 7, 1), Decimal("10.5"), "bundled"),
        (date(2023, 7, 1), Decimal("11"), "bundled"), (date(2024, 7, 1), Decimal("11.5"), "bundled"),
        (date(2025, 7, 1), Decimal("12"), "bundled")]
    assert all(SG_ACT in r.source and r.name == SUPER_GUARANTEE and r.jurisdiction == "AU" for r in page.items)
    two = await invoke(rrt, "list_payroll_rates", {"limit": 2}, people["officer"])
    assert len(two.items) == 2 and two.next_cursor is not None
    rest = await invoke(rrt, "list_payroll_rates", {"limit": 100, "cursor": two.next_cursor}, people["officer"])
    assert [r.effective_from for r in rest.items] == [date(y, 7, 1) for y in (2023, 2024, 2025)]
    with pytest.raises(PermissionDenied):  # rates are payroll's: HR neither sees nor adds them
        await invoke(rrt, "list_payroll_rates", {}, people["hr"])
    with pytest.raises(PermissionDenied):
        await invoke(rrt, "add_payroll_rate", proposal(13, "2029-07-01"), people["hr"])


async def test_an_added_rate_needs_four_eyes_and_payslips_pick_it_by_pay_date(rrt, people):
    officer, admin = people["officer"], people["admin"]
    pending = await invoke(rrt, "add_payroll_rate", proposal("12.75", "2027-07-01"), officer)
    assert pending.pending and pending.level == "approve"
    assert pending.preview["percent"] == "12.75" and pending.preview["before"] == {
        "percent": "12", "effective_from": "2025-07-01"}
    assert pending.preview["replaces_bundled"] is False
    assert await stored_rates(rrt) == []  # previewed, nothing written
    await invoke(rrt, "confirm_action", {"action_id": pending.action_id}, officer)
    with pytest.raises(PermissionDenied):  # the requester never approves their own
        await invoke(rrt, "approve_action", {"action_id": pending.action_id}, officer)
    done = await invoke(rrt, "approve_action", {"action_id": pending.action_id}, admin)
    assert done.status == "executed", done
    assert done.result["percent"] == "12.75" and done.result["origin"] == "added"
    (row,) = await stored_rates(rrt)
    assert (row.jurisdiction, row.name, row.effective_from, row.rate) == ("AU", SUPER_GUARANTEE, date(2027, 7, 1),
                                                                          "0.1275")
    async with rrt.db.read() as s:
        added = await service.added_rates(s, "AU")
    assert added == [rates.DatedRate(SUPER_GUARANTEE, date(2027, 7, 1), Fraction(51, 400), FIXTURE)]
    # Picked by pay date: 30 June 2027 pays the bundled 12 %, 1 July 2027 the added 12.75 % (= 51/400).
    assert AU.rate(SUPER_GUARANTEE, date(2027, 6, 30), added=added).rate == Fraction(12, 100)
    assert AU.rate(SUPER_GUARANTEE, date(2027, 7, 1), added=added).rate == Fraction(51, 400)
    assert AU.rate(SUPER_GUARANTEE, date(2030, 1, 1), added=added).source == FIXTURE
    listed = await invoke(rrt, "list_payroll_rates", {"limit": 100}, officer)
    assert [(r.effective_from, r.percent, r.origin) for r in listed.items][-2:] == [
        (date(2025, 7, 1), Decimal("12"), "bundled"), (date(2027, 7, 1), Decimal("12.75"), "added")]


@pytest.mark.parametrize(("args", "error", "field", "says"), [
    (proposal(12, "2029-07-01", name="medicare_levy"), InvalidInput, "name",
     "rate name 'medicare_levy' is unknown; known: super_guarantee_rate"),
    (proposal(100.5, "2029-07-01"), InvalidInput, "percent", "less than or equal to 100"),
    (proposal(-1, "2029-07-01"), InvalidInput, "percent", "greater than or equal to 0"),
    (proposal("12.12345", "2029-07-01"), InvalidInput, "percent", "decimal places"),
    (proposal(12, "2029-07-01", source="ATO"), InvalidInput, "source", "at least 5 characters"),
    (proposal(12, "2029-07-01", jurisdiction="AU"), InvalidInput, "jurisdiction", "unknown argument"),
    (proposal(12, "1 July 2029"), InvalidInput, "effective_from", "date"),
])
async def test_bad_proposals_are_refused_naming_the_field(rrt, people, args, error, field, says):
    before = await stored_rates(rrt)
    with pytest.raises(error) as info:
        await invoke(rrt, "add_payroll_rate", args, people["officer"])
    assert field in str(info.value.field or info.value.message) and says in info.value.message, info.value
    assert await stored_rates(rrt) == before


def test_the_domain_rules_of_a_rate():
    """check_rate's rules (domain.payroll.rates, rules 2 to 4), for callers other than the tool."""
    rates.check_rate(SUPER_GUARANTEE, Decimal("0"), FIXTURE)  # 0 and 1 are the bounds, inclusive
    rates.check_rate(SUPER_GUARANTEE, Decimal("1"), FIXTURE)
    rates.check_rate(SUPER_GUARANTEE, Decimal("0.123456"), FIXTURE)
    for rate, says in ((Decimal("1.01"), "rate 101.00 % is outside 0 to 100 %"),
                       (Decimal("-0.01"), "rate -1.00 % is outside 0 to 100 %"),
                       (Decimal("0.1234567"), "more than 6 decimal places"),
                       (Decimal("NaN"), "must be a decimal fraction"), (Decimal("Infinity"), "must be a decimal")):
        with pytest.raises(InvalidInput, match=says) as info:
            rates.check_rate(SUPER_GUARANTEE, rate, FIXTURE)
        assert info.value.field == "rate"
    with pytest.raises(InvalidInput) as info:
        rates.check_rate(SUPER_GUARANTEE, Decimal("0.12"), "   ")
    assert info.value.field == "source"


async def test_a_duplicate_date_and_an_unknown_jurisdiction_are_refused(rrt, people):
    officer = people["officer"]
    first = await invoke(rrt, "add_payroll_rate", proposal(13, "2028-07-01"), officer)
    await released(rrt, first, officer, people["admin"])
    count = len(await stored_rates(rrt))
    with pytest.raises(Conflict, match="a super_guarantee_rate from 2028-07-01 was already added in AU") as info:
        await invoke(rrt, "add_payroll_rate", proposal("13.5", "2028-07-01"), officer)
    assert info.value.field == "effective_from" and len(await stored_rates(rrt)) == count
    async with rrt.db.read() as s:
        with pytest.raises(InvalidInput, match="payroll jurisdiction 'NZ' is unknown; known: AU"):
            await rates.plan_add_payroll_rate(s, SYSTEM_ACTOR, jurisdiction_code="NZ", name=SUPER_GUARANTEE,
                                              effective_from=date(2029, 7, 1), rate=Decimal("0.12"), source=FIXTURE)


async def test_a_rate_on_the_same_day_as_a_bundled_one_says_it_replaces_it(rrt, people):
    """A correction of a bundled rate is possible only for dates after every posted run; the preview says so, and
    shows as before what that day pays today (the bundled 12 % of 1 July 2025)."""
    async with rrt.db.read() as s:
        plan = await rates.plan_add_payroll_rate(s, SYSTEM_ACTOR, jurisdiction_code="AU", name=SUPER_GUARANTEE,
                                                 effective_from=date(2025, 7, 1), rate=Decimal("0.125"),
                                                 source=FIXTURE)
    assert plan.preview["replaces_bundled"] is True
    assert plan.preview["before"] == {"percent": "12", "effective_from": "2025-07-01"}
    assert plan.changes[0].values["rate"] == "0.125"


async def test_a_rate_is_refused_while_a_run_paid_from_its_date_awaits_posting(rrt, people):
    officer = people["officer"]
    run_id = await posted_run(rrt, "2029-07", date(2029, 7, 15), status="calculated")
    count = len(await stored_rates(rrt))
    for status in ("calculated", "approved"):
        await set_status(rrt, run_id, status)
        with pytest.raises(Conflict, match=rf"payroll run\(s\) 2029-07 \(run {run_id}, {status}\) are paid on or "
                                           "after 2029-07-01 and not posted.*or start the rate after 2029-07-15") as info:
            await invoke(rrt, "add_payroll_rate", proposal(13, "2029-07-01"), officer)
        assert info.value.field == "effective_from" and len(await stored_rates(rrt)) == count
    # A run paid before the rate's date is not affected by it.
    pending = await invoke(rrt, "add_payroll_rate", proposal(13, "2029-07-16"), officer)
    assert pending.pending
    await invoke(rrt, "cancel_action", {"action_id": pending.action_id}, officer)
    await set_status(rrt, run_id, "cancelled")
    pending = await invoke(rrt, "add_payroll_rate", proposal(13, "2029-07-01"), officer)
    await invoke(rrt, "cancel_action", {"action_id": pending.action_id}, officer)


async def test_a_structure_reads_the_rate_in_force_on_the_pay_date(rrt, people):
    """End to end: SUPER is a formula over super_guarantee_rate, never a constant in the structure. June 2027 pays
    the bundled 12 %, July 2027 the 12.75 % added above from 1 July 2027 (no PAYG line: the bundled tax tables end
    on 30 June 2027)."""
    officer = people["officer"]
    async with rrt.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("RT"), name="Office")
        employee = await hr.create_employee(
            s, SYSTEM_ACTOR, first_name="Rae", last_name="Rated", work_email=f"rae.{unique()}@ex.org",
            position="Bursar", department_id=dep.id, hire_date=date(2027, 6, 1),
            employment_type=EmploymentType.FULL_TIME)
    structure = await invoke(rrt, "create_salary_structure", {
        "code": "SG_RATED", "name": "Super by the dated rate", "currency": "AUD", "components": [
            {"code": "BASIC", "name": "Basic salary", "kind": "earning", "method": "percentage", "percent": 100,
             "of": "base"},
            {"code": "SUPER", "name": "Superannuation guarantee", "kind": "employer_contribution",
             "method": "formula", "expression": "BASIC * super_guarantee_rate"}]}, officer)
    await invoke(rrt, "create_employment_contract", {
        "employee_id": employee.id, "start_date": "2027-06-01", "base_minor": 500000, "currency": "AUD",
        "salary_structure_id": structure.salary_structure_id}, officer)
    supers = {}
    for period, pay_date in (("2027-06", "2027-06-28"), ("2027-07", "2027-07-28")):
        run = await invoke(rrt, "create_payroll_run", {"period": period, "pay_date": pay_date, "currency": "AUD"},
                           officer)
        job = await invoke(rrt, "calculate_payroll_run", {"run_id": run.run_id, "wait_s": 30}, officer)
        assert job.status == "succeeded", job
        ((_, lines),) = await payslips_of(rrt, run.run_id)
        supers[period] = next(ln.amount_minor for ln in lines if ln.code == "SUPER")
    # 5,000.00 x 12 % = 600.00; 5,000.00 x 12.75 % = 637.50.
    assert supers == {"2027-06": 60000, "2027-07": 63750}


async def test_history_is_never_changed_and_a_run_posted_since_the_preview_stops_it(rrt, people):
    officer, admin = people["officer"], people["admin"]
    pending = await invoke(rrt, "add_payroll_rate", proposal(14, "2031-07-01"), officer)
    await invoke(rrt, "confirm_action", {"action_id": pending.action_id}, officer)
    await posted_run(rrt, "2031-07", date(2031, 7, 1))  # a run paid on the rate's first day is posted meanwhile
    count = len(await stored_rates(rrt))
    with pytest.raises(StaleAction, match="can no longer be planned: effective_from 2031-07-01 is on or before the "
                                          "pay date 2031-07-01 of payroll run 2031-07"):
        await invoke(rrt, "approve_action", {"action_id": pending.action_id}, admin)
    assert len(await stored_rates(rrt)) == count
    # Before the latest posted pay date, or on it: refused at once, naming the run and the first allowed day.
    for day in ("2031-07-01", "2030-01-01"):
        with pytest.raises(Conflict, match="use a date after 2031-07-01") as info:
            await invoke(rrt, "add_payroll_rate", proposal(14, day), officer)
        assert info.value.field == "effective_from"
    later = await invoke(rrt, "add_payroll_rate", proposal(14, "2031-07-02"), officer)
    assert later.preview["latest_posted_pay_date"] == "2031-07-01"
    await released(rrt, later, officer, admin)
    assert (await stored_rates(rrt))[-1].effective_from == date(2031, 7, 2)
