"""Bad input for every tool, generated from the registry: a clear error naming the field and the rule, nothing
written.

For each tool of the catalogue and each property of its input schema (nested ones too, e.g.
`guardians[].name`) the cases are: a wrong type, a value out of range (minimum/maximum/maxItems), a string one
character too long and one of 10,000 characters, a string too short, a string holding NUL, an ANSI escape or
a bidi override (and a line break in a one-line field), a date before 1900-01-01 or after 2199-12-31, an unknown
extra argument, a missing required field and, for every `*_id` field, an id no row has (2,000,000,000) with otherwise valid arguments.
Every case asserts the error's class, that its field (or message) names the field, that its message states the
rule, and that the database fingerprint (rows of every table, versions, audit head) did not change. The
fingerprint is scanned again only after a statement that could write was sent (most cases are refused by
validation before any SQL, and then cost no scan).

Baseline arguments come from `BUILDERS` (valid arguments on a school made by `make_school`); a tool without a
builder must be listed in `NO_BASELINE`, and the builders must cover at least 90% of the catalogue.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, func, inspect, select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from sqlmodel import select as sm_select

import domain.migrations.schema  # noqa: F401  (registers every table on SQLModel.metadata)
from domain.academics import service as academics
from domain.academics.models import SchoolClass, Section
from domain.documents import service as documents
from domain.fees import service as fees_service
from domain.finance import service as finance
from domain.hr import service as hr
from domain.hr.models import Employee, EmploymentType
from domain.jobs import service as jobs_service
from domain.kernel.actor import SYSTEM_ACTOR, Channel
from domain.kernel.errors import DomainError, InvalidInput, NotFound
from domain.kernel.settings import Settings
from domain.payroll import service as payroll
from domain.payroll.models import Payslip
from tests.conftest import BACKEND
from tests.factories import SchoolSlice, make_school, unique
from tests.fees_helpers import FeeSchool, make_fee_school
from tests.tools.test_timetable_tools import COVER_SHEET_DATE, make_published_timetable, make_timetable_extras
from tools.invoke import invoke
from tools.modules import all_modules
from tools.registry import Effect, build_catalogue
from tools.runtime import Runtime
from tools.types import SINGLE_LINE_CHARS

UNKNOWN_ID = 2_000_000_000
HUGE = 10_000
EXTRA = "definitely_not_an_argument"
MISSING = object()

# Every module enabled, built without a database, so the cases exist at collection time.
CATALOGUE = build_catalogue(all_modules())


# ---------------------------------------------------------------- the school the baselines refer to


@dataclass
class World:
    """A school slice plus the extra ids the baselines need."""

    school: SchoolSlice
    department_id: int
    employee_id: int
    year_level_id: int
    subject_id: int
    new_subject_id: int
    action_id: int
    job_id: int
    timetable_problem_id: int
    timetable_solution_id: int
    document_id: int
    account_id: int
    income_account_id: int
    entry_id: int
    salary_structure_id: int = 0
    timetable_feed_id: int = 0  # room r1's calendar URL (revoke_timetable_feed's baseline)
    contract_number: str = ""
    payroll_run_id: int = 0
    payslip_id: int = 0
    fees: FeeSchool | None = None
    invoice_id: int = 0  # issued, nothing paid (Dee's)
    draft_invoice_id: int = 0
    scale_id: int = 0  # a stored grading scale that no class uses
    leave_request_id: int = 0  # Erin's requested unpaid leave
    shop: dict[str, Any] | None = None  # inventory: SKUs, location codes, an open stocktake
    notification_id: int = 0  # a bounced email
    purchasing: dict[str, Any] | None = None  # a supplier, orders (draft, partly received and billed), a bill

    guardian: Any = None  # the Kim family's parent (tools/family.py), linked to Ana's and Ben's records
    guardian_record_id: int = 0  # Dee's guardian record (invite_guardian's baseline)

    @property
    def admin(self):
        return self.school.admin

    def caller(self, tool: str):
        """Who calls `tool`: the admin, or for the guardian's own tools (which no staff role may call) the guardian."""
        return self.admin if self.admin.has_any(CATALOGUE.tools[tool].roles) else self.guardian


@pytest.fixture(scope="module")
async def world(runtime) -> World:
    school = await make_school(runtime, students=2)
    tag = unique()
    async with runtime.db.write() as s:
        teacher = await s.get(Employee, school.teacher_employee_id)
        employee = await hr.create_employee(
            s, SYSTEM_ACTOR, first_name="Erin", last_name=f"Extra{tag}",
            work_email=f"erin.{tag}@example.org".lower(), position="Librarian",
            department_id=teacher.department_id, hire_date=date(2021, 8, 1),
            employment_type=EmploymentType.PART_TIME)
        section = await s.get(Section, school.section_id)
        cls = await s.get(SchoolClass, school.class_id)
        new_subject = await academics.create_subject(s, SYSTEM_ACTOR, code=unique("A"), name="Art")
        department_id, employee_id = teacher.department_id, employee.id
        year_level_id, subject_id, new_subject_id = section.year_level_id, cls.subject_id, new_subject.id
    await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id,
                                           "student_id": school.student_ids[0], "score": 70}, school.teacher)
    pending = await invoke(runtime, "change_grade", {"assessment_id": school.assessment_id,
                                                     "student_id": school.student_ids[0], "score": 75},
                           school.teacher)
    async with runtime.db.write() as s:  # a queued job that is never enqueued: the job tools' baseline
        job = await jobs_service.create_job(s, school.admin, kind="export_term_grades",
                                            params={"term_id": school.term_id, "section_ids": []})
        job_id = job.id
    timetable_problem_id, timetable_solution_id = await make_published_timetable(runtime)
    timetable_feed_id = await make_timetable_extras(runtime, timetable_problem_id)
    await invoke(runtime, "create_room", {"code": unique("R"), "name": "Room 1", "capacity": 30}, school.admin)
    scale = await invoke(runtime, "create_grading_scale", BUILDERS["create_grading_scale"](None), school.admin)
    async with runtime.db.write() as s:
        document = await documents.store(s, kind="report_card", filename="card.pdf", content_type="application/pdf",
                                         data=b"%PDF-1.4 test", student_id=school.student_ids[0])
        document_id = document.id
    cash = await invoke(runtime, "create_account", {"code": unique("A"), "name": "Cash", "type": "asset"},
                        school.admin)
    fees = await invoke(runtime, "create_account", {"code": unique("A"), "name": "Tuition fees", "type": "income"},
                        school.admin)
    async with runtime.db.write() as s:
        entry = await finance.post_entry(s, school.admin, date=date(2026, 10, 1), memo="Tuition received",
                                         source="manual", idempotency_key=unique("je-"),
                                         lines=[{"account_id": cash.id, "debit": 12500},
                                                {"account_id": fees.id, "credit": 12500}])
    structure = await invoke(runtime, "create_salary_structure", BUILDERS["create_salary_structure"](None),
                             school.admin)
    contract = await invoke(runtime, "create_employment_contract", {
        "employee_id": employee_id, "start_date": "2026-01-01", "base_minor": 500000, "currency": "AUD",
        "salary_structure_id": structure.salary_structure_id, "filing_status": "scale_2"}, school.admin)
    run = await invoke(runtime, "create_payroll_run", {"period": PAYROLL_PERIOD, "pay_date": "2026-05-28",
                                                       "currency": "AUD"}, school.admin)
    async with runtime.db.read() as s:
        computation = await payroll.compute_run(s, run.run_id)
    async with runtime.db.write() as s:
        await payroll.store_run(s, computation)
        payslip_id = (await s.exec(sm_select(Payslip.id).where(Payslip.run_id == run.run_id))).first()
    leave_request = await invoke(runtime, "request_leave", {"employee_id": employee_id, "leave_type": "UNPAID",
                                                        "start_date": "2026-08-03", "end_date": "2026-08-04"},
                                 school.admin)
    fee_school = await make_fee_school(runtime)
    async with runtime.db.write() as s:
        await fees_service.generate_invoices(s, SYSTEM_ACTOR, schedule_id=fee_school.schedule_id, issue=True,
                                             issue_date=date(2026, 1, 20))
        drafts = await fees_service.generate_invoices(s, SYSTEM_ACTOR, schedule_id=fee_school.schedule2_id,
                                                      issue=False, student_ids=[fee_school.students["Eli"]])
        kim = await fees_service.family_account(s, family_id=fee_school.families["Kim"], currency="AUD",
                                                as_of=date(2026, 1, 20))
        await fees_service.record_payment(s, SYSTEM_ACTOR, family_id=fee_school.families["Kim"],
                                          amount=kim.owed + 50_000, currency="AUD", received_on=date(2026, 1, 25),
                                          method="bank_transfer", idempotency_key=unique("pay-"))
        dee = (await fees_service.family_account(s, family_id=fee_school.families["Lee"], currency="AUD",
                                                 as_of=date(2026, 1, 20))).open_invoices[0].invoice.id
    shop = await make_shop(runtime, fee_school)
    purchasing = await make_purchasing(runtime, shop)
    return World(purchasing=purchasing, shop=shop, account_id=cash.id, income_account_id=fees.id, entry_id=entry.id, school=school,
                 scale_id=scale.scale_id, fees=fee_school, invoice_id=dee, draft_invoice_id=drafts.invoice_ids[0],
                 department_id=department_id, employee_id=employee_id, year_level_id=year_level_id,
                 subject_id=subject_id, new_subject_id=new_subject_id,
                 action_id=pending.action_id, job_id=job_id, timetable_problem_id=timetable_problem_id,
                 timetable_solution_id=timetable_solution_id, timetable_feed_id=timetable_feed_id,
                 document_id=document_id,
                 salary_structure_id=structure.salary_structure_id, contract_number=contract.contract_number,
                 payroll_run_id=run.run_id, payslip_id=payslip_id, leave_request_id=leave_request.request_id,
                 notification_id=await bounced_notification(runtime), **await make_guardian(runtime, fee_school))


async def bounced_notification(runtime) -> int:
    """A notification the SMTP server refused for good (retry_notification's baseline)."""
    from domain.notifications import service as notifications

    async with runtime.db.write() as s:
        row = await notifications.queue(s, to="pat@example.org", name="Pat Parent", category="attendance",
                                        template="student_absent",
                                        context={"student_name": "Alex", "date": "2026-03-02", "period": None},
                                        public_url="https://erp.example.org", person_kind="guardian", person_id=1)
        await notifications.claim_due(s)
        await notifications.record_failure(s, row.id or 0, error="550 No such mailbox", permanent=True)
        return row.id or 0


async def make_guardian(runtime, fees: FeeSchool) -> dict[str, Any]:
    """The Kim family's parent, invited on Ana's and Ben's records (one address), and Dee's record uninvited."""
    from domain.academics.models import Guardian

    address = f"kim.parent.{unique().lower()}@example.org"
    async with runtime.db.write() as s:
        records = {name: (await s.exec(sm_select(Guardian).where(Guardian.student_id == fees.students[name]))).first()
                   for name in ("Ana", "Ben", "Dee")}
        for name in ("Ana", "Ben"):
            records[name].email = address
            s.add(records[name])
    await invoke(runtime, "invite_guardian", {"guardian_id": records["Ana"].id, "send_sign_in_link": False},
                 fees.admin)
    return {"guardian": await runtime.actor_for_user(address, Channel.MCP_STDIO),
            "guardian_record_id": records["Dee"].id}


PAYROLL_PERIOD = "2026-05"


async def make_shop(runtime, fees: FeeSchool | None = None) -> dict[str, Any]:
    """A template with one variant holding 100 units in a store room, a shop, and an open stocktake; a counter
    holding 20 units, with a walk-in's order at each step (draft to paid) and, with `fees`, a family's confirmed."""
    from domain.inventory import sales
    from domain.inventory import service as inventory

    tag, currency = unique(), runtime.settings.currency
    async with runtime.db.write() as s:
        store = (await inventory.create_location(s, SYSTEM_ACTOR, code=f"ST{tag}", name="Store room",
                                                 kind="store_room")).code
        shop = (await inventory.create_location(s, SYSTEM_ACTOR, code=f"SH{tag}", name="Shop", kind="shop")).code
        view = await inventory.create_product(
            s, SYSTEM_ACTOR, sku=f"BLZ{tag}", name="Blazer", category="uniform", unit="each", tax_code="GST",
            currency=currency, prices={"families": 12_900},
            variants=[inventory.VariantSpec(sku=f"BLZ{tag}-10", attributes={"size": "10"})])
        variant = view.variants[0].sku
        await inventory.record_receipt(s, SYSTEM_ACTOR, sku=variant, location=store, quantity=100,
                                       unit_cost_minor=4_500, on=date(2026, 1, 30))
        stocktake = await inventory.start_stocktake(s, SYSTEM_ACTOR, location=store, on=date(2026, 2, 3))
        await inventory.set_reorder_point(s, SYSTEM_ACTOR, sku=variant, location=shop, minimum=2, reorder_to=10)
        counter = (await inventory.create_location(s, SYSTEM_ACTOR, code=f"CT{tag}", name="Uniform counter",
                                                   kind="shop")).code
        await inventory.record_receipt(s, SYSTEM_ACTOR, sku=variant, location=counter, quantity=20,
                                       unit_cost_minor=4_500, on=date(2026, 1, 30))
        orders = {}
        for n, step in enumerate(("draft", "confirmed", "fulfilled", "invoiced", "paid")):  # a walk-in order a step
            order = await sales.create_order(s, SYSTEM_ACTOR, customer_kind="walk_in", location=counter,
                                             lines=[sales.OrderLineSpec(variant, 1)], on=date(2026, 2, 2))
            for call in (sales.confirm_order, sales.fulfil_order, sales.invoice_order)[:n]:
                await call(s, SYSTEM_ACTOR, order_id=order.id, on=date(2026, 2, 2))
            if step == "paid":
                await sales.pay_order(s, SYSTEM_ACTOR, order_id=order.id, method="card", on=date(2026, 2, 2))
            orders[step] = order.id
        if fees is not None:  # a family's order, confirmed
            orders["family"] = (await sales.create_order(
                s, SYSTEM_ACTOR, customer_kind="family", family_id=fees.families["Kim"],
                student_id=fees.students["Ana"], location=counter, lines=[sales.OrderLineSpec(variant, 1)],
                on=date(2026, 2, 2), confirm=True)).id
    return {"sku": view.product.sku, "variant": variant, "store": store, "shop": shop, "currency": currency,
            "stocktake_id": stocktake.id, "counter": counter, "orders": orders}


async def make_purchasing(runtime, shop: dict[str, Any]) -> dict[str, Any]:
    """A supplier; two draft orders (one to send, one to cancel); an order of 50 of the shop's variant, 10
    received and 4 billed (an open bill)."""
    from domain.purchasing import service as purchasing

    vendor, day = unique("SUP"), date(2026, 2, 1)
    async with runtime.db.write() as s:
        await purchasing.create_supplier(s, SYSTEM_ACTOR, code=vendor, name="Uniforms Direct", abn="51824753556",
                                         currency=shop["currency"], payment_terms_days=30, bsb="062-000",
                                         account_number="12345678", account_name="UNIFORMS DIRECT")
        lines = [purchasing.OrderLineSpec(shop["variant"], 50, 4_500)]
        orders = [(await purchasing.create_purchase_order(s, SYSTEM_ACTOR, supplier=vendor, deliver_to=shop["store"],
                                                          order_date=day, lines=lines)).order.number
                  for _ in range(3)]
        await purchasing.send_purchase_order(s, SYSTEM_ACTOR, number=orders[2])
        await purchasing.receive_goods(s, SYSTEM_ACTOR, number=orders[2], lines=[(shop["variant"], 10)], on=day)
        bill = await purchasing.record_supplier_bill(s, SYSTEM_ACTOR, number=orders[2], supplier_reference=unique(),
                                                     bill_date=day,
                                                     lines=[purchasing.BillLineSpec(shop["variant"], 4, 4_500)])
    return {"supplier": vendor, "draft": orders[0], "draft2": orders[1], "open": orders[2],
            "bill": bill.bill.number}


def _guardian() -> dict[str, Any]:
    return {"name": "Pat Parent", "relationship": "mother", "phone": "+1 555 0100",
            "email": "pat@example.org"}


# Valid arguments for each tool on `world`; every optional field that can be given is given, so its bad values
# are tested against an otherwise valid call.
BUILDERS: dict[str, Callable[[World], dict[str, Any]]] = {
    "get_me": lambda w: {},
    "ping": lambda w: {},
    "list_toolsets": lambda w: {},
    "enable_toolsets": lambda w: {"toolsets": ["ledger"]},
    "list_audit_events": lambda w: {"actor": w.admin.username, "tool": "finance.post_entry",
                                    "entity": "journal_entries", "entity_id": w.entry_id,
                                    "since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00+02:00",
                                    "verify": False, "limit": 5},
    "list_pending_actions": lambda w: {"status": "all", "mine": True, "limit": 5},
    "get_action": lambda w: {"action_id": w.action_id},
    "confirm_action": lambda w: {"action_id": w.action_id},
    "cancel_action": lambda w: {"action_id": w.action_id, "reason": "No longer needed"},
    "approve_action": lambda w: {"action_id": w.action_id, "reason": "Checked with the teacher"},
    "reject_action": lambda w: {"action_id": w.action_id, "reason": "The score was right"},
    "list_departments": lambda w: {"limit": 5},
    "create_department": lambda w: {"code": unique("D"), "name": "Languages"},
    "list_employees": lambda w: {"department_id": w.department_id, "status": "active", "limit": 5},
    "search_employees": lambda w: {"query": "Erin", "limit": 5},
    "get_employee": lambda w: {"employee_id": w.employee_id},
    "create_employee": lambda w: {"first_name": "Nia", "last_name": "New",
                                  "work_email": f"{unique('n')}@example.org", "position": "Chemistry teacher",
                                  "department_id": w.department_id, "hire_date": "2025-08-01",
                                  "employment_type": "full_time", "code": unique("E")},
    "update_employee": lambda w: {"employee_id": w.employee_id, "first_name": "Erin", "last_name": "Extra",
                                  "work_email": f"{unique('e')}@example.org", "position": "Head librarian",
                                  "department_id": w.department_id, "employment_type": "full_time",
                                  "status": "active"},
    "terminate_employee": lambda w: {"employee_id": w.employee_id, "termination_date": "2027-01-31",
                                     "reason": "End of contract"},
    "list_academic_years": lambda w: {"limit": 5},
    "create_academic_year": lambda w: {"code": unique("Y"), "name": "Year 2030", "start_date": "2030-09-01",
                                       "end_date": "2031-06-30"},
    "list_terms": lambda w: {"academic_year_id": w.school.year_id},
    "create_term": lambda w: {"academic_year_id": w.school.year_id, "number": 3, "name": "Term 3",
                              "start_date": "2027-01-06", "end_date": "2027-03-01"},
    "list_year_levels": lambda w: {"limit": 5},
    "create_year_level": lambda w: {"code": unique("L"), "name": "Year 8", "ordinal": 8},
    "list_sections": lambda w: {"academic_year_id": w.school.year_id, "year_level_id": w.year_level_id},
    "get_section": lambda w: {"section_id": w.school.section_id},
    "create_section": lambda w: {"code": unique("S"), "name": "7C", "year_level_id": w.year_level_id,
                                 "academic_year_id": w.school.year_id,
                                 "homeroom_teacher_id": w.school.teacher_employee_id},
    "list_subjects": lambda w: {"limit": 5},
    "create_subject": lambda w: {"code": unique("X"), "name": "Music"},
    "list_teachers": lambda w: {"limit": 5},
    "list_classes": lambda w: {"section_id": w.school.section_id, "teacher_id": w.school.teacher_employee_id,
                               "subject_id": w.subject_id},
    "get_class": lambda w: {"class_id": w.school.class_id},
    "create_class": lambda w: {"section_id": w.school.section_id, "subject_id": w.new_subject_id,
                               "teacher_id": w.school.teacher_employee_id},
    "list_students": lambda w: {"section_id": w.school.section_id, "year_level_id": w.year_level_id,
                                "class_id": w.school.class_id, "status": "enrolled"},
    "search_students": lambda w: {"query": "Stu", "limit": 5},
    "get_student": lambda w: {"student_id": w.school.student_ids[0]},
    "create_student": lambda w: {"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "2014-05-01",
                                 "year_level_id": w.year_level_id, "section_id": w.school.section_id,
                                 "guardians": [_guardian()], "code": unique("S"),
                                 "enroll_in_section_classes": True},
    "update_student": lambda w: {"student_id": w.school.student_ids[1], "first_name": "Stuart",
                                 "last_name": "Dent", "date_of_birth": "2014-03-02", "status": "enrolled"},
    "add_guardian": lambda w: {"student_id": w.school.student_ids[1], **_guardian()},
    "update_guardian": lambda w: {"guardian_id": w.guardian_record_id, "name": "Dee Parent",
                                  "relationship": "father", "phone": "+1 555 0101", "email": "dee.parent@example.org"},
    "enroll_student": lambda w: {"student_id": w.school.student_ids[1], "class_id": w.school.class_id,
                                 "enrolled_on": "2026-09-01"},
    "list_enrollments": lambda w: {"class_id": w.school.class_id},
    "create_assessment": lambda w: {"class_id": w.school.class_id, "term_id": w.school.term_id,
                                    "title": "Quiz 1", "max_score": 20, "weight": 10, "category": "quiz",
                                    "due_date": "2026-10-15"},
    "list_assessments": lambda w: {"class_id": w.school.class_id, "term_id": w.school.term_id},
    "get_grade": lambda w: {"assessment_id": w.school.assessment_id, "student_id": w.school.student_ids[0]},
    "get_gradebook": lambda w: {"class_id": w.school.class_id, "term_id": w.school.term_id},
    "record_grade": lambda w: {"assessment_id": w.school.assessment2_id,
                               "student_id": w.school.student_ids[1], "score": 40, "comment": "Solid work"},
    "change_grade": lambda w: {"assessment_id": w.school.assessment_id, "student_id": w.school.student_ids[0],
                               "score": 77, "comment": "Re-marked question 3"},
    "change_locked_grade": lambda w: {"assessment_id": w.school.assessment_id,
                                      "student_id": w.school.student_ids[0], "score": 77,
                                      "reason": "Marking error on question 3"},
    "get_term_grades": lambda w: {"class_id": w.school.class_id, "term_id": w.school.term_id},
    "publish_term_grades": lambda w: {"class_id": w.school.class_id, "term_id": w.school.term_id},
    "get_job": lambda w: {"job_id": w.job_id},
    "list_jobs": lambda w: {"status": "queued", "kind": "export_term_grades", "mine": False, "limit": 5},
    "cancel_job": lambda w: {"job_id": w.job_id},
    "list_dead_letters": lambda w: {"limit": 5},
    "retry_dead_letter": lambda w: {"event_id": 1, "handler": "tests.none"},
    "drop_tenant": lambda w: {"code": "no_such_school"},  # valid input; no such tenant (nothing is proposed)
    "export_term_grades": lambda w: {"section_id": w.school.section_id, "year_level_id": w.year_level_id,
                                     "term_id": w.school.term_id, "idempotency_key": unique("export-")},
    "solve_timetable": lambda w: {"problem_id": w.timetable_problem_id, "time_limit_s": 1, "seed": 1,
                                  "idempotency_key": unique("solve-")},
    "get_timetable_solution": lambda w: {"solution_id": w.timetable_solution_id},
    "import_grades": lambda w: {"class_id": w.school.class_id,
                                "csv": "student_code,assessment,score\nS2026-0001,Unit test 1,10\n"},
    "get_grading_categories": lambda w: {"class_id": w.school.class_id},
    "set_grading_categories": lambda w: {"class_id": w.school.other_class_id, "categories": [
        {"code": "HW", "name": "Homework", "weight": 20, "drop_lowest": 1}]},
    "create_grading_scale": lambda w: {"code": unique("SC"), "name": "Pass/fail", "rounding": "half_up",
                                       "decimals": 0, "is_default": False, "bands": [
        {"min_percentage": 50, "letter": "P", "gpa_points": 1, "passing": True, "earns_credit": True},
        {"min_percentage": 0, "letter": "F", "gpa_points": 0, "passing": False, "earns_credit": False}]},
    "list_grading_scales": lambda w: {"limit": 5},
    "set_class_grading_scale": lambda w: {"class_id": w.school.class_id, "scale_id": w.scale_id},
    "set_default_grading_scale": lambda w: {"scale_id": w.scale_id},
    "get_transcript": lambda w: {"student_id": w.school.student_ids[0]},
    "generate_report_cards": lambda w: {"term_id": w.school.term_id, "section_id": w.school.section_id,
                                        "year_level_id": w.year_level_id, "idempotency_key": unique("cards-")},
    "set_term_comment": lambda w: {"class_id": w.school.class_id, "term_id": w.school.term_id,
                                   "student_id": w.school.student_ids[0], "comment": "Steady progress."},
    "list_documents": lambda w: {"student_id": w.school.student_ids[0], "limit": 5},
    "get_document": lambda w: {"document_id": w.document_id, "offset": 0, "max_bytes": 300},
    "list_grade_change_requests": lambda w: {"status": "all", "student_id": w.school.student_ids[0], "limit": 5},
    "create_room": lambda w: {"code": unique("R"), "name": "Room 12", "capacity": 30},
    "list_rooms": lambda w: {"min_capacity": 10, "limit": 5},
    "build_timetable_problem": lambda w: {"academic_year_id": w.school.year_id, "days": 5, "periods_per_day": 7,
                                          "starts_at": "08:30", "teacher_max_periods_per_day": 6,
                                          "teacher_absences": [{"teacher": "E0001", "weekday": "monday",
                                                                "period": 0}],
                                          "class_blocks": [{"class_code": "7A-PE", "weekday": "friday",
                                                            "period": 6}]},
    "list_timetable_problems": lambda w: {"limit": 5},
    "set_subject_weekly_lessons": lambda w: {"subject_id": w.school.subject_id, "weekly_lessons": 3},
    "set_class_weekly_lessons": lambda w: {"class_id": w.school.class_id, "weekly_lessons": None},
    "publish_timetable": lambda w: {"solution_id": w.timetable_solution_id},
    "get_section_timetable": lambda w: {"problem_id": w.timetable_problem_id, "curriculum": "q1", "limit": 5},
    "get_teacher_schedule": lambda w: {"problem_id": w.timetable_problem_id, "teacher": "t1", "weekday": "monday",
                                       "limit": 5},
    "get_room_schedule": lambda w: {"problem_id": w.timetable_problem_id, "room": "r1", "limit": 5},
    "find_free_rooms": lambda w: {"problem_id": w.timetable_problem_id, "weekday": "monday", "period": 1,
                                  "min_capacity": 20, "limit": 5},
    "publish_cover": lambda w: {"problem_id": w.timetable_problem_id, "teacher": "t1", "start_date": "2026-10-06",
                                "end_date": "2026-10-07"},
    "get_cover_load": lambda w: {"problem_id": w.timetable_problem_id, "teacher": "t1", "date": "2026-10-06"},
    "print_timetable": lambda w: {"problem_id": w.timetable_problem_id, "kind": "room", "code": "r1",
                                  "format": "html", "offset": 0, "max_chars": 500},
    "create_timetable_feed": lambda w: {"problem_id": w.timetable_problem_id, "kind": "room", "code": "r1"},
    "revoke_timetable_feed": lambda w: {"feed_id": w.timetable_feed_id},
    "propose_timetable_change": lambda w: {"problem_id": w.timetable_problem_id, "rooms_closed": ["r2"],
                                           "reassign": [{"class_code": "c2", "teacher": "t1"}], "time_limit_s": 1},
    "get_cover_sheet": lambda w: {"date": COVER_SHEET_DATE.isoformat(), "limit": 5},
    "get_timetable_calendar": lambda w: {"problem_id": w.timetable_problem_id, "kind": "room", "code": "r1",
                                         "offset": 0, "max_chars": 500},
    "take_attendance": lambda w: {"section_id": w.school.section_id, "date": "2026-10-05",
                                  "entries": [{"student_id": w.school.student_ids[0], "status": "late",
                                               "note": "Arrived 09:20"}]},
    "correct_attendance": lambda w: {"student_id": w.school.student_ids[0], "date": "2026-10-05",
                                     "status": "excused", "note": "Doctor's note",
                                     "reason": "Parent brought a doctor's note"},
    "get_attendance_register": lambda w: {"section_id": w.school.section_id, "date": "2026-10-05"},
    "create_account": lambda w: {"code": unique("A"), "name": "Petty cash", "type": "asset", "currency": "USD",
                                 "parent_id": w.account_id},
    "list_accounts": lambda w: {"type": "asset", "active": True, "currency": "USD", "query": "Cash", "limit": 5},
    "get_trial_balance": lambda w: {"as_of": "2026-12-31", "from_date": "2026-01-01", "currency": "USD",
                                    "as_csv": True},
    "get_account_ledger": lambda w: {"account_id": w.account_id, "from_date": "2026-01-01", "to_date": "2026-12-31",
                                     "limit": 5},
    "post_journal_entry": lambda w: {"date": "2026-10-01", "memo": "Tuition received", "currency": "USD",
                                     "idempotency_key": unique("je-"),
                                     "lines": [{"account_id": w.account_id, "debit": 12500, "credit": 0,
                                                "department_id": w.department_id, "memo": "Bank transfer"},
                                               {"account_id": w.income_account_id, "debit": 0, "credit": 12500}]},
    "reverse_journal_entry": lambda w: {"entry_id": w.entry_id, "date": "2026-10-02", "reason": "Posted in error"},
    "create_salary_structure": lambda w: {
        "code": unique("S"), "name": "Teachers", "currency": "AUD",
        "components": [{"code": "BASIC", "name": "Basic", "kind": "earning", "method": "percentage", "percent": 100,
                        "of": "base", "prorate": True, "taxable": True, "pre_tax": False},
                       {"code": "SENIOR", "name": "Seniority", "kind": "earning", "method": "formula",
                        "expression": "max(0, base - 600000) * 0.01"},
                       {"code": "PAYG", "name": "PAYG", "kind": "tax", "method": "tax_table", "table": "AU_PAYGW",
                        "expression": "taxable"},
                       {"code": "SUPER", "name": "Super", "kind": "employer_contribution", "method": "fixed",
                        "amount_minor": 1000}]},
    "list_salary_structures": lambda w: {"limit": 5},
    "create_employment_contract": lambda w: {
        "employee_id": w.school.teacher_employee_id, "start_date": "2031-01-01", "end_date": "2031-12-31",
        "pay_basis": "hourly", "base_minor": 5000, "currency": "AUD", "salary_structure_id": w.salary_structure_id,
        "department_id": w.department_id, "hours_per_month": 80, "filing_status": "scale_2"},
    "list_employment_contracts": lambda w: {"employee_id": w.employee_id, "history": True, "limit": 5},
    "change_contract_salary": lambda w: {"contract_number": w.contract_number, "base_minor": 510000,
                                         "effective_from": "2026-04-01", "reason": "Annual review"},
    "record_unpaid_leave": lambda w: {"employee_id": w.employee_id, "period": PAYROLL_PERIOD, "days": 1.5},
    "create_payroll_run": lambda w: {"period": "2026-06", "pay_date": "2026-06-26", "currency": "AUD"},
    "create_pay_calendar": lambda w: {"code": unique("FN"), "name": "Fortnightly", "frequency": "fortnightly",
                                      "anchor_date": "2026-06-01", "pay_day_offset": -2, "subdivision": "VIC"},
    "list_pay_calendars": lambda w: {"limit": 5},
    "end_employment_contract": lambda w: {"contract_number": w.contract_number, "end_date": "2031-06-30",
                                          "cessation_type": "V", "reason": "Resigned"},
    "calculate_payroll_run": lambda w: {"run_id": w.payroll_run_id, "idempotency_key": unique("k-"), "wait_s": 0},
    "get_payroll_run": lambda w: {"run_id": w.payroll_run_id},
    "list_tax_tables": lambda w: {"limit": 5},
    "add_tax_table": lambda w: {"document": {"code": "XX_TAX", "tables": []}},
    "list_payroll_rates": lambda w: {"limit": 5},
    "add_payroll_rate": lambda w: {"name": "super_guarantee_rate", "percent": 12.5, "effective_from": "2031-07-01",
                                   "source": "Superannuation Guarantee (Administration) Act 1992 s 19(2)"},
    "update_salary_structure": lambda w: {
        "salary_structure_id": w.salary_structure_id, "name": "Teachers",
        "components": [{"code": "BASIC", "name": "Basic", "kind": "earning", "method": "percentage", "percent": 100,
                        "of": "base", "prorate": True}]},
    "move_contracts_to_structure": lambda w: {"contract_numbers": [w.contract_number],
                                              "salary_structure_id": w.salary_structure_id,
                                              "effective_from": "2031-01-01", "reason": "New pay scale"},
    "generate_payroll_documents": lambda w: {"run_id": w.payroll_run_id, "idempotency_key": unique("k-"),
                                             "wait_s": 0},
    "list_payroll_runs": lambda w: {"limit": 5},
    "get_employee_payment_details": lambda w: {"employee_id": w.employee_id},
    "set_employee_payment_details": lambda w: {
        "employee_id": w.employee_id, "bsb": "062-000", "account_number": "12345678", "account_name": "ERIN EXTRA",
        "tfn": "123456782", "date_of_birth": "1990-01-01", "address_line": "1 George St", "address_suburb": "Sydney",
        "address_state": "NSW", "address_postcode": "2000", "super_fund_name": "AustralianSuper",
        "super_fund_abn": "51824753556", "super_fund_usi": "STA0100AU", "super_member_number": "1234567",
        "employment_basis": "P", "tax_treatment": "RTXXXX"},
    "export_payroll_bank_file": lambda w: {"run_id": w.payroll_run_id, "processing_date": "2026-05-27",
                                           "skip_missing": True},
    "list_payslips": lambda w: {"run_id": w.payroll_run_id, "limit": 5},
    "get_payslip": lambda w: {"payslip_id": w.payslip_id},
    "void_payslip": lambda w: {"payslip_id": w.payslip_id, "on": "2026-06-30", "reason": "Paid to the wrong person"},
    "approve_payroll_run": lambda w: {"run_id": w.payroll_run_id},
    "post_payroll_run": lambda w: {"run_id": w.payroll_run_id},
    "mark_payroll_run_paid": lambda w: {"run_id": w.payroll_run_id},
    "cancel_payroll_run": lambda w: {"run_id": w.payroll_run_id},
    "reverse_payroll_run": lambda w: {"run_id": w.payroll_run_id, "on": "2026-06-30", "reason": "Paid twice"},
    "remit_super": lambda w: {"pay_date_from": "2026-05-01", "pay_date_to": "2026-05-31", "paid_on": "2026-06-05"},
    "remit_payg": lambda w: {"pay_date_from": "2026-05-01", "pay_date_to": "2026-05-31", "paid_on": "2026-06-21"},
    "list_remittances": lambda w: {"kind": "super", "limit": 5},
    "get_remittance_report": lambda w: {"pay_date_from": "2026-05-01", "pay_date_to": "2026-05-31"},
    "get_stp_pay_event": lambda w: {"run_id": w.payroll_run_id, "limit": 5},
    "export_stp_pay_event": lambda w: {"run_id": w.payroll_run_id, "format": "csv"},
    "get_stp_finalisation": lambda w: {"financial_year": "2025-26", "limit": 5},
    "export_stp_finalisation": lambda w: {"financial_year": "2025-26", "format": "json"},
    "get_leave_liability": lambda w: {"as_of": "2026-06-30", "limit": 5},
    "post_leave_provision": lambda w: {"as_of": "2026-06-30"},
    "get_attendance_rates": lambda w: {"section_id": w.school.section_id, "student_id": w.school.student_ids[0],
                                       "from_date": "2026-09-01", "to_date": "2026-10-31"},
    # ledger reports
    "get_income_statement": lambda w: {"from_date": "2026-01-01", "to_date": "2026-12-31", "currency": "USD",
                                       "as_csv": True},
    "get_balance_sheet": lambda w: {"as_of": "2026-12-31", "currency": "USD", "as_csv": True},
    # fees
    "create_family": lambda w: {"name": "Okafor family", "billing_name": "Ada Okafor",
                                "billing_email": "ada@example.org", "billing_address": "1 School Road",
                                "student_ids": [w.school.student_ids[1]]},
    "add_family_student": lambda w: {"family_id": w.fees.families["Moe"], "student_id": w.fees.students["Ned"],
                                     "move": False},
    "list_families": lambda w: {"query": "family", "student_id": w.fees.students["Ana"], "limit": 5},
    "get_family_account": lambda w: {"family_id": w.fees.families["Lee"], "as_of": "2026-03-01", "currency": "AUD"},
    "create_fee_item": lambda w: {"code": unique("F"), "name": "Meals", "income_account_id": w.fees.tuition_account},
    "list_fee_items": lambda w: {"limit": 5},
    "create_fee_schedule": lambda w: {"code": unique("S"), "name": "Term 3 fees", "term_id": w.fees.term2_id,
                                      "currency": "AUD", "due_date": "2026-08-15",
                                      "lines": [{"fee_item_id": w.fees.tuition_item, "amount_minor": 400000,
                                                 "year_level_id": w.fees.y7}]},
    "list_fee_schedules": lambda w: {"limit": 5},
    "create_discount": lambda w: {"code": unique("D"), "name": "Early payment", "kind": "other", "percent": 2.5,
                                  "currency": "AUD", "fee_item_id": w.fees.tuition_item,
                                  "account_id": w.fees.tuition_account},
    "list_discounts": lambda w: {"limit": 5},
    "award_discount": lambda w: {"student_id": w.fees.students["Eli"], "discount_id": w.fees.scholarship,
                                 "note": "Music scholarship"},
    "generate_invoices": lambda w: {"schedule_id": w.fees.schedule_id, "year_level_id": w.fees.y8,
                                    "student_ids": [w.fees.students["Eli"]], "issue": True,
                                    "issue_date": "2026-01-20", "rebill_voided": False,
                                    "idempotency_key": unique("k-"), "wait_s": 0},
    "issue_invoices": lambda w: {"invoice_ids": [w.draft_invoice_id], "issue_date": "2026-04-20"},
    "list_invoices": lambda w: {"family_id": w.fees.families["Lee"], "student_id": w.fees.students["Dee"],
                                "schedule_id": w.fees.schedule_id, "status": ["issued"],
                                "overdue_on": "2026-03-01", "limit": 5},
    "get_invoice": lambda w: {"invoice_id": w.invoice_id},
    "void_invoice": lambda w: {"invoice_id": w.invoice_id, "on": "2026-02-01", "reason": "Billed in error"},
    "issue_credit_note": lambda w: {"invoice_id": w.invoice_id, "amount_minor": 1000, "on": "2026-02-01",
                                    "reason": "Excursion cancelled", "account_id": w.fees.tuition_account},
    "record_payment": lambda w: {"family_id": w.fees.families["Lee"], "amount_minor": 1000, "currency": "AUD",
                                 "received_on": "2026-02-01", "method": "cash", "reference": "Receipt 12",
                                 "allocations": [{"invoice_id": w.invoice_id, "amount_minor": 1000}],
                                 "idempotency_key": unique("pay-")},
    "list_payments": lambda w: {"family_id": w.fees.families["Kim"], "from_date": "2026-01-01",
                                "to_date": "2026-12-31", "limit": 5},
    "apply_family_credit": lambda w: {"family_id": w.fees.families["Kim"], "currency": "AUD",
                                      "amount_minor": 1000, "invoice_ids": [w.invoice_id], "on": "2026-02-01",
                                      "idempotency_key": unique("apply-")},
    "refund_family_credit": lambda w: {"family_id": w.fees.families["Kim"], "amount_minor": 1000,
                                       "currency": "AUD", "on": "2026-02-01", "method": "bank_transfer",
                                       "reference": "Refund 1", "reason": "Family overpaid",
                                       "idempotency_key": unique("refund-")},
    "get_receivables_aging": lambda w: {"as_of": "2026-03-01", "currency": "AUD", "group_by": "student",
                                        "year_level_id": w.fees.y7, "min_days_overdue": 0, "limit": 10},
    "get_fee_collections": lambda w: {"from_date": "2026-01-01", "to_date": "2026-03-31", "currency": "AUD"},
    # leave
    "list_leave_types": lambda w: {"limit": 5},
    "request_leave": lambda w: {"employee_id": w.employee_id, "leave_type": "PERSONAL", "start_date": "2026-09-07",
                               "end_date": "2026-09-08", "hours_per_day": 7.6, "hours": 7.6,
                               "reason": "Medical appointment", "subdivision": "VIC"},
    "approve_leave_request": lambda w: {"request_id": w.leave_request_id},
    "reject_leave_request": lambda w: {"request_id": w.leave_request_id, "reason": "Exam week"},
    "cancel_leave_request": lambda w: {"request_id": w.leave_request_id, "reason": "Plans changed"},
    "list_leave_requests": lambda w: {"employee_id": w.employee_id, "status": "requested", "from_date": "2026-01-01",
                                     "to_date": "2026-12-31", "limit": 5},
    "get_leave_balances": lambda w: {"employee_id": w.employee_id},
    "adjust_leave_balance": lambda w: {"employee_id": w.employee_id, "leave_type": "ANNUAL", "hours": 7.6,
                                      "on": "2026-07-01", "reason": "Opening balance"},
    "get_fee_reminders": lambda w: {"as_of": "2026-03-01", "currency": "AUD", "min_days_overdue": 1,
                                     "min_amount_minor": 1, "limit": 10},
    "generate_family_statement": lambda w: {"family_id": w.fees.families["Kim"], "from_date": "2026-01-01",
                                            "to_date": "2026-03-01", "currency": "AUD",
                                            "payment_instructions": "Pay to BSB 000-000"},
    # shop (inventory)
    "create_product": lambda w: {"sku": unique("B"), "name": "Blazer", "category": "uniform", "unit": "each",
                                 "tax_code": "GST", "currency": w.shop["currency"],
                                 "prices": {"families": 12_900, "staff": 11_000},
                                 "variants": [{"sku": unique("B"), "attributes": {"size": "10"},
                                               "prices": {"families": 12_900, "staff": 11_000}}]},
    "list_products": lambda w: {"category": "uniform", "query": "blazer", "active": True, "limit": 5},
    "get_product": lambda w: {"sku": w.shop["sku"]},
    "create_location": lambda w: {"code": unique("L"), "name": "Store 2", "kind": "store_room",
                                  "allow_backorders": False},
    "list_locations": lambda w: {"limit": 5},
    "record_receipt": lambda w: {"sku": w.shop["variant"], "location": w.shop["store"], "quantity": 5,
                                 "unit_cost_minor": 4_500, "on": "2026-02-01", "reason": "Term 1 delivery"},
    "transfer_stock": lambda w: {"sku": w.shop["variant"], "from_location": w.shop["store"],
                                 "to_location": w.shop["shop"], "quantity": 1, "on": "2026-02-02"},
    "get_stock": lambda w: {"sku": w.shop["variant"], "location": w.shop["store"], "limit": 5},
    "set_reorder_point": lambda w: {"sku": w.shop["variant"], "location": w.shop["shop"], "minimum": 2,
                                    "reorder_to": 10},
    "list_reorder_needs": lambda w: {"location": w.shop["shop"], "limit": 5},
    "start_stocktake": lambda w: {"location": w.shop["store"], "on": "2026-02-03"},
    "record_stocktake": lambda w: {"stocktake_id": w.shop["stocktake_id"],
                                   "counts": [{"sku": w.shop["variant"], "counted": 100}]},
    "create_sales_order": lambda w: {"customer_kind": "family", "family_id": w.fees.families["Kim"],
                                     "student_id": w.fees.students["Ana"], "location": w.shop["counter"],
                                     "lines": [{"sku": w.shop["variant"], "quantity": 1}], "on": "2026-02-02",
                                     "confirm": True},
    "get_sales_order": lambda w: {"order_id": w.shop["orders"]["paid"]},
    "list_sales_orders": lambda w: {"status": "confirmed", "family_id": w.fees.families["Kim"],
                                    "from_date": "2026-02-01", "to_date": "2026-02-28", "limit": 5},
    "confirm_sales_order": lambda w: {"order_id": w.shop["orders"]["draft"], "on": "2026-02-02"},
    "fulfil_sales_order": lambda w: {"order_id": w.shop["orders"]["confirmed"], "on": "2026-02-02"},
    "invoice_sales_order": lambda w: {"order_id": w.shop["orders"]["fulfilled"], "on": "2026-02-02",
                                      "due_date": "2026-02-16"},
    "pay_sales_order": lambda w: {"order_id": w.shop["orders"]["invoiced"], "on": "2026-02-02", "method": "cash"},
    "cancel_sales_order": lambda w: {"order_id": w.shop["orders"]["confirmed"], "on": "2026-02-02"},
    "process_sales_orders": lambda w: {"order_ids": [w.shop["orders"]["draft"]], "through": "fulfilled",
                                       "on": "2026-02-02"},
    "return_sales_order": lambda w: {"order_id": w.shop["orders"]["paid"], "on": "2026-02-03",
                                     "lines": [{"sku": w.shop["variant"], "quantity": 1}], "reason": "wrong size",
                                     "refund_method": "card"},
    "get_sales_by_product": lambda w: {"from_date": "2026-02-01", "to_date": "2026-02-28",
                                       "location": w.shop["counter"], "limit": 5},
    "list_slow_movers": lambda w: {"as_of": "2026-02-28", "days": 30, "max_units": 1, "location": w.shop["store"],
                                   "limit": 5},
    "get_stock_valuation": lambda w: {"currency": w.shop["currency"]},
    "get_shop_takings": lambda w: {"from_date": "2026-02-01", "to_date": "2026-02-28", "currency": w.shop["currency"],
                                   "location": w.shop["counter"]},
    # purchasing
    "create_supplier": lambda w: {"code": unique("S"), "name": "Stationery Co", "abn": "51 824 753 556",
                                  "currency": w.shop["currency"], "payment_terms_days": 30, "bsb": "062-000",
                                  "account_number": "12345678", "account_name": "STATIONERY CO",
                                  "email": "accounts@example.org"},
    "list_suppliers": lambda w: {"query": w.purchasing["supplier"], "active": True, "limit": 5},
    "get_supplier": lambda w: {"supplier": w.purchasing["supplier"]},
    "create_purchase_order": lambda w: {"supplier": w.purchasing["supplier"], "deliver_to": w.shop["store"],
                                        "order_date": "2026-02-01", "expected_date": "2026-02-10",
                                        "lines": [{"sku": w.shop["variant"], "quantity": 5, "unit_cost_minor": 4_500}],
                                        "notes": "Term 1 blazers"},
    "send_purchase_order": lambda w: {"order_number": w.purchasing["draft"]},
    "cancel_purchase_order": lambda w: {"order_number": w.purchasing["draft2"], "reason": "ordered twice"},
    "close_purchase_order": lambda w: {"order_number": w.purchasing["open"]},
    "get_purchase_order": lambda w: {"order_number": w.purchasing["open"]},
    "list_purchase_orders": lambda w: {"status": "partly_received", "supplier": w.purchasing["supplier"],
                                       "limit": 5},
    "list_open_purchase_orders": lambda w: {"supplier": w.purchasing["supplier"], "limit": 5},
    "receive_purchase_order": lambda w: {"order_number": w.purchasing["open"], "on": "2026-02-05",
                                         "lines": [{"sku": w.shop["variant"], "quantity": 1}],
                                         "delivery_reference": "DN-1"},
    "record_supplier_bill": lambda w: {"order_number": w.purchasing["open"], "supplier_reference": unique("INV"),
                                       "bill_date": "2026-02-06",
                                       "lines": [{"sku": w.shop["variant"], "quantity": 1, "unit_cost_minor": 4_500}]},
    "get_supplier_bill": lambda w: {"bill_number": w.purchasing["bill"]},
    "list_supplier_bills": lambda w: {"supplier": w.purchasing["supplier"], "order_number": w.purchasing["open"],
                                      "status": "open", "limit": 5},
    "pay_supplier_bill": lambda w: {"bill_number": w.purchasing["bill"], "amount_minor": 100,
                                    "paid_on": "2026-02-20", "reference": "EFT 20260220"},
    "get_payables_aging": lambda w: {"as_of": "2026-03-31", "supplier": w.purchasing["supplier"], "limit": 5},
    # the family tools: the guardian's own (called as world.guardian) and the office's invitation
    "get_my_children": lambda w: {},
    "get_child_transcript": lambda w: {"student_id": w.fees.students["Ana"], "term_id": w.fees.term_id},
    "get_child_report_card": lambda w: {"student_id": w.fees.students["Ana"], "term_id": w.fees.term_id},
    "get_child_attendance": lambda w: {"student_id": w.fees.students["Ana"], "from_date": "2026-01-01",
                                       "to_date": "2026-12-31", "limit": 10},
    "get_my_family_balance": lambda w: {"family_id": w.fees.families["Kim"], "currency": "AUD"},
    "list_my_family_invoices": lambda w: {"family_id": w.fees.families["Kim"], "limit": 5},
    "get_my_family_statement": lambda w: {"family_id": w.fees.families["Kim"], "from_date": "2026-01-01",
                                          "to_date": "2026-12-31", "currency": "AUD"},
    "get_child_timetable": lambda w: {"student_id": w.fees.students["Ana"]},
    "get_my_details": lambda w: {},
    "update_my_contact_details": lambda w: {"phone": "+61 400 111 222", "email": "kim.home@example.org"},
    "set_my_notification_preference": lambda w: {"category": "fees", "receive": True},
    "invite_guardian": lambda w: {"guardian_id": w.guardian_record_id, "send_sign_in_link": False},
    # notifications
    "list_notifications": lambda w: {"status": "bounced", "email": "pat@example.org", "category": "attendance",
                                     "limit": 5},
    "retry_notification": lambda w: {"notification_id": w.notification_id},
    "set_notification_preference": lambda w: {"email": "pat@example.org", "category": "grades", "receive": False},
}

# Tools of the catalogue for which no valid baseline can be built here (their schema cases run on arguments
# synthesized from the schema, their unknown-id cases are skipped). Keep it short: coverage must stay >= 90%.
NO_BASELINE: frozenset[str] = frozenset()


# ---------------------------------------------------------------- schema walking


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Return (the schema behind $ref / Optional[...], whether null is also allowed)."""
    nullable = False
    while True:
        if "$ref" in schema:
            target = defs[schema["$ref"].split("/")[-1]]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            continue
        if "anyOf" in schema:
            options = [s for s in schema["anyOf"] if s.get("type") != "null"]
            nullable = nullable or len(options) < len(schema["anyOf"])
            if len(options) == 1:
                rest = {k: v for k, v in schema.items() if k != "anyOf"}
                schema = {**rest, **options[0]}
                continue
        kind = schema.get("type")
        if isinstance(kind, list) and "null" in kind:  # tools.schema.compact: "or null" as a type list
            nullable = True
            kinds = [k for k in kind if k != "null"]
            schema = {**schema, "type": kinds[0] if len(kinds) == 1 else kinds}
            if "enum" in schema:
                schema["enum"] = [v for v in schema["enum"] if v is not None]
        return schema, nullable


def _synthesize(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A valid value for `schema` (used for nested items and for tools without a builder)."""
    schema, _ = _resolve(schema, defs)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: _synthesize(sub, defs) for name, sub in schema.get("properties", {}).items()
                if name in schema.get("required", [])}
    if kind == "array":
        return [_synthesize(schema["items"], defs) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", ["integer", "string"]):
        return max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    if kind == "number":
        return max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return False
    if kind == "string":
        if schema.get("format") == "date":
            return "2026-10-01"
        if schema.get("format") == "date-time":
            return "2026-10-01T10:00:00Z"
        if schema.get("examples"):
            return schema["examples"][0]
        if "pattern" in schema:
            return "someone@example.org"
        return "x" * max(schema.get("minLength", 1), 5)
    return None


def _long_string(schema: dict[str, Any], length: int) -> str | None:
    """A string of `length` characters that still matches the field's pattern, so only its length is wrong; None
    when the pattern fixes the length (e.g. HH:MM), so no longer string can match it."""
    if "pattern" in schema:
        value = "a" * (length - len("@example.org")) + "@example.org"
        return value if re.search(schema["pattern"], value) else None
    return "x" * length


# Characters no string may hold (tools.types.check_text): NUL, an ANSI escape (ESC [), a bidi override; and a line
# break in a one-line field (at most SINGLE_LINE_CHARS characters). C1 controls and bidi isolates: test_types.py.
_HIDDEN = [("nul", "\x00", "a control character (U+0000"),
           ("ansi_escape", "\x1b[31m", "a control character (U+001B"),
           ("bidi_override", "\u202e", "bidirectional override (U+202E")]


def _hidden_characters(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Values with a hidden character inside an otherwise valid string (between valid text, so that only the
    character is wrong); none when the field's own pattern or length cannot take such a value."""
    top = schema.get("maxLength", HUGE)
    multiline = top > SINGLE_LINE_CHARS
    hidden = _HIDDEN if multiline else _HIDDEN + [("line_break", "\n", "a control character (U+000A")]
    out = []
    for name, chars, rule in hidden:
        value = f"Ab{chars}cdef@example.org" if "pattern" in schema else f"Ab{chars}cdef"
        if len(value) > top or ("pattern" in schema and not re.search(schema["pattern"], value)):
            continue
        out.append((name, value, rule))
    return out


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Case:
    """One bad call: the value put at `path` (or MISSING to omit it) and what the error must say."""

    tool: str
    path: tuple[str | int, ...]
    kind: str
    value: Any
    rule: str
    error: type[DomainError] = InvalidInput
    expect_empty: bool = False

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.path)

    @property
    def label(self) -> str:
        return "".join("[]" if isinstance(p, int) else (f".{p}" if i else p)
                       for i, p in enumerate(self.path))

    @property
    def id(self) -> str:
        return f"{self.tool}-{self.label}-{self.kind}"


def _field_cases(tool: str, path: tuple[str | int, ...], raw: dict[str, Any], defs: dict[str, Any],
                 required: bool) -> list[Case]:
    schema, _nullable = _resolve(raw, defs)
    kind = schema.get("type")
    cases: list[Case] = []

    def add(name: str, value: Any, rule: str, **kw: Any) -> None:
        cases.append(Case(tool, path, name, value, rule, **kw))

    if required:
        add("missing", MISSING, "required")
    if "enum" in schema:
        add("bad_choice", "no-such-choice", "should be")
        add("wrong_type_int", 12345, "should be")
        return cases
    if kind == ["integer", "string"]:  # a reference (tools.references): an id or a code
        add("wrong_type_dict", {"value": 1}, "an id (an integer) or a code")
        add("wrong_type_bool", True, "an id (an integer) or a code")
        add("below_minimum", 0, "greater than or equal to 1")
        add("oversized", "x" * (schema["maxLength"] + 1), f"at most {schema['maxLength']} character")
        add("undersized", "  ", "at least 1 character")
    if kind == "integer":
        add("wrong_type_str", "abc", "valid integer")
        add("wrong_type_dict", {"value": 1}, "valid integer")
        add("wrong_type_fraction", 1.5, "valid integer")
    elif kind == "number":
        add("wrong_type_str", "abc", "should be")
        add("wrong_type_list", [1], "should be")
    elif kind == "boolean":
        add("wrong_type_str", "maybe", "valid boolean")
        add("wrong_type_dict", {"value": True}, "valid boolean")
    elif kind == "array":
        add("wrong_type_str", "not-a-list", "valid list")
        add("wrong_type_dict", {"value": 1}, "valid list")
    elif kind == "object":
        add("wrong_type_str", "not-an-object", "should be")
    elif kind == "string" and schema.get("format") in ("date", "date-time"):
        add("wrong_type_list", [2026, 1, 1], "should be")
        add("bad_date", "2026-02-30", "valid date")
        when = "T00:00:00Z" if schema.get("format") == "date-time" else ""
        add("date_too_early", f"0001-01-01{when}", "outside the dates allowed, 1900-01-01 to 2199-12-31")
        add("date_too_late", f"9999-12-31{when}", "outside the dates allowed, 1900-01-01 to 2199-12-31")
    elif kind == "string":
        add("wrong_type_int", 12345, "valid string")
        add("wrong_type_dict", {"value": "x"}, "valid string")
    if kind in ("integer", "number"):
        if "minimum" in schema:
            low = schema["minimum"]
            add("below_minimum", low - 1, f"greater than or equal to {_bound(low)}")
        if "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"]
            add("at_exclusive_minimum", low, f"greater than {_bound(low)}")
        if "maximum" in schema:
            high = schema["maximum"]
            add("above_maximum", high + 1, f"less than or equal to {_bound(high)}")
    if kind == "string" and "maxLength" in schema and _long_string(schema, schema["maxLength"] + 1) is not None:
        top = schema["maxLength"]
        add("oversized", _long_string(schema, top + 1), f"at most {top} character")
        if HUGE > top:
            add("oversized_10k", _long_string(schema, HUGE), f"at most {top} character")
    if kind == "string" and schema.get("minLength", 0) >= 1:
        low = schema["minLength"]
        add("undersized", "x" * (low - 1) if low > 1 else "", f"at least {low} character")
    if kind == "string" and "pattern" in schema:
        add("bad_pattern", "!?!?!", "should match pattern")
    if kind == "string" and schema.get("format") not in ("date", "date-time"):
        for name, value, rule in _hidden_characters(schema):
            add(name, value, rule)
    if kind == "array" and "maxItems" in schema:
        top = schema["maxItems"]
        item = _synthesize(schema["items"], defs)
        add("too_many_items", [copy.deepcopy(item) for _ in range(top + 1)], f"at most {top} item")
    if kind == "array" and isinstance(schema.get("items"), dict):
        item_schema, _ = _resolve(schema["items"], defs)
        if item_schema.get("type") == "object":
            add_item = Case(tool, path + (0,), "wrong_item_type", "not-an-object", "should be")
            cases.append(add_item)
            cases += _object_cases(tool, path + (0,), item_schema, defs)
    if kind == "object":
        cases += _object_cases(tool, path, schema, defs)
    return cases


def _object_cases(tool: str, path: tuple[str | int, ...], schema: dict[str, Any],
                  defs: dict[str, Any]) -> list[Case]:
    # A free-form object (a tax table document: no declared properties) takes any key by design: no unknown-key
    # case for it; its content is checked by the tool itself.
    free_form = "properties" not in schema and schema.get("additionalProperties", True) is not False
    cases = [] if free_form else [Case(tool, path + (EXTRA,), "unknown_argument", 1, "unknown argument")]
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        cases += _field_cases(tool, path + (name,), sub, defs, name in required)
    return cases


def _is_list_filter(spec, name: str, required: bool) -> bool:
    """List filters on unknown ids answer NotFound too (an empty page would read as 'none here'), so none."""
    return False


def _id_cases(spec) -> list[Case]:
    schema = spec.input_schema
    required = set(schema.get("required", []))
    cases = []
    for name, raw in schema["properties"].items():
        sub, _ = _resolve(raw, schema.get("$defs", {}))
        if name.endswith("_id") and sub.get("type") in ("integer", ["integer", "string"]):
            empty = _is_list_filter(spec, name, name in required)
            cases.append(Case(spec.name, (name,), "unknown_id", UNKNOWN_ID,
                              "empty page" if empty else f"with id {UNKNOWN_ID}",
                              error=NotFound, expect_empty=empty))
    return cases


def _all_cases() -> list[Case]:
    cases: list[Case] = []
    for spec in CATALOGUE.tools.values():
        schema = spec.input_schema
        cases += _object_cases(spec.name, (), schema, schema.get("$defs", {}))
    return cases


SCHEMA_CASES = _all_cases()
ID_CASES = [case for spec in CATALOGUE.tools.values() for case in _id_cases(spec)]


# ---------------------------------------------------------------- helpers


def _baseline(tool: str, w: World) -> dict[str, Any]:
    builder = BUILDERS.get(tool)
    if builder is not None:
        return builder(w)
    schema = CATALOGUE.tools[tool].input_schema
    return _synthesize(schema, schema.get("$defs", {}))


def _apply(args: dict[str, Any], case: Case) -> dict[str, Any]:
    """Return a copy of `args` with `case.value` put at `case.path` (or the key removed for MISSING)."""
    args = copy.deepcopy(args)
    target: Any = args
    for step, following in zip(case.path[:-1], case.path[1:], strict=True):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(target) <= step:
                target.append(empty)
        elif step not in target or target[step] is None:
            target[step] = empty
        target = target[step]
    last = case.path[-1]
    if case.value is MISSING:
        target.pop(last, None)
    else:
        target[last] = copy.deepcopy(case.value)
    return args


_TABLES: list[str] | None = None


async def _tables(runtime) -> list[str]:
    """The tables of SQLModel.metadata that the migrated database has."""
    global _TABLES
    if _TABLES is None:
        async with runtime.db.read() as session:
            conn = await session.connection()
            schema = None if runtime.db.is_sqlite else "public"  # the default tenant's, whatever the path says
            present = set(await conn.run_sync(lambda c: inspect(c).get_table_names(schema=schema)))
        _TABLES = sorted(name for name in SQLModel.metadata.tables if name in present)
    return _TABLES


class _Statements:
    """Counts the SQL statements this process sends on any engine except a runtime's read-only one.

    Only such a statement can change a row (the read engine's connections are read-only in the database itself,
    and nothing outside this process uses the session database), so while the count stands still the last
    fingerprint is still the database's: most bad arguments are refused by validation before any SQL, and
    those cases then cost no scan of the 58 tables at all.
    """

    count = 0
    read_pools: set[Any] = set()  # the pools of the read engines the fingerprint scans through

    @classmethod
    def note(cls, conn, cursor, statement, parameters, context, executemany) -> None:
        if conn.engine.pool not in cls.read_pools:
            cls.count += 1


_last_fingerprint: tuple[tuple[int, int], dict[str, Any]] | None = None


@pytest.fixture(scope="module", autouse=True)
def _count_statements():
    event.listen(Engine, "before_cursor_execute", _Statements.note)
    yield
    event.remove(Engine, "before_cursor_execute", _Statements.note)


async def fingerprint(runtime) -> dict[str, Any]:
    """Row count (and sum of versions) of every table, plus the newest audit id: changes with any write.

    Scanned again only when a statement that could write was sent since the last scan (see _Statements)."""
    global _last_fingerprint
    _Statements.read_pools.add(runtime.db.read_engine.sync_engine.pool)
    mark = (id(runtime), _Statements.count)
    if _last_fingerprint is not None and _last_fingerprint[0] == mark:
        return dict(_last_fingerprint[1])
    metadata = SQLModel.metadata.tables
    columns = []
    labels = []
    for name in await _tables(runtime):
        table = metadata[name]
        columns.append(select(func.count()).select_from(table).scalar_subquery())
        labels.append(f"{name}.rows")
        if "version" in table.c:
            columns.append(select(func.coalesce(func.sum(table.c.version), 0)).scalar_subquery())
            labels.append(f"{name}.versions")
    audit = metadata["audit_log"]
    columns.append(select(func.coalesce(func.max(audit.c.id), 0)).scalar_subquery())
    labels.append("audit_log.max_id")
    async with runtime.db.read() as session:
        row = (await session.exec(select(*columns))).one()
    _last_fingerprint = (mark, dict(zip(labels, row, strict=True)))
    return dict(_last_fingerprint[1])


def _check_message(case: Case, exc: DomainError) -> None:
    message = exc.message.lower()
    assert case.rule.lower() in message, f"{case.id}: the message does not state {case.rule!r}: {exc.message}"
    assert len(exc.message) < 1500, f"{case.id}: the error echoes too much input ({len(exc.message)} chars)"


# ---------------------------------------------------------------- tests


def test_cases_cover_every_tool_and_kind():
    tools_with_cases = {case.tool for case in SCHEMA_CASES}
    assert tools_with_cases == set(CATALOGUE.tools), "every tool gets at least the unknown-argument case"
    kinds = {case.kind for case in SCHEMA_CASES}
    for kind in ("missing", "wrong_type_str", "below_minimum", "above_maximum", "oversized", "oversized_10k",
                 "undersized", "unknown_argument", "too_many_items", "bad_choice", "bad_date", "nul", "ansi_escape",
                 "bidi_override", "line_break", "date_too_early", "date_too_late"):
        assert kind in kinds, kind
    assert any(case.path[:2] == ("guardians", 0) and case.kind == "oversized" for case in SCHEMA_CASES)
    assert len(SCHEMA_CASES) > 10 * len(CATALOGUE.tools)
    assert ID_CASES


def test_builders_cover_the_catalogue():
    names = set(CATALOGUE.tools)
    assert not set(BUILDERS) - names, f"builders for tools that do not exist: {sorted(set(BUILDERS) - names)}"
    lacking = sorted(names - set(BUILDERS) - NO_BASELINE)
    assert not lacking, f"add a valid-arguments builder to BUILDERS (or list in NO_BASELINE): {lacking}"
    covered = len(names & set(BUILDERS)) / len(names)
    assert covered >= 0.9, f"only {covered:.0%} of the tools have valid baseline arguments"


@pytest.mark.parametrize("tool", sorted(BUILDERS))
async def test_baseline_arguments_are_valid(world, tool):
    spec = CATALOGUE.tools[tool]
    spec.input_model.model_validate(BUILDERS[tool](world))


@pytest.mark.parametrize("tool", sorted(t for t, s in CATALOGUE.tools.items() if s.effect is Effect.READ
                                        and t in BUILDERS))
async def test_read_baselines_succeed(runtime, world, tool):
    """The baselines are really valid: every read tool answers them (so an unknown id is the only fault)."""
    if runtime.catalogue.get(tool) is None:
        pytest.skip(f"{tool} is not enabled")
    out = await invoke(runtime, tool, BUILDERS[tool](world), world.caller(tool))
    items = getattr(out, "items", None)
    # Pending actions (and the grade change requests among them) depend on what other tests left open; a remittance
    # needs a posted run, and the world's run is only calculated; dead letters need a handler that failed.
    if items is not None and tool not in ("list_pending_actions", "list_grade_change_requests", "list_remittances",
                                          "list_dead_letters"):
        assert items, f"{tool} baseline returned an empty page"


@pytest.mark.parametrize("case", SCHEMA_CASES, ids=[case.id for case in SCHEMA_CASES])
async def test_bad_argument_is_refused_naming_the_field(runtime, world, case):
    if runtime.catalogue.get(case.tool) is None:
        pytest.skip(f"{case.tool} is not enabled")
    baseline = _baseline(case.tool, world)
    if case.tool not in BUILDERS:
        try:
            CATALOGUE.tools[case.tool].input_model.model_validate(baseline)
        except Exception:
            pytest.skip(f"{case.tool}: no builder and the synthesized arguments are not valid")
    args = _apply(baseline, case)
    before = await fingerprint(runtime)
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, case.tool, args, world.caller(case.tool))
    exc = info.value
    assert exc.field == case.field, f"{case.id}: field {exc.field!r}, expected {case.field!r}: {exc.message}"
    assert case.field in exc.message
    errors = exc.details["errors"]
    assert [e["field"] for e in errors] == [case.field], f"{case.id}: more than the one bad field: {errors}"
    _check_message(case, exc)
    assert exc.to_dict()["error"] == "invalid_input"
    assert await fingerprint(runtime) == before, f"{case.id}: something was written"


@pytest.mark.parametrize("case", ID_CASES, ids=[case.id for case in ID_CASES])
async def test_unknown_id_is_not_found_and_writes_nothing(runtime, world, case):
    if runtime.catalogue.get(case.tool) is None:
        pytest.skip(f"{case.tool} is not enabled")
    if case.tool not in BUILDERS:
        pytest.skip(f"{case.tool}: no valid baseline (listed in NO_BASELINE)")
    baseline = BUILDERS[case.tool](world)
    args = _apply(baseline, case)
    before = await fingerprint(runtime)
    if case.expect_empty:
        # A list filter on an id no row has matches nothing: an empty page, where the baseline had rows.
        assert (await invoke(runtime, case.tool, baseline, world.caller(case.tool))).items
        out = await invoke(runtime, case.tool, args, world.caller(case.tool))
        assert out.items == [] and out.next_cursor is None
    else:
        with pytest.raises(NotFound) as info:
            await invoke(runtime, case.tool, args, world.caller(case.tool))
        exc = info.value
        named = exc.field == case.field or case.field in exc.message
        assert named or f"with id {UNKNOWN_ID}" in exc.message, f"{case.id}: {exc.field!r} {exc.message}"
        if exc.field is not None:
            assert exc.field == case.field, f"{case.id}: error names {exc.field!r}"
        _check_message(case, exc)
        assert exc.to_dict()["error"] == "not_found"
    assert await fingerprint(runtime) == before, f"{case.id}: something was written"


def _nested(depth: int) -> dict[str, Any]:
    """{"x": {"x": ...}}, `depth` objects deep (issue 17: 5,000 deep ran 5 s into an internal error)."""
    doc: dict[str, Any] = {}
    for _ in range(depth - 1):
        doc = {"x": doc}
    return doc


# Rules only the domain can check (they need the database): the field and the rule the message states.
DOMAIN_CASES = [
    ("record_grade", {"score": 50.01}, "score", "above the assessment's maximum 50"),
    ("record_grade", {"score": 0.001}, "score", "no more than 2 decimal places"),
    ("change_grade", {"score": 101}, "score", "above the assessment's maximum 100"),
    ("change_grade", {"score": 70}, "score", "already 70"),
    ("create_assessment", {"max_score": 0}, "max_score", "greater than 0"),
    ("create_assessment", {"weight": 10.555}, "weight", "no more than 2 decimal places"),
    ("create_assessment", {"due_date": "2027-05-01"}, "due_date", "outside term 1"),
    ("create_term", {"end_date": "2027-01-01"}, "end_date", "must be after start_date"),
    ("create_term", {"start_date": "2026-01-06"}, "start_date", "within the academic year"),
    ("create_academic_year", {"end_date": "2030-01-01"}, "end_date", "must be after start_date"),
    ("create_student", {"date_of_birth": "2150-01-01"}, "date_of_birth", "not in the past"),
    ("update_employee", {"status": "terminated"}, "status", "only by terminate_employee"),
    ("list_pending_actions", {"cursor": "not-a-cursor"}, "cursor", "not one this server issued"),
    ("list_students", {"cursor": "eyJhZnRlciI6IC0xfQ"}, "cursor", "not one this server issued"),
    ("list_students", {"cursor": "eyJhZnRlciI6IDFlKzMwMH0"}, "cursor", "not one this server issued"),  # after=1e300
    ("add_tax_table", {"document": _nested(5000)}, "document", "nests more than 16 levels deep"),
    ("record_payment", {"received_on": "0001-01-01"}, "received_on", "outside the dates allowed, 1900-01-01"),
    ("record_payment", {"received_on": "9999-12-31"}, "received_on", "to 2199-12-31"),
    ("update_student", {"first_name": None, "last_name": None, "date_of_birth": None, "status": None},
     "<arguments>", "at least one field"),
    ("update_guardian", {"name": None, "relationship": None, "phone": None, "email": None},
     "<arguments>", "at least one field"),
    ("list_enrollments", {"class_id": None}, "<arguments>", "give class_id or student_id"),
    ("build_timetable_problem", {"days": 4, "teacher_absences": [{"teacher": "E0001", "weekday": "friday",
                                                                 "period": 0}]},
     "teacher_absences", "outside the week"),
    ("take_attendance", {"date": "2150-01-01"}, "date", "is in the future"),
    ("take_attendance", {"date": "2026-08-31"}, "date", "outside the academic year"),
    ("correct_attendance", {"date": "2150-01-01"}, "date", "is in the future"),
    ("set_class_grading_scale", {"scale_id": None}, "scale_id", "nothing to change"),
    ("set_grading_categories", {"categories": []}, "categories", "nothing to change"),
    ("get_attendance_rates", {"from_date": "2026-10-31", "to_date": "2026-10-01"}, "to_date", "before from_date"),
    ("get_attendance_rates", {"section_id": None, "student_id": None}, "section_id", "give section_id"),
]


@pytest.mark.parametrize("tool,change,field_name,rule", DOMAIN_CASES,
                         ids=[f"{t}-{f}-{'_'.join(r.split()[:3])}" for t, _, f, r in DOMAIN_CASES])
async def test_domain_rule_is_refused_naming_the_field(runtime, world, tool, change, field_name, rule):
    args = {**BUILDERS[tool](world), **change}
    before = await fingerprint(runtime)
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, tool, args, world.admin)
    exc = info.value
    assert exc.field == field_name, f"{tool}: field {exc.field!r}: {exc.message}"
    assert rule.lower() in exc.message.lower(), exc.message
    assert await fingerprint(runtime) == before


async def test_unknown_tool_is_not_found(runtime, world):
    before = await fingerprint(runtime)
    for name in ("no_such_tool", "Record_Grade", "record_grade ", "", "x" * 500):
        with pytest.raises(NotFound) as info:
            await invoke(runtime, name, {}, world.admin)
        assert "unknown tool" in info.value.message
        assert repr(name) in info.value.message or len(name) > 100
    assert await fingerprint(runtime) == before


@pytest.mark.parametrize("arguments", [[1, 2], "score=5", 42], ids=["list", "string", "int"])
async def test_arguments_must_be_an_object(runtime, world, arguments):
    before = await fingerprint(runtime)
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "record_grade", arguments, world.admin)  # type: ignore[arg-type]
    assert "must be a JSON object" in info.value.message
    assert await fingerprint(runtime) == before


async def test_fingerprint_sees_a_write(runtime, world):
    """The fingerprint is not blind: one successful write changes it."""
    before = await fingerprint(runtime)
    await invoke(runtime, "create_subject", BUILDERS["create_subject"](world), world.admin)
    after = await fingerprint(runtime)
    assert after["subjects.rows"] == before["subjects.rows"] + 1
    assert after["audit_log.max_id"] > before["audit_log.max_id"]


async def test_fingerprint_sees_a_write_through_another_engine(runtime, world):
    """A write on engines other than the runtime's (another Runtime of this process) is seen too: the
    fingerprint is taken again whenever any such statement was sent since the last scan."""
    before = await fingerprint(runtime)
    assert await fingerprint(runtime) == before
    other = Runtime.create(Settings(database_url=runtime.db.url))
    try:
        admin = await other.actor_for_user("admin", Channel.CLI)
        await invoke(other, "create_department", BUILDERS["create_department"](world), admin)
    finally:
        await other.close()
    after = await fingerprint(runtime)
    assert after["departments.rows"] == before["departments.rows"] + 1
    assert after["audit_log.max_id"] > before["audit_log.max_id"]


# ---------------------------------------------------------------- the longest allowed string fits


def _longest_cases() -> list[tuple[str, str, int]]:
    out = []
    for spec in CATALOGUE.tools.values():
        if spec.effect is not Effect.WRITE or spec.name not in BUILDERS or spec.name.endswith("_action"):
            continue
        schema = spec.input_schema
        for name, raw in schema["properties"].items():
            sub, _ = _resolve(raw, schema.get("$defs", {}))
            plain = "format" not in sub and "enum" not in sub
            if sub.get("type") == "string" and "maxLength" in sub and plain:
                out.append((spec.name, name, sub["maxLength"]))
    return out


# Input maxima longer than their columns (tools/types.py vs domain/*/models.py): PostgreSQL refuses the row
# with a raw database error instead of a DomainError. A product bug (reported); SQLite ignores VARCHAR(n).
# (tool, field) pairs whose input maxLength exceeds their column's VARCHAR length: none since the columns
# were widened to the input limits; a new entry here is a product bug to fix, not to mark.
COLUMN_TOO_SHORT: set[tuple[str, str]] = set()
LONGEST_CASES = [
    pytest.param(tool, name, top, id=f"{tool}-{name}-at_max_length", marks=pytest.mark.xfail(
        BACKEND == "postgresql" and (tool, name) in COLUMN_TOO_SHORT, strict=True,
        reason="input maxLength exceeds the column's VARCHAR length (product bug)"))
    for tool, name, top in _longest_cases()
]


@pytest.mark.parametrize("tool,name,top", LONGEST_CASES)
async def test_longest_allowed_string_is_stored_or_cleanly_refused(runtime, world, tool, name, top):
    """A string of exactly maxLength is valid input: it must be stored, or refused with a DomainError."""
    schema, _ = _resolve(CATALOGUE.tools[tool].input_schema["properties"][name], {})
    value = _long_string(schema, top)
    if name == "code" or name == "work_email":
        value = unique()[:8] + value[8:]  # codes and emails are unique
    args = {**BUILDERS[tool](world), name: value}
    try:
        await invoke(runtime, tool, args, world.caller(tool))
    except DomainError:
        pass  # a clean refusal (e.g. Conflict) is fine
    except Exception as exc:  # noqa: BLE001 - the point is that nothing else escapes
        pytest.fail(f"{tool}.{name} of {top} characters escaped as {type(exc).__name__}: {str(exc)[:300]}")
