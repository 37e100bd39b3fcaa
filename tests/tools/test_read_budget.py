"""Every read tool's default answer on the demo school fits a model's context: at most 16,000 characters of JSON.

Registry-driven: the test calls EVERY read tool the demo school's users may call, as every demo persona whose
roles allow it (admin, registrar, HR officer, bursar, a teacher), with its default arguments; the arguments a
tool requires come from ARGUMENTS, filled from the demo data. A read tool missing from ARGUMENTS fails the test,
so a new read tool is measured from the day it is declared.

The demo school (domain/demo/builder.py: 600 students, 483 families, 486 journal entries) is a copy of the one built
once per test process (tests.conftest.demo_school_url); the module adds a queued publication, a timetable solved
and published, and a statement of account, so every read tool has something to show.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import select

from domain.documents.schemas import CHUNK_BYTES
from domain.identity.models import User
from domain.identity.service import actor_for, get_user_by_username
from domain.kernel.actor import Actor, Channel
from domain.kernel.errors import InvalidInput, PermissionDenied
from domain.kernel.settings import Settings
from tests.conftest import demo_school_url, wait_for
from tools.invoke import invoke
from tools.registry import Effect
from tools.runtime import Runtime
from tools.toolsets import default_toolsets
from workers.runner import InProcessRunner

BUDGET = 16_000
"""Characters of an answer's JSON (the MCP text block) a read tool may return by default (issue 16: ~4k tokens)."""

PERSONAS = ("admin", "registrar", "hr", "bursar", "teacher")
"""The demo users that call each tool their roles allow; "teacher" is the teacher of the demo's first class."""

SOLVE_S = 10  # the first feasible timetable comes in about a second, the optimum (which ends the
# search) in a few; a loaded machine needs the margin


@dataclass(frozen=True)
class Demo:
    """Ids and codes of the demo school that the tools requiring arguments are called with."""

    class_id: int
    term_id: int
    section_id: int
    section_code: str
    student_id: int
    assessment_id: int
    employee_id: int
    teacher_code: str
    room_code: str
    account_id: int
    run_id: int
    payslip_id: int
    family_id: int
    invoice_id: int
    action_id: int
    job_id: int
    document_id: int
    solution_id: int


Arguments = Callable[[Demo], dict[str, Any]]

NONE: Arguments = lambda d: {}  # noqa: E731 (the tool's defaults)

# Every read tool of the demo's personas, with the arguments it is called with: the defaults ({}) where it has no
# required argument; otherwise the demo's first class (7A-MATH), its term, section, teacher and students, etc.
ARGUMENTS: dict[str, Arguments] = {
    # platform, actions, jobs, documents
    "get_me": NONE,
    "ping": NONE,
    "list_audit_events": NONE,
    "list_notifications": NONE,
    "list_dead_letters": NONE,
    "list_pending_actions": NONE,
    "get_action": lambda d: {"action_id": d.action_id},
    "list_jobs": NONE,
    "get_job": lambda d: {"job_id": d.job_id},
    "list_documents": NONE,
    "get_document": lambda d: {"document_id": d.document_id},
    # toolsets (discovery)
    "list_toolsets": NONE,
    "enable_toolsets": lambda d: {"toolsets": ["all"]},
    # hr
    "list_departments": NONE,
    "list_employees": NONE,
    "search_employees": lambda d: {"query": "a"},
    "get_employee": lambda d: {"employee_id": d.employee_id},
    # academics
    "list_academic_years": NONE,
    "list_terms": NONE,
    "list_year_levels": NONE,
    "list_sections": NONE,
    "get_section": lambda d: {"section_id": d.section_id},
    "list_subjects": NONE,
    "list_teachers": NONE,
    "list_classes": NONE,
    "get_class": lambda d: {"class_id": d.class_id},
    "list_students": NONE,
    "search_students": lambda d: {"query": "a"},
    "get_student": lambda d: {"student_id": d.student_id},
    "list_enrollments": lambda d: {"class_id": d.class_id},
    "list_assessments": lambda d: {"class_id": d.class_id},
    "get_grade": lambda d: {"assessment_id": d.assessment_id, "student_id": d.student_id},
    "get_gradebook": lambda d: {"class_id": d.class_id, "term_id": d.term_id},
    "get_term_grades": lambda d: {"class_id": d.class_id, "term_id": d.term_id},
    "get_grading_categories": lambda d: {"class_id": d.class_id},
    "list_grading_scales": NONE,
    "get_transcript": lambda d: {"student_id": d.student_id},
    "list_grade_change_requests": NONE,
    "get_attendance_register": lambda d: {"section_id": d.section_id, "date": "2026-09-07"},
    "get_attendance_rates": lambda d: {"section_id": d.section_id},
    # timetable
    "list_rooms": NONE,
    "list_timetable_problems": NONE,
    "get_timetable_solution": lambda d: {"solution_id": d.solution_id},
    "get_section_timetable": lambda d: {"curriculum": d.section_code},
    "get_teacher_schedule": lambda d: {"teacher": d.teacher_code},
    "get_room_schedule": lambda d: {"room": d.room_code},
    "find_free_rooms": lambda d: {"weekday": "monday", "period": 0},
    "get_cover_sheet": NONE,
    "get_cover_load": lambda d: {"teacher": d.teacher_code},
    "get_timetable_calendar": lambda d: {"kind": "teacher", "code": d.teacher_code},
    "print_timetable": lambda d: {"kind": "section", "code": d.section_code},
    # finance
    "list_accounts": NONE,
    "get_trial_balance": NONE,
    "get_income_statement": NONE,
    "get_balance_sheet": NONE,
    "get_account_ledger": lambda d: {"account_id": d.account_id},
    # payroll
    "list_salary_structures": NONE,
    "list_tax_tables": NONE,
    "list_payroll_rates": NONE,
    "list_employment_contracts": NONE,
    "list_payroll_runs": NONE,
    "list_pay_calendars": NONE,
    "get_payroll_run": lambda d: {"run_id": d.run_id},
    "list_payslips": lambda d: {"run_id": d.run_id},
    "get_payslip": lambda d: {"payslip_id": d.payslip_id},
    # leave
    "list_leave_types": NONE,
    "list_leave_requests": NONE,
    "get_leave_balances": lambda d: {"employee_id": d.employee_id},
    "get_employee_payment_details": lambda d: {"employee_id": d.employee_id},
    "list_remittances": NONE,
    "get_remittance_report": lambda d: {"pay_date_from": "2026-01-01", "pay_date_to": "2026-12-31"},
    "get_stp_pay_event": lambda d: {"run_id": d.run_id},
    "get_stp_finalisation": lambda d: {"financial_year": "2025-26"},
    "get_leave_liability": lambda d: {"as_of": "2026-06-30"},
    # fees
    "list_families": NONE,
    "get_family_account": lambda d: {"family_id": d.family_id},
    "list_fee_items": NONE,
    "list_fee_schedules": NONE,
    "list_discounts": NONE,
    "list_invoices": NONE,
    "get_invoice": lambda d: {"invoice_id": d.invoice_id},
    "list_payments": NONE,
    "get_fee_collections": lambda d: {"from_date": "2026-01-01"},
    "get_receivables_aging": NONE,
    "get_fee_reminders": NONE,
    # purchasing
    "list_suppliers": NONE,
    "get_supplier": lambda d: {"supplier": PURCHASING_SUPPLIER},
    "list_purchase_orders": NONE,
    "get_purchase_order": lambda d: {"order_number": "PO000001"},
    "list_open_purchase_orders": NONE,
    "list_supplier_bills": NONE,
    "get_supplier_bill": lambda d: {"bill_number": "BILL000001"},
    "get_payables_aging": lambda d: {"as_of": "2026-03-31", "supplier": PURCHASING_SUPPLIER},
    # shop
    "list_products": NONE,
    "get_product": lambda d: {"sku": SHOP_TEMPLATE},
    "list_locations": NONE,
    "get_stock": NONE,
    "list_reorder_needs": NONE,
    "get_sales_order": lambda d: {"order_id": 1},  # the demo shop's first order (_shop)
    "list_sales_orders": NONE,
    "get_sales_by_product": lambda d: {"from_date": "2026-01-01", "to_date": "2026-12-31"},
    "list_slow_movers": lambda d: {"as_of": "2026-06-30"},
    "get_stock_valuation": NONE,
    "get_shop_takings": lambda d: {"from_date": "2026-01-01", "to_date": "2026-12-31"},
}
SHOP_TEMPLATE = "BLAZER"
PURCHASING_SUPPLIER = "UNIFORMS"
"""The demo shop's blazer (a template with sizes 6 to 16), made by _shop."""


async def _shop(runtime: Runtime, admin: Actor) -> None:
    """A uniform shop: a blazer in sizes 6 to 16 received into a store room, some moved to the shop, reorder
    points at the shop, and three paid orders."""
    for code, kind in (("SHOP", "shop"), ("STORE", "store_room")):
        await invoke(runtime, "create_location", {"code": code, "name": code.title(), "kind": kind}, admin)
    sizes = [f"{SHOP_TEMPLATE}-{size}" for size in range(6, 17, 2)]
    await invoke(runtime, "create_product", {
        "sku": SHOP_TEMPLATE, "name": "School blazer", "category": "uniform", "tax_code": "GST",
        "prices": {"families": 12_900, "staff": 11_000},
        "variants": [{"sku": sku, "attributes": {"size": sku.split("-")[1]}} for sku in sizes]}, admin)
    for sku in sizes:
        await invoke(runtime, "record_receipt", {"sku": sku, "location": "STORE", "quantity": 20,
                                                 "unit_cost_minor": 5_400, "on": "2026-01-15"}, admin)
        await invoke(runtime, "transfer_stock", {"sku": sku, "from_location": "STORE", "to_location": "SHOP",
                                                 "quantity": 3, "on": "2026-01-16"}, admin)
        await invoke(runtime, "set_reorder_point", {"sku": sku, "location": "SHOP", "minimum": 5,
                                                    "reorder_to": 12}, admin)
    for n, sku in enumerate(sizes[:3]):  # walk-in orders at the counter, paid by card
        order = await invoke(runtime, "create_sales_order", {
            "customer_kind": "walk_in", "location": "SHOP", "lines": [{"sku": sku, "quantity": 1 + n}],
            "on": "2026-01-20", "confirm": True}, admin)
        for step, extra in (("fulfil", {}), ("invoice", {}), ("pay", {"method": "card"})):
            await invoke(runtime, f"{step}_sales_order", {"order_id": order.order_id, "on": "2026-01-20", **extra},
                         admin)


async def _purchasing(runtime: Runtime, admin: Actor) -> None:
    """A supplier of blazers, an order of every size (PO000001) partly received into the store room and billed
    in part (BILL000001)."""
    await invoke(runtime, "create_supplier", {
        "code": PURCHASING_SUPPLIER, "name": "Uniforms Direct Pty Ltd", "abn": "51 824 753 556", "bsb": "062-000",
        "account_number": "12345678", "account_name": "UNIFORMS DIRECT", "payment_terms_days": 30}, admin)
    sizes = [f"{SHOP_TEMPLATE}-{size}" for size in range(6, 17, 2)]
    order = await invoke(runtime, "create_purchase_order", {
        "supplier": PURCHASING_SUPPLIER, "deliver_to": "STORE", "order_date": "2026-01-20",
        "lines": [{"sku": sku, "quantity": 20, "unit_cost_minor": 5_400} for sku in sizes]}, admin)
    await invoke(runtime, "send_purchase_order", {"order_number": order.order_number}, admin)
    await invoke(runtime, "receive_purchase_order", {"order_number": order.order_number, "on": "2026-01-27",
                                                     "lines": [{"sku": sku, "quantity": 12} for sku in sizes]}, admin)
    await invoke(runtime, "record_supplier_bill", {
        "order_number": order.order_number, "supplier_reference": "INV-1001", "bill_date": "2026-01-28",
        "lines": [{"sku": sku, "quantity": 10, "unit_cost_minor": 5_400} for sku in sizes]}, admin)


async def _complete(runtime: Runtime) -> None:
    """Add to the demo school what `mcs-erp demo` and a day's work add: a term publication queued for approval,
    a timetable solved and published (a job), a family's statement of account (a document), and a uniform shop."""
    admin, registrar = await actor_named(runtime, "admin"), await actor_named(runtime, "registrar")
    term = (await invoke(runtime, "list_terms", {"limit": 1}, admin)).items[0]
    cls = (await invoke(runtime, "list_classes", {"limit": 1}, admin)).items[0]
    publication = await invoke(runtime, "publish_term_grades", {"class_id": cls.id, "term_id": term.id}, registrar)
    await invoke(runtime, "confirm_action", {"action_id": publication.action_id}, registrar)
    problem = await invoke(runtime, "build_timetable_problem", {}, admin)
    job = await invoke(runtime, "solve_timetable", {"problem_id": problem.problem_id, "time_limit_s": SOLVE_S,
                                                   "seed": 3}, admin)
    solved = await wait_for(runtime, admin, job.job_id, timeout=120)
    assert solved.status == "succeeded", solved
    pending = await invoke(runtime, "publish_timetable", {"solution_id": solved.result["solution_id"]}, admin)
    await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, admin)
    bursar = await actor_named(runtime, "bursar")
    families = await invoke(runtime, "list_families", {"limit": 1}, bursar)
    await invoke(runtime, "generate_family_statement", {"family_id": families.items[0].family_id,
                                                        "from_date": "2026-01-01"}, bursar)
    await _shop(runtime, admin)
    await _purchasing(runtime, admin)


async def actor_named(runtime: Runtime, username: str) -> Actor:
    async with runtime.db.read() as session:
        user = await get_user_by_username(session, username)
        assert user is not None, username
        return actor_for(user, Channel.CLI)


@pytest.fixture(scope="module")
async def demo_runtime(tmp_path_factory):
    async with demo_school_url(tmp_path_factory.mktemp("read-budget")) as url:
        runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0,
                                          queue_name=f"mcs-erp-test:{uuid.uuid4().hex[:12]}"))
        runtime.jobs = InProcessRunner(runtime)
        try:
            await _complete(runtime)
            yield runtime
        finally:
            await runtime.close()


async def find_personas(runtime: Runtime) -> dict[str, Actor]:
    """The demo's admin, registrar, HR officer and bursar, and the teacher of the demo's first class (PERSONAS;
    bench/catalogue.py measures with the same)."""
    admin = await actor_named(runtime, "admin")
    first = (await invoke(runtime, "list_classes", {"limit": 1}, admin)).items[0]
    async with runtime.db.read() as session:
        teacher = (await session.exec(select(User).where(User.employee_id == first.teacher_id))).one()
    return {"admin": admin, **{name: await actor_named(runtime, name) for name in ("registrar", "hr", "bursar")},
            "teacher": actor_for(teacher, Channel.CLI)}


@pytest.fixture(scope="module")
async def personas(demo_runtime) -> dict[str, Actor]:
    return await find_personas(demo_runtime)


async def find_demo(rt: Runtime, admin: Actor) -> Demo:
    """The demo's first class, its term, section, teacher, a student and an assessment, and one of each other
    thing a read tool takes, found through the tools themselves as `admin` (bench/catalogue.py uses it too)."""

    async def first(tool: str, args: dict[str, Any] | None = None) -> Any:
        page = await invoke(rt, tool, {"limit": 1, **(args or {})}, admin)
        assert page.items, f"the demo school has no {tool} items"
        return page.items[0]

    cls = await first("list_classes")
    term = await first("list_terms")
    section = await invoke(rt, "get_section", {"section_id": cls.section_id}, admin)
    student = await first("list_students", {"class_id": cls.id})
    assessment = await first("list_assessments", {"class_id": cls.id, "term_id": term.id})
    teacher = await invoke(rt, "get_employee", {"employee_id": cls.teacher_id}, admin)
    run = await first("list_payroll_runs")
    receivable = await first("list_accounts", {"query": "1200"})
    return Demo(class_id=cls.id, term_id=term.id, section_id=cls.section_id, section_code=section.code,
                student_id=student.id, assessment_id=assessment.id,
                employee_id=teacher.id, teacher_code=teacher.code,
                room_code=(await first("list_rooms")).code, account_id=receivable.id, run_id=run.run_id,
                payslip_id=(await first("list_payslips", {"run_id": run.run_id})).payslip_id,
                family_id=(await first("list_families")).family_id,
                invoice_id=(await first("list_invoices")).invoice_id,
                action_id=(await first("list_pending_actions", {"status": "all"})).action_id,
                job_id=(await first("list_jobs")).job_id,
                document_id=(await first("list_documents")).document_id,
                solution_id=(await first("list_timetable_problems")).published_solution_id)


@pytest.fixture(scope="module")
async def demo(demo_runtime, personas) -> Demo:
    return await find_demo(demo_runtime, personas["admin"])


def read_tools(runtime: Runtime, personas: dict[str, Actor]) -> dict[str, list[str]]:
    """Every read tool some demo persona may call, with the personas that may."""
    tools: dict[str, list[str]] = {}
    for spec in runtime.catalogue.tools.values():
        callers = [name for name, actor in personas.items() if actor.has_any(spec.roles)]
        if spec.effect is Effect.READ and callers:
            tools[spec.name] = callers
    return tools


async def test_every_read_tool_of_the_demo_personas_is_in_the_table(demo_runtime, personas):
    tools = read_tools(demo_runtime, personas)
    missing = sorted(set(tools) - set(ARGUMENTS))
    assert not missing, f"add the read tools {missing} to ARGUMENTS (their default call on the demo school)"
    assert len(tools) >= 60 and set(PERSONAS) == set(personas)


async def test_every_default_read_answer_fits_the_budget(demo_runtime, personas, demo):
    sizes: dict[tuple[str, str], int] = {}
    refused: list[tuple[str, str]] = []
    tools = read_tools(demo_runtime, personas)
    for tool, callers in tools.items():
        for persona in callers:
            try:
                out = await invoke(demo_runtime, tool, ARGUMENTS[tool](demo), personas[persona])
            except PermissionDenied:  # row scope: another user's action, a class this teacher does not teach
                assert persona != "admin", tool
                refused.append((tool, persona))
                continue
            sizes[tool, persona] = len(out.model_dump_json())
    over = {f"{tool} as {persona}": size for (tool, persona), size in sizes.items() if size > BUDGET}
    assert not over, f"default answers over {BUDGET} characters: {over}"
    assert {tool for tool, _persona in sizes} == set(tools), "every read tool answered at least one persona"
    assert len(refused) < len(sizes) / 10, refused
    largest = max(sizes, key=sizes.__getitem__)
    assert sizes[largest] > 5_000, f"the demo school's largest default answer is only {sizes[largest]}: {largest}"


async def test_lists_summarise_and_leave_the_heavy_parts_behind_an_id(demo_runtime, personas, demo):
    admin, bursar = personas["admin"], personas["bursar"]
    # list_pending_actions: one line per action; get_action has the preview.
    listed = await invoke(demo_runtime, "list_pending_actions", {"status": "all"}, admin)
    assert listed.items and all("preview" not in item.model_dump() for item in listed.items)
    assert all("\n" not in item.summary and len(item.summary) <= 200 for item in listed.items)
    action = await invoke(demo_runtime, "get_action", {"action_id": demo.action_id}, admin)
    assert action.preview
    # The fee reports: totals over every row first, then one page with a cursor for the rest.
    aging = await invoke(demo_runtime, "get_receivables_aging", {}, bursar)
    assert aging.rows_total > len(aging.rows) == 20 and aging.next_cursor is not None
    assert aging.totals.total == aging.ledger_receivable_minor and aging.agrees_with_ledger is True
    reminders = await invoke(demo_runtime, "get_fee_reminders", {}, bursar)
    assert reminders.families_total > len(reminders.families) == 20 and reminders.next_cursor is not None
    assert reminders.overdue_total_minor == reminders.overdue_by_bucket.total > sum(
        f.overdue_minor for f in reminders.families)
    # get_me: who and what in a few lines, not the catalogue.
    me = await invoke(demo_runtime, "get_me", {}, personas["teacher"])
    me_roles = personas["teacher"].roles
    assert me.roles == ["teacher"] and not me.approves_actions and me.employee_id is not None
    assert me.tools_total == sum(a.reads + a.writes + len(a.gated) for a in me.toolsets)
    listed = {a.toolset for a in me.toolsets if a.listed}
    assert "gradebook" in listed and listed == {a.toolset for a in me.toolsets} & default_toolsets(me_roles)
    assert len(me.model_dump_json()) < 2_500


async def test_a_document_comes_a_chunk_at_a_time(demo_runtime, personas, demo):
    bursar = personas["bursar"]
    first = await invoke(demo_runtime, "get_document", {"document_id": demo.document_id}, bursar)
    assert first.size > CHUNK_BYTES and first.offset == 0 and first.next_offset == CHUNK_BYTES
    parts, chunk = [first.content_base64], first
    while chunk.next_offset is not None:
        chunk = await invoke(demo_runtime, "get_document", {"document_id": demo.document_id,
                                                            "offset": chunk.next_offset}, bursar)
        parts.append(chunk.content_base64)
    whole = base64.b64decode("".join(parts))  # whole chunks are multiples of 3 bytes: their base64 joins
    assert len(whole) == first.size and hashlib.sha256(whole).hexdigest() == first.sha256
    assert whole.startswith(b"%PDF") and len(parts) == -(-first.size // CHUNK_BYTES)
    at_once = await invoke(demo_runtime, "get_document", {"document_id": demo.document_id,
                                                          "max_bytes": first.size}, bursar)
    assert base64.b64decode(at_once.content_base64) == whole and at_once.next_offset is None
    with pytest.raises(InvalidInput, match=f"offset {first.size} is past the end") as past:
        await invoke(demo_runtime, "get_document", {"document_id": demo.document_id, "offset": first.size},
                     bursar)
    assert past.value.field == "offset"
    with pytest.raises(InvalidInput, match="max_bytes"):
        await invoke(demo_runtime, "get_document", {"document_id": demo.document_id, "max_bytes": 0}, bursar)
