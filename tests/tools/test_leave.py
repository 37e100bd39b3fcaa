"""Leave through the tools and the gate, and the interface payroll calls (domain.leave.service), on a real
database: requests counted in working days less the state's public holidays, approval through the gate against
the balance (stale when the balance moved), balances after accrual, leave taken and a reversal, adjustments,
leave split across pay periods, what is payable on termination, and bad input refused naming the field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import text

from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StaleAction
from domain.leave import service as leave
from domain.leave.service import Movement
from tests.factories import make_user, unique
from tests.gate_helpers import released
from tools.invoke import invoke

FORTNIGHT = {"start_date": "2026-06-01", "end_date": "2026-06-12"}  # Mon..Fri; Mon 8 June: King's Birthday (VIC)


@pytest.fixture(scope="module")
async def staff(rt):
    """A department, an HR officer, a payroll officer, an admin and a teacher (no leave tools)."""
    async with rt.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("LV"), name="Leave test")
        people = {"hr": await make_user(s, roles="hr"), "payroll": await make_user(s, roles="payroll"),
                  "admin": await make_user(s, roles="admin"), "teacher": await make_user(s, roles="teacher")}
    return {"department_id": dep.id, **people}


async def employee(rt, staff, *, hired: date = date(2020, 1, 6)) -> int:
    async with rt.db.write() as s:
        emp = await hr.create_employee(s, SYSTEM_ACTOR, first_name="Lee", last_name=f"Leave{unique()}",
                                       work_email=f"lee.{unique()}@ex.org".lower(), position="Teacher",
                                       department_id=staff["department_id"], hire_date=hired,
                                       employment_type=EmploymentType.FULL_TIME)
        return emp.id


async def post(rt, *movements: Movement) -> int:
    async with rt.db.write() as s:
        return await leave.post_movements(s, list(movements))


async def balances(rt, *employee_ids: int) -> dict[int, dict[str, Fraction]]:
    async with rt.db.read() as s:
        return await leave.balances(s, employee_ids=list(employee_ids))


def accrual(emp: int, code: str, hours, source: str = "payslip:test", on: date = date(2026, 5, 29)) -> Movement:
    return Movement(employee_id=emp, type_code=code, kind="accrual", hours=Fraction(hours), on=on, source=source)


async def request(rt, staff, emp: int, *, leave_type: str = "ANNUAL", who: str = "hr", **extra):
    args = {"employee_id": emp, "leave_type": leave_type, **FORTNIGHT, "subdivision": "VIC", **extra}
    return await invoke(rt, "request_leave", args, staff[who])


# ---------------------------------------------------------------- types and requests


async def test_the_seeded_leave_types_are_listed_with_their_accrual_and_law(rt, staff):
    page = await invoke(rt, "list_leave_types", {}, staff["payroll"])
    by_code = {t.code: t for t in page.items}
    assert set(by_code) >= {"ANNUAL", "PERSONAL", "LSL", "UNPAID"}
    assert by_code["ANNUAL"].accrual_per_ordinary_hour == "1/13" and "s 87" in by_code["ANNUAL"].source
    assert by_code["PERSONAL"].accrual_per_ordinary_hour == "1/26" and not by_code["PERSONAL"].payable_on_termination
    assert by_code["LSL"].service_years == 7 and "Long Service Leave Act 2018 (Vic)" in by_code["LSL"].source
    assert by_code["UNPAID"].paid is False and by_code["UNPAID"].stp_code is None


async def test_a_request_counts_working_days_less_the_states_public_holidays(rt, staff):
    emp = await employee(rt, staff)
    vic = await request(rt, staff, emp)
    # 10 weekdays less the King's Birthday (VIC, Mon 8 June 2026) = 9 days x 7.6 h = 68.4 h (FWA s 89).
    assert (vic.working_days, vic.hours, vic.hours_per_day) == (9, Decimal("68.40"), Decimal("7.60"))
    assert vic.status == "requested" and vic.public_holidays_of == "AU-VIC" and vic.employee_code
    other = await employee(rt, staff)
    national = await invoke(rt, "request_leave", {"employee_id": other, "leave_type": "annual", **FORTNIGHT},
                            staff["payroll"])
    # National holidays only (no setting): 10 days = 76 h.
    assert (national.working_days, national.hours, national.leave_type) == (10, Decimal("76.00"), "ANNUAL")
    part = await invoke(rt, "request_leave", {"employee_id": other, "leave_type": "PERSONAL",
                                              "start_date": "2026-06-15", "end_date": "2026-06-15",
                                              "hours": "3.8"}, staff["hr"])
    assert (part.working_days, part.hours) == (1, Decimal("3.80"))


async def test_bad_requests_are_refused_naming_the_field_and_nothing_is_written(rt, staff):
    emp = await employee(rt, staff)
    base = {"employee_id": emp, "leave_type": "ANNUAL"}
    with pytest.raises(InvalidInput) as backwards:
        await invoke(rt, "request_leave", {**base, "start_date": "2026-06-12", "end_date": "2026-06-01"}, staff["hr"])
    assert backwards.value.field == "end_date" and "before start_date" in backwards.value.message
    with pytest.raises(InvalidInput) as long:
        await invoke(rt, "request_leave", {**base, "start_date": "2026-01-01", "end_date": "2027-01-05"}, staff["hr"])
    assert long.value.field == "end_date" and "more than the 366" in long.value.message
    with pytest.raises(NotFound) as unknown:
        await invoke(rt, "request_leave", {**base, "leave_type": "SABBATICAL", **FORTNIGHT}, staff["hr"])
    assert unknown.value.field == "leave_type" and "ANNUAL, PERSONAL, LSL, UNPAID" in unknown.value.message
    with pytest.raises(InvalidInput) as negative:
        await invoke(rt, "request_leave", {**base, **FORTNIGHT, "hours": "-3"}, staff["hr"])
    assert "hours" in negative.value.message
    with pytest.raises(InvalidInput) as per_day:
        await invoke(rt, "request_leave", {**base, **FORTNIGHT, "hours_per_day": "25"}, staff["hr"])
    assert "hours_per_day" in per_day.value.message
    with pytest.raises(InvalidInput) as weekend:
        await invoke(rt, "request_leave", {**base, "start_date": "2026-06-06", "end_date": "2026-06-07"}, staff["hr"])
    assert weekend.value.field == "end_date" and "no working day" in weekend.value.message
    with pytest.raises(InvalidInput) as state:
        await invoke(rt, "request_leave", {**base, **FORTNIGHT, "subdivision": "XYZ"}, staff["hr"])
    assert state.value.field == "subdivision"
    with pytest.raises(InvalidInput) as too_early:
        await invoke(rt, "request_leave", {**base, "start_date": "1899-12-30", "end_date": "1900-01-02"}, staff["hr"])
    assert "1900-01-01" in too_early.value.message
    with pytest.raises(PermissionDenied):
        await invoke(rt, "request_leave", {**base, **FORTNIGHT}, staff["teacher"])
    page = await invoke(rt, "list_leave_requests", {"employee_id": emp}, staff["hr"])
    assert page.items == []


async def test_overlapping_requests_of_one_employee_are_refused(rt, staff):
    emp = await employee(rt, staff)
    first = await request(rt, staff, emp)
    with pytest.raises(Conflict) as clash:
        await invoke(rt, "request_leave", {"employee_id": emp, "leave_type": "PERSONAL", "start_date": "2026-06-12",
                                           "end_date": "2026-06-16"}, staff["hr"])
    assert f"leave request {first.request_id}" in clash.value.message and clash.value.field == "start_date"
    # Another employee on the same days, and the same employee the day after, are fine.
    await request(rt, staff, await employee(rt, staff))
    after = await invoke(rt, "request_leave", {"employee_id": emp, "leave_type": "PERSONAL",
                                               "start_date": "2026-06-15", "end_date": "2026-06-15"}, staff["hr"])
    assert after.hours == Decimal("7.60")
    # A cancelled request no longer blocks its days.
    await invoke(rt, "cancel_leave_request", {"request_id": first.request_id}, staff["hr"])
    again = await request(rt, staff, emp)
    assert again.status == "requested"


# ---------------------------------------------------------------- approval through the gate


async def test_approval_shows_the_balance_before_and_after_and_applies_once_confirmed(rt, staff):
    emp = await employee(rt, staff)
    await post(rt, accrual(emp, "ANNUAL", 80))
    req = await request(rt, staff, emp)
    pending = await invoke(rt, "approve_leave_request", {"request_id": req.request_id}, staff["hr"])
    # 80 h held, 68.4 h requested: 11.6 h after.
    assert pending.preview["balance_before_hours"] == "80.00"
    assert pending.preview["hours"] == "68.40" and pending.preview["days"] == "9.00"
    assert pending.preview["balance_after_hours"] == "11.60"
    assert pending.preview["before"] == {"status": "requested"} and pending.preview["after"] == {"status": "approved"}
    listed = await invoke(rt, "list_leave_requests", {"employee_id": emp}, staff["hr"])
    assert [r.status for r in listed.items] == ["requested"]  # nothing written before the confirmation
    out = await released(rt, pending, staff["hr"])
    assert out["status"] == "approved" and out["request_id"] == req.request_id and out["decided_at"]
    shown = await invoke(rt, "get_leave_balances", {"employee_id": emp}, staff["hr"])
    annual = next(b for b in shown.balances if b.leave_type == "ANNUAL")
    # Approved leave is taken from the balance when a payslip pays it; until then it is committed.
    assert (annual.hours, annual.approved_not_taken_hours, annual.available_hours) == (
        Decimal("80.00"), Decimal("68.40"), Decimal("11.60"))
    assert annual.days == Decimal("10.53")  # 80 / 7.6 = 10.526...
    with pytest.raises(Conflict, match="is approved; only a requested request can be approved"):
        await invoke(rt, "approve_leave_request", {"request_id": req.request_id}, staff["hr"])


async def test_approval_above_the_balance_is_refused_saying_the_balance(rt, staff):
    emp = await employee(rt, staff)
    await post(rt, accrual(emp, "ANNUAL", 40))
    req = await request(rt, staff, emp)
    with pytest.raises(Conflict) as refused:
        await invoke(rt, "approve_leave_request", {"request_id": req.request_id}, staff["hr"])
    assert "takes 68.4 h of ANNUAL" in refused.value.message and "balance is 40 h" in refused.value.message
    assert "leave in advance is not supported" in refused.value.message
    # Approved leave not yet taken counts against the balance: 80 h, one 38 h week approved, then 68.4 h is too much.
    rich = await employee(rt, staff)
    await post(rt, accrual(rich, "ANNUAL", 80))
    week = await invoke(rt, "request_leave", {"employee_id": rich, "leave_type": "ANNUAL", "start_date": "2026-07-06",
                                              "end_date": "2026-07-10"}, staff["hr"])
    await released(rt, await invoke(rt, "approve_leave_request", {"request_id": week.request_id}, staff["hr"]),
                   staff["hr"])
    fortnight = await request(rt, staff, rich)
    with pytest.raises(Conflict, match=r"38 h already approved and not yet taken, 42 h available"):
        await invoke(rt, "approve_leave_request", {"request_id": fortnight.request_id}, staff["hr"])


async def test_unpaid_leave_needs_no_balance_and_only_hr_or_admin_approve(rt, staff):
    emp = await employee(rt, staff)
    req = await request(rt, staff, emp, leave_type="UNPAID")
    with pytest.raises(PermissionDenied):
        await invoke(rt, "approve_leave_request", {"request_id": req.request_id}, staff["payroll"])
    pending = await invoke(rt, "approve_leave_request", {"request_id": req.request_id}, staff["admin"])
    assert pending.preview["balance_before_hours"] is None and "unpaid" in pending.preview["note"]
    assert (await released(rt, pending, staff["admin"]))["status"] == "approved"


async def test_an_approval_is_stale_when_the_balance_moved_after_the_preview(rt, staff):
    emp = await employee(rt, staff)
    await post(rt, accrual(emp, "ANNUAL", 80))
    req = await request(rt, staff, emp)
    pending = await invoke(rt, "approve_leave_request", {"request_id": req.request_id}, staff["hr"])
    await post(rt, accrual(emp, "ANNUAL", Fraction(585, 100), source="payslip:later"))
    with pytest.raises(StaleAction) as stale:
        await invoke(rt, "confirm_action", {"action_id": pending.action_id}, staff["hr"])
    assert "ANNUAL balance (hours) changed since the preview (80.00 -> 85.85)" in stale.value.message
    listed = await invoke(rt, "list_leave_requests", {"employee_id": emp}, staff["hr"])
    assert [r.status for r in listed.items] == ["requested"]
    again = await invoke(rt, "approve_leave_request", {"request_id": req.request_id}, staff["hr"])
    assert again.preview["balance_after_hours"] == "17.45"  # 85.85 - 68.40
    assert (await released(rt, again, staff["hr"]))["status"] == "approved"


async def test_long_service_leave_is_approved_only_after_seven_years(rt, staff):
    recent = await employee(rt, staff, hired=date(2020, 1, 6))
    await post(rt, accrual(recent, "LSL", 100))
    req = await request(rt, staff, recent, leave_type="LSL")
    with pytest.raises(Conflict) as early:
        await invoke(rt, "approve_leave_request", {"request_id": req.request_id}, staff["hr"])
    assert "only after 7 years" in early.value.message and "has 6" in early.value.message
    veteran = await employee(rt, staff, hired=date(2019, 6, 1))  # 7 years on 2026-06-01, the first day of leave
    await post(rt, accrual(veteran, "LSL", 100))
    ok = await request(rt, staff, veteran, leave_type="LSL")
    pending = await invoke(rt, "approve_leave_request", {"request_id": ok.request_id}, staff["hr"])
    assert (await released(rt, pending, staff["hr"]))["status"] == "approved"


async def test_reject_and_cancel_follow_the_status_rules(rt, staff):
    emp = await employee(rt, staff)
    req = await request(rt, staff, emp, leave_type="UNPAID")
    rejected = await invoke(rt, "reject_leave_request", {"request_id": req.request_id,
                                                         "reason": "Exam week: staff needed"}, staff["payroll"])
    assert rejected.status == "rejected" and rejected.decision_reason == "Exam week: staff needed"
    with pytest.raises(Conflict, match="is rejected; only a requested or approved request can be cancelled"):
        await invoke(rt, "cancel_leave_request", {"request_id": req.request_id}, staff["hr"])
    with pytest.raises(Conflict, match="only a requested request can be rejected"):
        await invoke(rt, "reject_leave_request", {"request_id": req.request_id, "reason": "Twice over"}, staff["hr"])
    with pytest.raises(NotFound) as missing:
        await invoke(rt, "cancel_leave_request", {"request_id": 2_000_000_000}, staff["hr"])
    assert missing.value.field == "request_id"
    with pytest.raises(InvalidInput):
        await invoke(rt, "cancel_leave_request", {"request_id": "R12"}, staff["hr"])


async def test_list_leave_requests_filters_and_pages(rt, staff):
    emp = await employee(rt, staff)
    ids = []
    for start, end in (("2026-03-02", "2026-03-03"), ("2026-04-06", "2026-04-07"), ("2026-05-04", "2026-05-05")):
        made = await invoke(rt, "request_leave", {"employee_id": emp, "leave_type": "PERSONAL", "start_date": start,
                                                  "end_date": end}, staff["hr"])
        ids.append(made.request_id)
    await invoke(rt, "reject_leave_request", {"request_id": ids[0], "reason": "Not this week"}, staff["hr"])
    first = await invoke(rt, "list_leave_requests", {"employee_id": emp, "limit": 2}, staff["hr"])
    assert [r.request_id for r in first.items] == ids[:2] and first.next_cursor
    rest = await invoke(rt, "list_leave_requests", {"employee_id": emp, "limit": 2, "cursor": first.next_cursor},
                        staff["hr"])
    assert [r.request_id for r in rest.items] == ids[2:] and rest.next_cursor is None
    requested = await invoke(rt, "list_leave_requests", {"employee_id": emp, "status": "requested"}, staff["hr"])
    assert [r.request_id for r in requested.items] == ids[1:]
    april = await invoke(rt, "list_leave_requests", {"employee_id": emp, "from_date": "2026-04-07",
                                                     "to_date": "2026-04-30"}, staff["hr"])
    assert [r.request_id for r in april.items] == [ids[1]]
    with pytest.raises(InvalidInput) as backwards:
        await invoke(rt, "list_leave_requests", {"from_date": "2026-05-01", "to_date": "2026-04-01"}, staff["hr"])
    assert backwards.value.field == "to_date"


# ---------------------------------------------------------------- balances and adjustments


async def test_an_opening_balance_is_adjusted_through_the_gate_and_goes_stale_if_the_balance_moved(rt, staff):
    emp = await employee(rt, staff)
    args = {"employee_id": emp, "leave_type": "ANNUAL", "hours": "120.5", "on": "2026-07-01",
            "reason": "Opening balance from the old system"}
    pending = await invoke(rt, "adjust_leave_balance", args, staff["payroll"])
    assert pending.preview["before"] == {"balance_hours": "0.00"}
    assert pending.preview["after"] == {"balance_hours": "120.50"}
    assert (await balances(rt, emp))[emp] == {}
    out = await released(rt, pending, staff["payroll"])
    annual = next(b for b in out["balances"] if b["leave_type"] == "ANNUAL")
    assert annual["hours"] == "120.50" or Decimal(str(annual["hours"])) == Decimal("120.50")
    async with rt.db.read() as s:
        row = (await s.exec(text("SELECT kind, hours_x100, source, note FROM leave_movements "  # type: ignore
                                 "WHERE employee_id = :e").bindparams(e=emp))).one()
    assert tuple(row) == ("adjustment", 12050, "adjustment", "Opening balance from the old system")
    # Stale: a movement between the preview and the confirmation.
    second = await invoke(rt, "adjust_leave_balance", {**args, "hours": "-20.5", "reason": "Correction"},
                          staff["payroll"])
    await post(rt, accrual(emp, "ANNUAL", 1))
    with pytest.raises(StaleAction, match="120.50 -> 121.50"):
        await invoke(rt, "confirm_action", {"action_id": second.action_id}, staff["payroll"])
    assert (await balances(rt, emp))[emp] == {"ANNUAL": Fraction(243, 2)}


async def test_adjustments_that_make_no_sense_are_refused(rt, staff):
    emp = await employee(rt, staff)
    base = {"employee_id": emp, "leave_type": "ANNUAL", "on": "2026-07-01", "reason": "Opening balance"}
    with pytest.raises(InvalidInput) as below_zero:
        await invoke(rt, "adjust_leave_balance", {**base, "hours": "-1"}, staff["hr"])
    assert below_zero.value.field == "hours" and "cannot go below 0" in below_zero.value.message
    with pytest.raises(InvalidInput) as zero:
        await invoke(rt, "adjust_leave_balance", {**base, "hours": "0"}, staff["hr"])
    assert zero.value.field == "hours"
    with pytest.raises(InvalidInput) as unpaid:
        await invoke(rt, "adjust_leave_balance", {**base, "leave_type": "UNPAID", "hours": "5"}, staff["hr"])
    assert unpaid.value.field == "leave_type"
    with pytest.raises(InvalidInput):
        await invoke(rt, "adjust_leave_balance", {**base, "hours": "1.234"}, staff["hr"])
    with pytest.raises(PermissionDenied):
        await invoke(rt, "adjust_leave_balance", {**base, "hours": "5"}, staff["teacher"])


async def test_balances_follow_accruals_leave_taken_and_a_reversal(rt, staff):
    emp = await employee(rt, staff)
    req = await request(rt, staff, emp, leave_type="PERSONAL")
    await post(rt, accrual(emp, "PERSONAL", 80, source="adjustment"))
    await released(rt, await invoke(rt, "approve_leave_request", {"request_id": req.request_id}, staff["hr"]),
                   staff["hr"])
    # A fortnight's payslip: 76 ordinary hours accrue 76/13 = 5.85 h annual and 76/26 = 2.92 h personal; 5 days
    # of the request (1-5 June, 38 h) are paid in it.
    async with rt.db.read() as s:
        types = await leave.leave_types(s)
    accrued = leave.accrual_hours(types, Fraction(76))
    day = date(2026, 6, 5)
    written = await post(rt, *(accrual(emp, code, hours, source="payslip:901", on=day)
                               for code, hours in accrued.items()),
                         Movement(employee_id=emp, type_code="PERSONAL", kind="taken", hours=Fraction(-38), on=day,
                                  source="payslip:901", request_id=req.request_id))
    assert written == 4
    assert (await balances(rt, emp))[emp] == {"ANNUAL": Fraction(585, 100), "PERSONAL": Fraction(4492, 100),
                                              "LSL": Fraction(127, 100)}
    shown = await invoke(rt, "get_leave_balances", {"employee_id": emp}, staff["hr"])
    personal = next(b for b in shown.balances if b.leave_type == "PERSONAL")
    # 80 + 2.92 - 38 = 44.92 held; 68.4 - 38 = 30.4 h approved and not yet taken; 14.52 h available.
    assert (personal.hours, personal.approved_not_taken_hours, personal.available_hours) == (
        Decimal("44.92"), Decimal("30.40"), Decimal("14.52"))
    others = {b.leave_type: b.approved_not_taken_hours for b in shown.balances if b.leave_type != "PERSONAL"}
    assert others == {"ANNUAL": 0, "LSL": 0, "UNPAID": 0}  # the personal leave request commits nothing else
    with pytest.raises(Conflict, match="38 h already paid in a payslip"):
        await invoke(rt, "cancel_leave_request", {"request_id": req.request_id}, staff["hr"])
    # The payslip is voided: its movements are reversed, once.
    async with rt.db.write() as s:
        assert await leave.reverse_movements(s, sources=["payslip:901"], on=date(2026, 6, 20)) == 4
    async with rt.db.write() as s:
        assert await leave.reverse_movements(s, sources=["payslip:901"], on=date(2026, 6, 21)) == 0
    assert (await balances(rt, emp))[emp] == {"ANNUAL": 0, "PERSONAL": 80, "LSL": 0}
    cancelled = await invoke(rt, "cancel_leave_request", {"request_id": req.request_id}, staff["hr"])
    assert cancelled.status == "cancelled"


async def test_post_movements_refuses_wrong_signs_and_unknown_types_and_writes_nothing(rt, staff):
    emp = await employee(rt, staff)
    bad_sign = Movement(employee_id=emp, type_code="ANNUAL", kind="taken", hours=Fraction(7), on=date(2026, 6, 5),
                        source="payslip:bad")
    with pytest.raises(InvalidInput) as sign:
        await post(rt, accrual(emp, "ANNUAL", 1), bad_sign)
    assert sign.value.field == "movements[1]" and "negative" in sign.value.message
    with pytest.raises(InvalidInput) as kind:
        await post(rt, accrual(emp, "HOLIDAY", 1))
    assert kind.value.field == "movements[0]" and "HOLIDAY" in kind.value.message
    assert (await balances(rt, emp))[emp] == {}


async def test_many_employees_in_one_call(rt, staff):
    emps = [await employee(rt, staff) for _ in range(3)]
    # 3,001 rows in one call (COPY on PostgreSQL, executemany on SQLite), three employees' balances in one query.
    movements = [accrual(emps[i % 3], "ANNUAL", Fraction(1, 100), source=f"bulk:{i}") for i in range(3001)]
    assert await post(rt, *movements) == 3001
    got = await balances(rt, *emps, 2_000_000_000)
    assert got == {emps[0]: {"ANNUAL": Fraction(1001, 100)}, emps[1]: {"ANNUAL": 10}, emps[2]: {"ANNUAL": 10},
                   2_000_000_000: {}}


# ---------------------------------------------------------------- payroll's interface: periods and termination


async def test_leave_taken_splits_across_two_fortnights(rt, staff):
    emp = await employee(rt, staff)
    await post(rt, accrual(emp, "ANNUAL", 100))
    req = await request(rt, staff, emp)
    half = await invoke(rt, "request_leave", {"employee_id": emp, "leave_type": "PERSONAL",
                                              "start_date": "2026-06-15", "end_date": "2026-06-16", "hours": "10",
                                              "subdivision": "VIC"}, staff["hr"])
    await post(rt, accrual(emp, "PERSONAL", 20))
    for made in (req, half):
        await released(rt, await invoke(rt, "approve_leave_request", {"request_id": made.request_id}, staff["hr"]),
                       staff["hr"])
    async with rt.db.read() as s:
        first = await leave.taken_in_period(s, employee_ids=[emp], start=date(2026, 5, 30), end=date(2026, 6, 5),
                                            country="AU", subdivision="VIC")
        second = await leave.taken_in_period(s, employee_ids=[emp], start=date(2026, 6, 6), end=date(2026, 6, 19),
                                             country="AU", subdivision="VIC")
        national = await leave.taken_in_period(s, employee_ids=[emp, 2_000_000_000], start=date(2026, 6, 6),
                                               end=date(2026, 6, 19), country="AU", subdivision=None)
    # 1-5 June: 5 days = 38 h. 8-12 June less the King's Birthday: 4 days = 30.4 h; 38 + 30.4 = 68.4 h, the request.
    (a,) = first[emp]
    assert (a.request_id, a.type_code, a.hours, a.days, a.paid, a.loading, a.stp_code) == (
        req.request_id, "ANNUAL", 38, 5, True, True, "O")
    annual, personal = second[emp]
    assert (annual.hours, annual.days) == (Fraction(152, 5), 4) and a.hours + annual.hours == Fraction(342, 5)
    # The part-day request: 10 h over its 2 working days, both inside: 10 h, 10/7.6 days.
    assert (personal.type_code, personal.hours, personal.days) == ("PERSONAL", 10, Fraction(10) / Fraction(38, 5))
    # With national holidays only, 8 June is a working day: 5 days = 38 h.
    assert national[emp][0].hours == 38 and national[2_000_000_000] == []


async def test_only_approved_leave_is_taken_in_a_period(rt, staff):
    emp = await employee(rt, staff)
    await request(rt, staff, emp, leave_type="UNPAID")
    async with rt.db.read() as s:
        taken = await leave.taken_in_period(s, employee_ids=[emp], start=date(2026, 6, 1), end=date(2026, 6, 30),
                                            country="AU", subdivision="VIC")
    assert taken == {emp: []}


async def test_termination_pays_annual_leave_and_long_service_leave_after_seven_years(rt, staff):
    emp = await employee(rt, staff, hired=date(2019, 3, 1))
    jan = date(2026, 1, 15)
    await post(rt, accrual(emp, "ANNUAL", Fraction(4567, 100), on=jan), accrual(emp, "PERSONAL", 30, on=jan),
               accrual(emp, "LSL", Fraction(5432, 100), on=jan),
               accrual(emp, "ANNUAL", 50, source="payslip:future", on=date(2026, 9, 1)))
    async with rt.db.read() as s:
        before_seven = await leave.termination_payable(s, employee_id=emp, on=date(2026, 2, 28),
                                                       service_start=date(2019, 3, 1))
        after_seven = await leave.termination_payable(s, employee_id=emp, on=date(2026, 6, 30),
                                                      service_start=date(2019, 3, 1))
    # Annual leave is always paid out (FWA s 90(2)); LSL only after 7 years (LSL Act 2018 (Vic) s 9); personal
    # leave never. Movements after the termination date are not counted.
    assert before_seven == {"ANNUAL": Fraction(4567, 100)}
    assert after_seven == {"ANNUAL": Fraction(4567, 100), "LSL": Fraction(5432, 100)}


async def test_a_payslips_movements_carry_each_requests_id_so_paid_leave_stops_being_committed(rt, staff):
    emp = await employee(rt, staff)
    await post(rt, accrual(emp, "ANNUAL", 100))
    req = await request(rt, staff, emp)
    await released(rt, await invoke(rt, "approve_leave_request", {"request_id": req.request_id}, staff["hr"]),
                   staff["hr"])
    async with rt.db.read() as s:
        first = (await leave.taken_in_period(s, employee_ids=[emp], start=date(2026, 5, 30), end=date(2026, 6, 5),
                                             country="AU", subdivision="VIC"))[emp]
    movements = leave.payslip_movements(employee_id=emp, source="payslip:777", on=date(2026, 6, 10),
                                        accrued={"ANNUAL": Fraction(76, 13), "LSL": Fraction(0)}, taken=first,
                                        paid_out={})
    assert [(m.kind, m.type_code, m.hours, m.request_id) for m in movements] == [
        ("accrual", "ANNUAL", Fraction(76, 13), None), ("taken", "ANNUAL", -38, req.request_id)]
    assert await post(rt, *movements) == 2
    shown = await invoke(rt, "get_leave_balances", {"employee_id": emp}, staff["hr"])
    annual = next(b for b in shown.balances if b.leave_type == "ANNUAL")
    # 100 + 5.85 - 38 = 67.85 held; of the 68.4 h approved, 38 h were paid: 30.4 h still committed; 37.45 available.
    assert (annual.hours, annual.approved_not_taken_hours, annual.available_hours) == (
        Decimal("67.85"), Decimal("30.40"), Decimal("37.45"))


async def test_leave_of_a_terminated_employee_cannot_start_after_the_termination(rt, staff):
    emp = await employee(rt, staff)
    req = await request(rt, staff, emp, leave_type="UNPAID")
    pending = await invoke(rt, "terminate_employee", {"employee_id": emp, "termination_date": "2026-05-29",
                                                      "reason": "Moved interstate"}, staff["hr"])
    await released(rt, pending, staff["hr"])
    with pytest.raises(Conflict) as late:
        await invoke(rt, "approve_leave_request", {"request_id": req.request_id}, staff["hr"])
    assert "terminated on 2026-05-29" in late.value.message and late.value.field == "request_id"
    with pytest.raises(InvalidInput) as after:
        await invoke(rt, "request_leave", {"employee_id": emp, "leave_type": "UNPAID", "start_date": "2026-07-01",
                                           "end_date": "2026-07-02"}, staff["hr"])
    assert after.value.field == "start_date" and "terminated on 2026-05-29" in after.value.message


async def written(rt, source_prefix: str) -> list[tuple]:
    async with rt.db.read() as s:
        rows = (await s.exec(text(
            "SELECT m.employee_id, t.code, m.kind, m.hours_x100, m.on_date, m.source, m.request_id "
            "FROM leave_movements m JOIN leave_types t ON t.id = m.leave_type_id WHERE m.source LIKE :p ORDER BY m.id"),
            params={"p": f"{source_prefix}%"})).all()
    # SQLite answers a text query's dates as text.
    return [(*row[:4], date.fromisoformat(str(row[4])[:10]), *row[5:]) for row in rows]


async def test_payslip_movements_posted_in_set_form_are_the_rows_posted_one_by_one(rt, staff):
    a, b, c = [await employee(rt, staff) for _ in range(3)]
    plain = leave.PayslipLeave(accrued={"ANNUAL": Fraction(585, 100), "PERSONAL": Fraction(292, 100)}, taken=(),
                               paid_out={})
    leaving = leave.PayslipLeave(accrued={"ANNUAL": Fraction(1, 3)}, taken=(),
                                 paid_out={"ANNUAL": Fraction(4567, 100)})
    payslips = [(a, "setform:1", plain), (b, "setform:2", leaving), (c, "setform:3", plain)]
    on = date(2026, 6, 26)
    async with rt.db.write() as s:
        assert await leave.post_payslip_movements(s, payslips, on=on) == 6
    one_by_one = [m for employee_id, source, shared in payslips
                  for m in leave.payslip_movements(employee_id=employee_id,
                                                   source=source.replace("setform", "onebyone"), on=on,
                                                   accrued=shared.accrued, taken=shared.taken,
                                                   paid_out=shared.paid_out)]
    assert await post(rt, *one_by_one) == 6
    set_form = await written(rt, "setform:")
    assert [(e, code, kind, hours, day, source.replace("setform", "onebyone"), request)
            for e, code, kind, hours, day, source, request in set_form] == await written(rt, "onebyone:")
    # Each payslip its own employee and source; the shared leave's hours rounded half up to hundredths: 1/3 h is 33.
    assert set_form == [
        (a, "ANNUAL", "accrual", 585, on, "setform:1", None), (a, "PERSONAL", "accrual", 292, on, "setform:1", None),
        (b, "ANNUAL", "accrual", 33, on, "setform:2", None), (b, "ANNUAL", "payout", -4567, on, "setform:2", None),
        (c, "ANNUAL", "accrual", 585, on, "setform:3", None), (c, "PERSONAL", "accrual", 292, on, "setform:3", None)]


async def test_payslip_movements_in_set_form_name_the_first_bad_movement_of_the_whole_list(rt, staff):
    emp = await employee(rt, staff)
    plain = leave.PayslipLeave(accrued={"ANNUAL": Fraction(1)}, taken=(), paid_out={})
    unknown = leave.PayslipLeave(accrued={"ANNUAL": Fraction(1), "NOPE": Fraction(1)}, taken=(), paid_out={})
    async with rt.db.write() as s:
        with pytest.raises(InvalidInput) as bad_type:
            await leave.post_payslip_movements(s, [(emp, "p:1", plain), (emp, "p:2", unknown)], on=date(2026, 6, 26))
        # A payslip sharing a leave already checked still has its own source checked.
        with pytest.raises(InvalidInput) as long_source:
            await leave.post_payslip_movements(s, [(emp, "p:1", plain), (emp, "p" * 81, plain)], on=date(2026, 6, 26))
    assert bad_type.value.field == "movements[2]" and "'NOPE' is unknown" in bad_type.value.message
    assert long_source.value.field == "movements[1]" and "1 to 80 characters" in long_source.value.message
