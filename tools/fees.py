"""Fee tools for the bursar: families, fee items, fee schedules and discounts, invoice generation (a job),
issuing, voiding (approve), credit notes (confirm), payments, family credit and refunds (approve), the
receivables aging, reminders and statements of account.

Every amount is an integer number of minor units (cents for AUD/USD) of the ISO 4217 currency named beside it,
never a float. Each issued invoice, payment, credit note, credit application and refund posts one journal entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import service as academics
from domain.documents import service as documents
from domain.fees import plans, service
from domain.fees.models import Family, Invoice
from domain.fees.schemas import (
    AgingOut,
    AppliedOut,
    AwardOut,
    CollectionsOut,
    CreditNoteOut,
    DiscountOut,
    FamilyAccountOut,
    FamilyOut,
    FeeItemOut,
    FeeScheduleOut,
    InvoiceOut,
    IssuedOut,
    MethodTotalOut,
    OpenInvoiceOut,
    PaymentOut,
    RefundOut,
    RemindersOut,
    StatementOut,
    aging_out,
    allocation_out,
    credit_note_out,
    discount_out,
    family_out,
    invoice_out,
    payment_out,
    reminders_out,
    schedule_out,
)
from domain.fees.statement_document import render_family_statement_pdf, statement_filename
from domain.finance import service as finance
from domain.kernel import money
from domain.kernel.actor import Actor, Role
from domain.kernel.clock import utcnow
from domain.kernel.errors import NotFound
from domain.kernel.plan import Plan
from domain.kernel.settings import current_settings
from tools.jobs import IdempotencyKey, JobKind, JobOut, WaitSeconds, start_job
from tools.references import (
    AccountRef,
    DiscountRef,
    FamilyRef,
    FeeItemRef,
    FeeScheduleRef,
    InvoiceRef,
    StudentRef,
    TermRef,
    YearLevelRef,
)
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import (
    Currency,
    Name,
    Page,
    PageInput,
    PositiveMinorAmount,
    Query,
    Reason,
    ToolInput,
    page_of,
    ranked_page_of,
)

module = Module("fees", depends_on=("academics", "finance", "jobs", "documents"),
                description="Fees for the bursar: families, fee schedules, discounts, invoices, payments, credit "
                            "notes, refunds, receivables aging, reminders and statements (integer minor units).")

BURSARS = frozenset({Role.ADMIN, Role.FINANCE})
MAX_IDS = 10_000

FeeCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=20)]
Text160 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=160)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
EmailText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Percent = Annotated[Decimal, Field(gt=0, le=100, max_digits=5, decimal_places=2),
                    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 100,
                                    "description": "A percentage off, at most 2 decimals (e.g. 12.5)."})]


def utc_today() -> dt.date:
    """Today's date in UTC (domain.kernel.clock)."""
    return utcnow().date()


# A gated command's date: omitted (or null) is today, resolved when the call is validated so that the stored
# arguments of a pending action name the day previewed, not the day it is approved.
OnDay = Annotated[dt.date, BeforeValidator(lambda value: utc_today() if value is None else value)]

CURRENCY_HELP = "omitted: the fees' currency."


async def _currency(ctx: ToolContext, given: str | None) -> str:
    if given:
        return money.parse_currency(given)
    account = await finance.find_account_by_code(ctx.session, service.FEE_ACCOUNTS["receivable"][0])
    return account.currency if account is not None else ctx.runtime.settings.currency


def _today(ctx: ToolContext) -> dt.date:
    return utcnow().date()


# ---------------------------------------------------------------- outputs


async def _with_codes(ctx: ToolContext, outs: list[InvoiceOut], *, family: Family | None = None) -> list[InvoiceOut]:
    """`outs` with the family's and the student's codes beside their ids (two lookups of the codes alone; none for
    the families' when every invoice is of `family`, read already)."""
    wanted = {out.family_id for out in outs}
    families = {family.id: family.code} if family is not None and wanted <= {family.id} else \
        await service.family_codes(ctx.session, wanted)
    students = await academics.reference_codes(ctx.session, "student", {out.student_id for out in outs})
    return [out.model_copy(update={"family_code": families.get(out.family_id),
                                   "student_code": students.get(out.student_id)}) for out in outs]


async def _invoice_detail(ctx: ToolContext, invoice: Invoice) -> InvoiceOut:
    detail = await service.invoice_detail(ctx.session, invoice)
    out = invoice_out(invoice, lines=detail.lines, allocations=detail.allocations, notes=detail.credit_notes)
    return (await _with_codes(ctx, [out]))[0]


# ---------------------------------------------------------------- families


class CreateFamilyIn(ToolInput):
    name: Text160 = Field(description="e.g. 'Nguyen family'.")
    billing_name: Text160 | None = Field(default=None, description="Who statements are addressed to.")
    billing_email: EmailText | None = None
    billing_address: Address | None = Field(default=None, description="Postal address; lines separated by newlines.")
    student_ids: list[StudentRef] = Field(default_factory=list, max_length=20)


@module.tool(effect=Effect.WRITE, roles=BURSARS)
async def create_family(ctx: ToolContext, args: CreateFamilyIn) -> FamilyOut:
    """Create a family (F00042): the account its students' fees are billed to, payments come from and statements go to.
    A student is in one family at a time."""
    family = await service.create_family(ctx.session, ctx.actor, name=args.name, billing_name=args.billing_name,
                                         billing_email=args.billing_email, billing_address=args.billing_address,
                                         student_ids=args.student_ids)
    # A new family's members are the students given, in that order (create_family adds each once, or refuses).
    return family_out(family, list(dict.fromkeys(args.student_ids)))


class AddFamilyStudentIn(ToolInput):
    family_id: FamilyRef
    student_id: StudentRef
    move: bool = Field(default=False, description="true: move the student from another family (its issued "
                                                  "invoices stay with it).")


@module.tool(effect=Effect.WRITE, roles=BURSARS)
async def add_family_student(ctx: ToolContext, args: AddFamilyStudentIn) -> FamilyOut:
    """Add a student to a family; their next invoices are billed to it (and they count for sibling discounts)."""
    family = await service.add_family_student(ctx.session, ctx.actor, family_id=args.family_id,
                                              student_id=args.student_id, move=args.move)
    members = await service.family_student_ids(ctx.session, [family.id or 0])
    return family_out(family, members.get(family.id or 0, []))


class ListFamiliesIn(PageInput):
    query: Query | None = Field(default=None, description="Part of the code, name or billing name.")
    student_id: StudentRef | None = Field(default=None, description="The family of this student.")


@module.tool(effect=Effect.READ, roles=BURSARS)
async def list_families(ctx: ToolContext, args: ListFamiliesIn) -> Page[FamilyOut]:
    """List families, optionally by part of the name or code (case and accents ignored, nearest first), or the family of
    one student."""
    if args.student_id is not None:
        await academics.get_student(ctx.session, args.student_id)
    start = args.after_id()
    rows = await service.list_families(ctx.session, after_id=start, limit=args.limit, query=args.query,
                                    student_id=args.student_id)
    page, cursor = ranked_page_of(rows, args.limit, start) if args.query else page_of(rows, args.limit)
    members = await service.family_student_ids(ctx.session, [f.id or 0 for f in page])
    return Page[FamilyOut](items=[family_out(f, members.get(f.id or 0, [])) for f in page], next_cursor=cursor)


class FamilyAccountIn(ToolInput):
    family_id: FamilyRef
    as_of: dt.date | None = Field(default=None, description="omitted: today.")
    currency: Currency | None = Field(default=None, description=CURRENCY_HELP)


@module.tool(effect=Effect.READ, roles=BURSARS)
async def get_family_account(ctx: ToolContext, args: FamilyAccountIn) -> FamilyAccountOut:
    """Get a family's account on a day: its open invoices with days overdue, what it owes, the credit the school holds
    for it, and the net balance (owed - credit)."""
    account = await service.family_account(ctx.session, family_id=args.family_id,
                                           currency=await _currency(ctx, args.currency),
                                           as_of=args.as_of or _today(ctx))
    # The students' codes come from the students the account read (the output's code lookup then has nothing to do,
    # unless an open invoice is of a student who has left the family since).
    codes = {s.id: s.code for s in account.students}
    family = family_out(account.family, [s.id or 0 for s in account.students])
    family.student_codes = [codes[i] for i in family.student_ids]
    return FamilyAccountOut(
        family=family, as_of=account.as_of,
        currency=account.currency, owed_minor=account.owed, credit_minor=account.credit,
        balance_minor=account.balance,
        open_invoices=[OpenInvoiceOut(invoice_id=i.invoice.id or 0, number=i.invoice.invoice_number,
                                      student_id=i.invoice.student_id, student_code=codes.get(i.invoice.student_id),
                                      due_date=i.invoice.due_date, total_minor=i.invoice.total,
                                      balance_minor=i.balance, days_overdue=i.days_overdue)
                       for i in account.open_invoices])


# ---------------------------------------------------------------- fee items, schedules, discounts


class CreateFeeItemIn(ToolInput):
    code: FeeCode = Field(description="E.g. TUITION, TRANSPORT, MEALS.")
    name: Name
    income_account_id: AccountRef


@module.tool(effect=Effect.WRITE, roles=BURSARS)
async def create_fee_item(ctx: ToolContext, args: CreateFeeItemIn) -> FeeItemOut:
    """Create a fee item (tuition, transport, meals...) and the income account its fees are credited to."""
    item = await service.create_fee_item(ctx.session, ctx.actor, code=args.code, name=args.name,
                                         income_account_id=args.income_account_id)
    return FeeItemOut(fee_item_id=item.id or 0, code=item.code, name=item.name,
                      income_account_id=item.income_account_id, active=item.active)


@module.tool(effect=Effect.READ, roles=BURSARS)
async def list_fee_items(ctx: ToolContext, args: PageInput) -> Page[FeeItemOut]:
    """List the fee items."""
    rows = await service.list_fee_items(ctx.session, after_id=args.after_id(), limit=args.limit)
    page, cursor = page_of(rows, args.limit)
    return Page[FeeItemOut](items=[FeeItemOut(fee_item_id=r.id or 0, code=r.code, name=r.name,
                                              income_account_id=r.income_account_id, active=r.active)
                                   for r in page], next_cursor=cursor)


class ScheduleLineIn(ToolInput):
    fee_item_id: FeeItemRef
    amount_minor: PositiveMinorAmount
    year_level_id: YearLevelRef | None = Field(default=None, description="omitted: every year level without a line "
                                                               "of its own for the item.")


class CreateFeeScheduleIn(ToolInput):
    code: FeeCode = Field(description="E.g. T2-2026.")
    name: Text160 = Field(description="E.g. 'Term 2 2026 fees'.")
    term_id: TermRef
    currency: Currency | None = Field(default=None, description=CURRENCY_HELP)
    due_date: dt.date
    lines: list[ScheduleLineIn] = Field(min_length=1, max_length=service.MAX_SCHEDULE_LINES)


@module.tool(effect=Effect.WRITE, roles=BURSARS)
async def create_fee_schedule(ctx: ToolContext, args: CreateFeeScheduleIn) -> FeeScheduleOut:
    """Create a term's fee schedule, a fee item's amount per line; generate_invoices bills from it."""
    schedule, lines = await service.create_fee_schedule(
        ctx.session, ctx.actor, code=args.code, name=args.name, term_id=args.term_id,
        currency=await _currency(ctx, args.currency), due_date=args.due_date,
        lines=[service.ScheduleLineInput(fee_item_id=line.fee_item_id, amount=line.amount_minor,
                                         year_level_id=line.year_level_id) for line in args.lines])
    return schedule_out(schedule, lines)


@module.tool(effect=Effect.READ, roles=BURSARS)
async def list_fee_schedules(ctx: ToolContext, args: PageInput) -> Page[FeeScheduleOut]:
    """List the fee schedules."""
    rows = await service.list_fee_schedules(ctx.session, after_id=args.after_id(), limit=args.limit)
    page, cursor = page_of(rows, args.limit, key=lambda row: row[0].id)
    items = [schedule_out(s, lines) for s, lines in page]
    return Page[FeeScheduleOut](items=items, next_cursor=cursor)


class CreateDiscountIn(ToolInput):
    code: FeeCode = Field(description="E.g. SIBLING2, SCHOLAR50.")
    name: Name
    kind: Literal["sibling", "scholarship", "other"] = Field(
        description="sibling: applies by itself from the family's sibling_position-th eldest enrolled child; "
                    "scholarship/other: awarded with award_discount.")
    percent: Percent | None = None
    amount_minor: PositiveMinorAmount | None = Field(default=None,
                                                     description="A fixed amount off, instead of a percentage.")
    currency: Currency | None = Field(default=None, description="The fixed amount's currency; omitted: the fees'.")
    fee_item_id: FeeItemRef | None = Field(default=None, description="Only off this fee item; omitted: off all fees.")
    sibling_position: int | None = Field(default=None, ge=2, le=20,
                                         description="For sibling discounts: 2 = the second eldest and younger.")
    account_id: AccountRef | None = Field(default=None, description="Account debited; omitted: 4190 Fee discounts.")


@module.tool(effect=Effect.WRITE, roles=BURSARS)
async def create_discount(ctx: ToolContext, args: CreateDiscountIn) -> DiscountOut:
    """Create a fee discount: a percentage or a fixed amount off one fee item or the whole invoice. Only invoices
    generated afterwards carry it."""
    currency = await _currency(ctx, args.currency)
    percent_bp = None if args.percent is None else int(args.percent * 100)
    row = await service.create_discount(
        ctx.session, ctx.actor, code=args.code, name=args.name, kind=args.kind, percent_bp=percent_bp,
        amount=args.amount_minor, currency=currency if args.amount_minor is not None else None,
        fee_item_id=args.fee_item_id, sibling_position=args.sibling_position, account_id=args.account_id)
    return discount_out(row)


@module.tool(effect=Effect.READ, roles=BURSARS)
async def list_discounts(ctx: ToolContext, args: PageInput) -> Page[DiscountOut]:
    """List the fee discounts."""
    rows = await service.list_discounts(ctx.session, after_id=args.after_id(), limit=args.limit)
    page, cursor = page_of(rows, args.limit)
    return Page[DiscountOut](items=[discount_out(r) for r in page], next_cursor=cursor)


class AwardDiscountIn(ToolInput):
    student_id: StudentRef
    discount_id: DiscountRef
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None = None


@module.tool(effect=Effect.WRITE, roles=BURSARS)
async def award_discount(ctx: ToolContext, args: AwardDiscountIn) -> AwardOut:
    """Award a scholarship (or other) discount to a student; invoices generated from now on carry it."""
    award = await service.award_discount(ctx.session, ctx.actor, student_id=args.student_id,
                                         discount_id=args.discount_id, note=args.note)
    return AwardOut(award_id=award.id or 0, student_id=award.student_id, discount_id=award.discount_id,
                    note=award.note)


# ---------------------------------------------------------------- invoices


class GenerateInvoicesIn(ToolInput):
    schedule_id: FeeScheduleRef
    year_level_id: YearLevelRef | None = Field(default=None, description="Only this year level; omitted (and no "
                                                               "student_ids): every enrolled student.")
    student_ids: list[StudentRef] | None = Field(default=None, max_length=MAX_IDS, description="Only these students.")
    issue: bool = Field(default=True, description="false: drafts, issued later with issue_invoices.")
    issue_date: dt.date | None = Field(default=None, description="omitted: today.")
    rebill_voided: bool = Field(default=False, description="true: bill again students whose invoice for this "
                                                           "schedule was voided.")
    idempotency_key: IdempotencyKey | None = None
    wait_s: WaitSeconds = 0


async def _generation_params(ctx: ToolContext, session, args: GenerateInvoicesIn) -> dict[str, Any]:
    await service.get_fee_schedule(session, args.schedule_id)
    if args.year_level_id is not None:
        await academics.get_year_level(session, args.year_level_id)
    if args.student_ids is not None:
        found = await academics.students_by_id(session, args.student_ids)
        for index, student_id in enumerate(args.student_ids):
            if student_id not in found:
                raise NotFound(f"no student with id {student_id}; list_students shows them",
                               field=f"student_ids.{index}")
    issue_date = args.issue_date or _today(ctx)
    return {"schedule_id": args.schedule_id, "year_level_id": args.year_level_id, "student_ids": args.student_ids,
            "issue": args.issue, "issue_date": issue_date.isoformat() if args.issue else None,
            "rebill_voided": args.rebill_voided}


@module.tool(effect=Effect.WRITE, roles=BURSARS, starts_job=True)
async def generate_invoices(ctx: ToolContext, args: GenerateInvoicesIn) -> JobOut:
    """Start a job that bills a fee schedule's term: an invoice per student to their family, with their year level's
    fees less the discounts that apply. Students already invoiced for the schedule are skipped (running it again is
    safe), as are students without a family, listed in the result."""
    return await start_job(ctx, kind=JobKind.GENERATE_INVOICES,
                           params=await _generation_params(ctx, ctx.session, args), idempotency_key=args.idempotency_key)


class IssueInvoicesIn(ToolInput):
    invoice_ids: list[InvoiceRef] | None = Field(default=None, max_length=MAX_IDS, description="Drafts to issue.")
    schedule_id: FeeScheduleRef | None = Field(default=None, description="Issue every draft of this schedule instead.")
    issue_date: dt.date | None = Field(default=None, description="omitted: today.")


@module.tool(effect=Effect.WRITE, roles=BURSARS)
async def issue_invoices(ctx: ToolContext, args: IssueInvoicesIn) -> IssuedOut:
    """Issue draft invoices: each posts its journal entry (Dr Fees receivable, Cr the fees' income accounts)."""
    ids = await service.issue_invoices(ctx.session, ctx.actor, invoice_ids=args.invoice_ids,
                                       schedule_id=args.schedule_id, issue_date=args.issue_date or _today(ctx))
    return IssuedOut(issued=len(ids), invoice_ids=ids[:1000])


class ListInvoicesIn(PageInput):
    family_id: FamilyRef | None = None
    student_id: StudentRef | None = None
    schedule_id: FeeScheduleRef | None = None
    status: list[Literal["draft", "issued", "partially_paid", "paid", "void"]] | None = Field(default=None,
                                                                                           max_length=5)
    overdue_on: dt.date | None = Field(default=None, description="Only invoices still open and past due on this "
                                                                 "day.")


@module.tool(effect=Effect.READ, roles=BURSARS)
async def list_invoices(ctx: ToolContext, args: ListInvoicesIn) -> Page[InvoiceOut]:
    """List invoices with their balances; get_invoice adds the lines, payments and credit notes."""
    family = None if args.family_id is None else await service.get_family(ctx.session, args.family_id)
    if args.student_id is not None:
        await academics.get_student(ctx.session, args.student_id)
    if args.schedule_id is not None:
        await service.get_fee_schedule(ctx.session, args.schedule_id)
    rows = await service.list_invoices(ctx.session, after_id=args.after_id(), limit=args.limit,
                                       family_id=args.family_id, student_id=args.student_id,
                                       schedule_id=args.schedule_id, statuses=args.status, overdue_on=args.overdue_on)
    page, cursor = page_of(rows, args.limit)
    return Page[InvoiceOut](items=await _with_codes(ctx, [invoice_out(r) for r in page], family=family),
                            next_cursor=cursor)


class InvoiceIdIn(ToolInput):
    invoice_id: InvoiceRef


@module.tool(effect=Effect.READ, roles=BURSARS)
async def get_invoice(ctx: ToolContext, args: InvoiceIdIn) -> InvoiceOut:
    """Get one invoice in full."""
    return await _invoice_detail(ctx, await service.get_invoice(ctx.session, args.invoice_id))


class VoidInvoiceIn(ToolInput):
    invoice_id: InvoiceRef
    on: OnDay = Field(default_factory=utc_today, description="The reversal entry's date; omitted: today (UTC), "
                                                              "fixed when proposed.")
    reason: Reason


def _plan_void(session: AsyncSession, actor: Actor, args: VoidInvoiceIn) -> Awaitable[Plan]:
    return plans.plan_void_invoice(session, actor, invoice_id=args.invoice_id, on=args.on, reason=args.reason)


@module.tool(effect=Effect.DESTRUCTIVE, roles=BURSARS, gate=GateLevel.APPROVE, plan=_plan_void)
async def void_invoice(ctx: ToolContext, args: VoidInvoiceIn) -> InvoiceOut:
    """Void an invoice with nothing paid or credited on it: its journal entry is reversed and it is owed no more. A paid
    invoice is corrected with issue_credit_note instead."""
    return await _invoice_detail(ctx, await service.get_invoice(ctx.session, args.invoice_id))


class CreditNoteIn(ToolInput):
    invoice_id: InvoiceRef
    amount_minor: PositiveMinorAmount
    on: OnDay = Field(default_factory=utc_today, description="omitted: today (UTC), fixed when proposed.")
    reason: Reason
    account_id: AccountRef | None = Field(default=None, description="Account debited; omitted: 4190 Fee discounts and "
                                                            "credit notes.")


def _plan_credit_note(session: AsyncSession, actor: Actor, args: CreditNoteIn) -> Awaitable[Plan]:
    return plans.plan_issue_credit_note(session, actor, invoice_id=args.invoice_id, amount=args.amount_minor,
                                        on=args.on, reason=args.reason, account_id=args.account_id)


@module.tool(effect=Effect.DESTRUCTIVE, roles=BURSARS, gate=GateLevel.CONFIRM, plan=_plan_credit_note)
async def issue_credit_note(ctx: ToolContext, args: CreditNoteIn) -> CreditNoteOut:
    """Issue a credit note on an issued invoice, at most its total less earlier credit notes: it comes off the balance,
    and what exceeds the balance (it was paid) becomes the family's credit (apply_family_credit, refund_family_credit).
    Posts its journal entry."""
    assert ctx.applied is not None
    note = await service.get_credit_note(ctx.session, ctx.applied.ids["note"] or 0)
    return credit_note_out(note)


# ---------------------------------------------------------------- payments, credit, refunds


class AllocationIn(ToolInput):
    invoice_id: InvoiceRef
    amount_minor: PositiveMinorAmount


class RecordPaymentIn(ToolInput):
    family_id: FamilyRef
    amount_minor: PositiveMinorAmount
    currency: Currency | None = Field(default=None, description=CURRENCY_HELP)
    received_on: dt.date | None = Field(default=None, description="omitted: today.")
    method: Literal["bank_transfer", "card", "cash", "cheque", "direct_debit", "other"]
    reference: Reference | None = Field(default=None, description="Bank reference, receipt or cheque number.")
    deposit_account_id: AccountRef | None = Field(default=None, description="Where the money went; omitted: 1010 Bank.")
    allocations: list[AllocationIn] | None = Field(default=None, max_length=service.MAX_ALLOCATIONS,
                                                   description="Which invoices it pays and how much; omitted: "
                                                               "the earliest due first.")
    idempotency_key: Key = Field(description="A key you choose for this payment (e.g. the bank reference); "
                                             "retrying with it never records the payment twice.")


@module.tool(effect=Effect.WRITE, roles=BURSARS)
async def record_payment(ctx: ToolContext, args: RecordPaymentIn) -> PaymentOut:
    """Record money a family paid (RCT000042) and allocate it to its open invoices; what is left becomes the family's
    credit. Posts Dr bank, Cr Fees receivable and Family credit."""
    done = await service.record_payment(
        ctx.session, ctx.actor, family_id=args.family_id, amount=args.amount_minor,
        # omitted: the service reads the fees' currency with the fee accounts it posts to (one query, not two)
        currency=money.parse_currency(args.currency) if args.currency else None,
        received_on=args.received_on or _today(ctx),
        method=args.method, idempotency_key=args.idempotency_key, reference=args.reference,
        deposit_account_id=args.deposit_account_id,
        allocations=None if args.allocations is None else [
            service.AllocationInput(invoice_id=a.invoice_id, amount=a.amount_minor) for a in args.allocations])
    return payment_out(done.payment, done.allocations, done.replayed)


class ListPaymentsIn(PageInput):
    family_id: FamilyRef | None = None
    from_date: dt.date | None = None
    to_date: dt.date | None = None


@module.tool(effect=Effect.READ, roles=BURSARS)
async def list_payments(ctx: ToolContext, args: ListPaymentsIn) -> Page[PaymentOut]:
    """List payments received; get_fee_collections totals them."""
    if args.family_id is not None:
        await service.get_family(ctx.session, args.family_id)
    rows = await service.list_payments(ctx.session, after_id=args.after_id(), limit=args.limit,
                                       family_id=args.family_id, from_date=args.from_date, to_date=args.to_date)
    page, cursor = page_of(rows, args.limit, key=lambda row: row[0].id)
    items = [payment_out(p, allocations) for p, allocations in page]
    return Page[PaymentOut](items=items, next_cursor=cursor)


class CollectionsIn(ToolInput):
    from_date: dt.date = Field(description="First day (inclusive).")
    to_date: dt.date | None = Field(default=None, description="Last day (inclusive); omitted: today.")
    currency: Currency | None = Field(default=None, description=CURRENCY_HELP)


@module.tool(effect=Effect.READ, roles=BURSARS)
async def get_fee_collections(ctx: ToolContext, args: CollectionsIn) -> CollectionsOut:
    """Total what was collected between two dates ("what did we collect this term"): payments by method, the part that
    became family credit, refunds paid back, and the net."""
    out = await service.collections(ctx.session, from_date=args.from_date, to_date=args.to_date or _today(ctx),
                                    currency=await _currency(ctx, args.currency))
    return CollectionsOut(from_date=out.from_date, to_date=out.to_date, currency=out.currency,
                          payments=out.payments, received_minor=out.received,
                          to_family_credit_minor=out.to_family_credit, refunds=out.refunds,
                          refunded_minor=out.refunded, net_collected_minor=out.net,
                          by_method=[MethodTotalOut(method=m, payments=n, amount_minor=a) for m, n, a in out.by_method])


class ApplyCreditIn(ToolInput):
    family_id: FamilyRef
    currency: Currency | None = Field(default=None, description=CURRENCY_HELP)
    amount_minor: PositiveMinorAmount | None = Field(default=None, description="omitted: all the family's credit.")
    invoice_ids: list[InvoiceRef] | None = Field(default=None, max_length=200,
                                         description="Only these invoices; omitted: the earliest due first.")
    on: dt.date | None = Field(default=None, description="omitted: today.")
    idempotency_key: Key | None = None


@module.tool(effect=Effect.WRITE, roles=BURSARS)
async def apply_family_credit(ctx: ToolContext, args: ApplyCreditIn) -> AppliedOut:
    """Apply a family's credit (overpayments, credit notes) to its open invoices. Posts Dr Family credit, Cr Fees
    receivable."""
    rows = await service.apply_family_credit(ctx.session, ctx.actor, family_id=args.family_id,
                                             currency=await _currency(ctx, args.currency), on=args.on or _today(ctx),
                                             amount=args.amount_minor, invoice_ids=args.invoice_ids,
                                             idempotency_key=args.idempotency_key)
    return AppliedOut(applied_minor=sum(r.amount for r in rows), allocations=[allocation_out(r) for r in rows])


class RefundIn(ToolInput):
    family_id: FamilyRef
    amount_minor: PositiveMinorAmount
    currency: Currency | None = Field(default=None, description=CURRENCY_HELP)
    on: OnDay = Field(default_factory=utc_today, description="omitted: today (UTC), fixed when proposed.")
    method: Literal["bank_transfer", "card", "cash", "cheque", "direct_debit", "other"]
    reference: Reference | None = None
    reason: Reason
    bank_account_id: AccountRef | None = Field(default=None, description="Paid from; omitted: 1010 Bank.")
    idempotency_key: Key = Field(description="A key you choose for this refund; retrying never refunds twice.")


async def _plan_refund(session: AsyncSession, actor: Actor, args: RefundIn) -> Plan:
    currency = args.currency
    if currency is None:
        account = await finance.find_account_by_code(session, service.FEE_ACCOUNTS["receivable"][0])
        currency = account.currency if account is not None else current_settings().currency
    return await plans.plan_refund_family_credit(
        session, actor, family_id=args.family_id, amount=args.amount_minor, currency=currency, on=args.on,
        method=args.method, reason=args.reason, idempotency_key=args.idempotency_key, reference=args.reference,
        bank_account_id=args.bank_account_id)


@module.tool(effect=Effect.DESTRUCTIVE, roles=BURSARS, gate=GateLevel.APPROVE, plan=_plan_refund)
async def refund_family_credit(ctx: ToolContext, args: RefundIn) -> RefundOut:
    """Pay money back to a family out of its credit (RF000042), at most the credit it holds; to refund a paid invoice,
    issue a credit note first. Posts Dr Family credit, Cr bank."""
    assert ctx.applied is not None
    refund_id = ctx.applied.ids.get("refund")
    row = await service.get_refund(ctx.session, refund_id=refund_id, idempotency_key=args.idempotency_key)
    if row is None:  # pragma: no cover - a plan without a refund is one whose key had made it
        raise NotFound(f"no refund with idempotency key {args.idempotency_key!r}", field="idempotency_key")
    after = await service.family_credit(ctx.session, row.family_id, row.currency)
    return RefundOut(refund_id=row.id or 0, number=row.refund_number, family_id=row.family_id,
                     refunded_on=row.refunded_on, currency=row.currency, amount_minor=row.amount, method=row.method,
                     reference=row.reference, reason=row.reason, entry_id=row.entry_id,
                     family_credit_after_minor=after)


# ---------------------------------------------------------------- receivables


def _report_page(rows: list, args: PageInput) -> tuple[list, str | None]:
    """One page of a computed report's rows; its cursor is the position of the page's last row in the report."""
    start = args.after_id()
    numbered = list(enumerate(rows[start:start + args.limit + 1], start=start + 1))
    page, cursor = page_of(numbered, args.limit, key=lambda pair: pair[0])
    return [row for _, row in page], cursor


class AgingIn(PageInput):
    as_of: dt.date | None = Field(default=None, description="omitted: today.")
    currency: Currency | None = Field(default=None, description=CURRENCY_HELP)
    group_by: Literal["family", "student"] = "family"
    year_level_id: YearLevelRef | None = None
    min_days_overdue: int = Field(default=0, ge=0, le=3650, description="Only rows with an invoice at least this "
                                                                        "many days past due.")


@module.tool(effect=Effect.READ, roles=BURSARS)
async def get_receivables_aging(ctx: ToolContext, args: AgingIn) -> AgingOut:
    """Age the fees owed on a day, per family or per student, by days past due, most overdue first; min_days_overdue=61
    answers "who owes more than 60 days". Unfiltered, it also checks the total against the ledger's Fees receivable. The
    totals cover every row; the rows come a page at a time."""
    report = await service.receivables_aging(ctx.session, as_of=args.as_of or _today(ctx),
                                             currency=await _currency(ctx, args.currency), group_by=args.group_by,
                                             year_level_id=args.year_level_id,
                                             min_days_overdue=args.min_days_overdue)
    rows, cursor = _report_page(report.rows, args)
    return aging_out(report, rows, cursor)


class RemindersIn(PageInput):
    as_of: dt.date | None = Field(default=None, description="omitted: today.")
    currency: Currency | None = Field(default=None, description=CURRENCY_HELP)
    min_days_overdue: int = Field(default=1, ge=1, le=3650)
    min_amount_minor: PositiveMinorAmount = 1


@module.tool(effect=Effect.READ, roles=BURSARS)
async def get_fee_reminders(ctx: ToolContext, args: RemindersIn) -> RemindersOut:
    """List the families to remind, most overdue first: the totals, then a page of families, each with what it has
    overdue, owes in all and holds as credit, and its contacts. Sending the reminders is up to you."""
    currency = await _currency(ctx, args.currency)
    reminders = await service.fee_reminders(ctx.session, as_of=args.as_of or _today(ctx), currency=currency,
                                            min_days_overdue=args.min_days_overdue,
                                            min_amount=args.min_amount_minor)
    page, cursor = _report_page(reminders, args)
    return reminders_out(reminders, page, as_of=args.as_of or _today(ctx), currency=currency, next_cursor=cursor)


class StatementIn(ToolInput):
    family_id: FamilyRef
    from_date: dt.date
    to_date: dt.date | None = Field(default=None, description="omitted: today.")
    currency: Currency | None = Field(default=None, description=CURRENCY_HELP)
    payment_instructions: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                           max_length=1000)] | None = None


@module.tool(effect=Effect.WRITE, roles=BURSARS)
async def generate_family_statement(ctx: ToolContext, args: StatementIn) -> StatementOut:
    """Make a family's statement of account (PDF) for a period, every transaction with the running balance, the open
    invoices' aging and the amount due; get_document returns it."""
    to_date = args.to_date or _today(ctx)
    statement = await service.family_statement(ctx.session, family_id=args.family_id,
                                               currency=await _currency(ctx, args.currency),
                                               from_date=args.from_date, to_date=to_date, issued_on=_today(ctx),
                                               school_name=ctx.runtime.settings.school_name,
                                               payment_instructions=args.payment_instructions)
    data = render_family_statement_pdf(statement)
    filename = statement_filename(statement)
    doc = await documents.store(ctx.session, kind="fee_statement", filename=filename,
                                content_type="application/pdf", data=data, created_by=ctx.actor.id or None,
                                actor=ctx.actor, tool="generate_family_statement")
    return StatementOut(document_id=doc.id or 0, filename=filename, family_id=args.family_id,
                        currency=statement.currency, opening_balance_minor=statement.opening_balance,
                        closing_balance_minor=statement.closing_balance, lines=len(statement.lines),
                        open_invoices=len(statement.open_invoices))


__all__ = ["DiscountKind", "PaymentMethod", "module"]
