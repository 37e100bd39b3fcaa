"""Fee use cases for the bursar: families, fee items, fee schedules and discounts, invoices (generated for a
term, issued, voided), credit notes, payments and their allocation, family credit and refunds, the receivables
aging, reminders and a family's statement of account.

Services take the session and the actor, never commit, and append their audit rows in the caller's transaction.
Amounts are integer minor units of the row's ISO 4217 currency. Every issued invoice, payment, credit note,
credit application and refund posts exactly one balanced journal entry through `domain.finance.service`, with
an idempotency key naming the business event ("invoice:42", "payment:7"), so it can never post twice:

- invoice issued:      Dr 1200 Fees receivable (total) + Dr discount account (each discount) / Cr income (each fee)
- payment:             Dr bank (amount) / Cr 1200 (allocated to invoices) + Cr 2200 Family credit (the rest)
- credit note:         Dr 4190 Fee discounts and credit notes / Cr 1200 (up to the balance) + Cr 2200 (the rest)
- credit applied:      Dr 2200 / Cr 1200
- refund:              Dr 2200 / Cr bank
- invoice voided:      the reversal of its issue entry (only while nothing was paid or credited on it)

So the sum of the open invoices' balances equals the balance of 1200, and the families' credit equals 2200.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import service as academics
from domain.academics.service import Student, StudentStatus
from domain.fees.events import InvoiceIssued
from domain.fees import repository as repo
from domain.fees import rules
from domain.fees.models import (
    Allocation,
    CreditKind,
    CreditNote,
    Discount,
    DiscountAward,
    DiscountKind,
    Family,
    FamilyCredit,
    FamilyMember,
    FeeItem,
    FeeSchedule,
    FeeScheduleLine,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    Refund,
)
from domain.fees.statement_document import AgingBuckets, FamilyStatement, OpenInvoice, StatementLine
from domain.finance import rules as ledger_rules
from domain.finance import service as finance
from domain.finance.rules import AccountType, LineInput
from domain.kernel import heap, money, outbox
from domain.kernel.actor import Actor
from domain.kernel.audit import append_audit
from domain.kernel.errors import Conflict, InvalidInput, NotFound, StaleAction
from domain.kernel.models import bump
from domain.kernel.plan import ApplyContext, register_effect
from domain.kernel.references import Candidate, pick
from domain.kernel.settings import current_settings

FEE_ACCOUNTS = {
    "receivable": ("1200", "Fees receivable", "asset"),
    "family_credit": ("2200", "Family credit (fees received in advance)", "liability"),
    "discounts": ("4190", "Fee discounts and credit notes", "income"),
    "bank": ("1010", "Bank - operating account", "asset"),
}
MAX_SCHEDULE_LINES = 500
MAX_ALLOCATIONS = 200
OPEN = (InvoiceStatus.ISSUED.value, InvoiceStatus.PARTIALLY_PAID.value)
SETTLED = (InvoiceStatus.ISSUED.value, InvoiceStatus.PARTIALLY_PAID.value, InvoiceStatus.PAID.value)


def _text(value: str | None, *, field: str, max_length: int, required: bool = True) -> str | None:
    return ledger_rules.check_text(value, field=field, max_length=max_length, required=required)


def student_name(student: Student) -> str:
    return f"{student.first_name} {student.last_name}"


# ---------------------------------------------------------------- accounts


async def fee_accounts(session: AsyncSession, actor: Actor, currency: str, *,
                       found: Mapping[str, finance.Account] | None = None) -> dict[str, int]:
    """The ids of the fee accounts (FEE_ACCOUNTS: receivable, family_credit, discounts, bank), creating the
    missing ones in `currency`; raises InvalidInput when one exists in another currency. `found`: the fee
    accounts this transaction looked up already (fee_account_rows), not looked up again."""
    return await finance.ensure_accounts(
        session, actor, FEE_ACCOUNTS, currency, found=found,
        mismatch="not {currency}; fees are kept in the currency of the fee accounts ({account_currency})")


async def fee_account_rows(session: AsyncSession) -> dict[str, finance.Account]:
    """The fee accounts that exist, by code (upper case), in one query."""
    return await finance.accounts_by_codes(session, [code for code, _, _ in FEE_ACCOUNTS.values()])


def fees_currency(found: Mapping[str, finance.Account]) -> str:
    """The fees' currency: the fees receivable account's among `found` (fee_account_rows), else the school's
    (settings.currency, in which fee_accounts then opens the fee accounts)."""
    receivable = found.get(FEE_ACCOUNTS["receivable"][0])
    return receivable.currency if receivable is not None else current_settings().currency


async def existing_fee_accounts(session: AsyncSession, currency: str) -> dict[str, int]:
    """The ids of the fee accounts (FEE_ACCOUNTS) without creating any, for plans (which never write). Raises
    Conflict when one is missing (issuing an invoice creates them) or in another currency."""
    out = {}
    for role, (code, name, _) in FEE_ACCOUNTS.items():
        account = await finance.find_account_by_code(session, code)
        if account is None:
            raise Conflict(f"account {code} ({name}) does not exist yet; issuing an invoice creates the fee accounts")
        if account.currency != currency:
            raise InvalidInput(f"account {code} ({account.name}) is in {account.currency}, not {currency}; fees are "
                               f"kept in the currency of the fee accounts ({account.currency})", field="currency")
        out[role] = account.id or 0
    return out


async def _account(session: AsyncSession, account_id: int, *, field: str):
    try:
        return await finance.get_account(session, account_id)
    except NotFound as exc:
        raise NotFound(exc.message, field=field) from None


async def check_account(session: AsyncSession, account_id: int, *, field: str, types: set[str],
                           currency: str | None) -> int:
    """Check the account is active, of one of `types` and (when given) in `currency`; return its id."""
    account = await _account(session, account_id, field=field)
    if account.type not in types:
        raise InvalidInput(f"account {account.code} {account.name} is of type {account.type}; {field} must be "
                           f"an account of type {' or '.join(sorted(types))}", field=field)
    if currency is not None and account.currency != currency:
        raise InvalidInput(f"account {account.code} is in {account.currency}, not {currency}", field=field)
    if not account.active:
        raise InvalidInput(f"account {account.code} is inactive; choose an active account", field=field)
    return account.id or 0


# ---------------------------------------------------------------- families


async def create_family(session: AsyncSession, actor: Actor, *, name: str, billing_name: str | None = None,
                        billing_email: str | None = None, billing_address: str | None = None,
                        student_ids: Sequence[int] = ()) -> Family:
    """Create a family (numbered F00042), the account its students' fees are billed to, and add the students.

    Raises InvalidInput (empty or too long texts, an email without '@'), NotFound (a student) and Conflict (a
    student already in another family: add_family_student with move=true moves them).
    """
    clean = _text(name, field="name", max_length=160) or ""
    email = _text(billing_email, field="billing_email", max_length=254, required=False)
    if email is not None and "@" not in email:
        raise InvalidInput(f"billing_email {billing_email!r} is not an email address", field="billing_email")
    family = Family(code="", name=clean, billing_name=_text(billing_name, field="billing_name", max_length=160,
                                                            required=False),
                    billing_email=email,
                    billing_address=_text(billing_address, field="billing_address", max_length=500,
                                          required=False))
    # PostgreSQL: the family is written once, numbered (its id reserved first), not inserted and then renumbered.
    if await repo.reserve_number(session, family, "code", "F", 5):
        session.add(family)
        await session.flush()
    else:
        await repo.number_row(session, family, "code", "F", 5)
    for student_id in dict.fromkeys(student_ids):
        await _add_member(session, family, student_id, move=False)
    return family


async def _add_member(session: AsyncSession, family: Family, student_id: int, *, move: bool) -> FamilyMember:
    student = await academics.get_student(session, student_id)
    current = await repo.membership_of(session, student_id)
    if current is not None and current.family_id == family.id:
        return current
    if current is not None:
        if not move:
            other = await repo.get_live(session, Family, current.family_id)
            raise Conflict(f"student {student.code} is already in family {other.code if other else current.family_id}; "
                           "pass move=true to move them (their invoices stay with the family billed)",
                           field="student_id")
        current.deleted_at = dt.datetime.now(dt.UTC)
        bump(current)
        session.add(current)
        await session.flush()
    member = FamilyMember(family_id=family.id or 0, student_id=student_id)
    session.add(member)
    await session.flush()
    return member


async def add_family_student(session: AsyncSession, actor: Actor, *, family_id: int, student_id: int,
                             move: bool = False) -> Family:
    """Add a student to a family (their next invoices are billed to it). A student is in one family at a time:
    with `move`, one in another family is moved (invoices already issued stay with the family billed). Raises
    NotFound (family_id, student_id) and Conflict (in another family and not `move`)."""
    family = await repo.get_or_raise(session, Family, family_id, field="family_id")
    await _add_member(session, family, student_id, move=move)
    return family


async def get_family(session: AsyncSession, family_id: int) -> Family:
    """Return the family; raises NotFound (family_id)."""
    return await repo.get_or_raise(session, Family, family_id, field="family_id")


async def family_students(session: AsyncSession, family_ids: Sequence[int]) -> dict[int, list[Student]]:
    """{family id: its students (id order)}."""
    members = await repo.family_students(session, family_ids)
    students = await academics.students_by_id(session, [s for ids in members.values() for s in ids])
    return {family: [students[s] for s in ids if s in students] for family, ids in members.items()}


# ---------------------------------------------------------------- fee items, schedules, discounts


async def create_fee_item(session: AsyncSession, actor: Actor, *, code: str, name: str,
                          income_account_id: int) -> FeeItem:
    """Create a fee item (TUITION, TRANSPORT, MEALS) credited to an income account. Raises InvalidInput (code
    shape, the account is not an active income account), NotFound (the account) and Conflict (code taken)."""
    clean_code = ledger_rules.check_account_code(code)
    clean_name = _text(name, field="name", max_length=120) or ""
    await check_account(session, income_account_id, field="income_account_id", types={AccountType.INCOME.value},
                           currency=None)
    if await repo.by_code(session, FeeItem, clean_code):
        raise Conflict(f"fee item code {clean_code!r} is taken; list_fee_items shows them", field="code")
    item = FeeItem(code=clean_code, name=clean_name, income_account_id=income_account_id)
    session.add(item)
    await session.flush()
    return item


@dataclass(frozen=True)
class ScheduleLineInput:
    """A fee item's amount (minor units) on a schedule, for one year level or (None) every other year level."""

    fee_item_id: int
    amount: int
    year_level_id: int | None = None


async def create_fee_schedule(session: AsyncSession, actor: Actor, *, code: str, name: str, term_id: int,
                              currency: str, due_date: dt.date,
                              lines: Sequence[ScheduleLineInput]) -> tuple[FeeSchedule, list[FeeScheduleLine]]:
    """Create a term's fee schedule: 1..500 lines, each a fee item's amount (integer minor units of `currency`)
    for one year level or for every year level without a line of its own for that item.

    Raises InvalidInput (code, currency, a due date outside reason, an amount, a fee item whose income account
    is in another currency, a duplicate item and year level), NotFound (term, fee item, year level) and
    Conflict (code taken).
    """
    clean_code = ledger_rules.check_account_code(code)
    clean_name = _text(name, field="name", max_length=160) or ""
    clean_currency = money.parse_currency(currency)
    term = await academics.get_term(session, term_id)
    ledger_rules.check_date(due_date, field="due_date")
    if not lines:
        raise InvalidInput("a fee schedule needs at least one line (a fee item and its amount)", field="lines")
    if len(lines) > MAX_SCHEDULE_LINES:
        raise InvalidInput(f"a fee schedule has at most {MAX_SCHEDULE_LINES} lines; got {len(lines)}",
                           field="lines")
    if await repo.by_code(session, FeeSchedule, clean_code):
        raise Conflict(f"fee schedule code {clean_code!r} is taken; list_fee_schedules shows them", field="code")
    items = await repo.fee_items_by_ids(session, [line.fee_item_id for line in lines])
    seen: set[tuple[int, int | None]] = set()
    for index, line in enumerate(lines):
        rules.check_amount(line.amount, field=f"lines.{index}.amount")
        item = items.get(line.fee_item_id)
        if item is None or item.deleted_at is not None:
            raise NotFound(f"line {index}: no fee item with id {line.fee_item_id}; list_fee_items shows them",
                           field=f"lines.{index}.fee_item_id")
        if not item.active:
            raise InvalidInput(f"line {index}: fee item {item.code} is inactive", field=f"lines.{index}.fee_item_id")
        account = await finance.get_account(session, item.income_account_id)
        if account.currency != clean_currency:
            raise InvalidInput(f"line {index}: fee item {item.code} is credited to account {account.code} in "
                               f"{account.currency}; this schedule is in {clean_currency}",
                               field=f"lines.{index}.fee_item_id")
        if line.year_level_id is not None:
            await academics.get_year_level(session, line.year_level_id, field=f"lines.{index}.year_level_id")
        key = (line.fee_item_id, line.year_level_id)
        if key in seen:
            level = "every year level" if line.year_level_id is None else f"year level {line.year_level_id}"
            raise InvalidInput(f"line {index}: fee item {item.code} already has an amount for {level} on this "
                               "schedule", field=f"lines.{index}")
        seen.add(key)
    schedule = FeeSchedule(code=clean_code, name=clean_name, term_id=term.id or 0, currency=clean_currency,
                           due_date=due_date)
    session.add(schedule)
    await session.flush()
    rows = [FeeScheduleLine(fee_schedule_id=schedule.id or 0, fee_item_id=line.fee_item_id,
                            year_level_id=line.year_level_id, amount=line.amount) for line in lines]
    session.add_all(rows)
    await session.flush()
    return schedule, rows


async def create_discount(session: AsyncSession, actor: Actor, *, code: str, name: str, kind: str,
                          percent_bp: int | None = None, amount: int | None = None, currency: str | None = None,
                          fee_item_id: int | None = None, sibling_position: int | None = None,
                          account_id: int | None = None) -> Discount:
    """Create a discount: exactly one of `percent_bp` (1..10000 basis points; 1000 is 10 %) or a fixed `amount`
    (minor units of `currency`), off one fee item or (None) off all fees of an invoice. A sibling discount
    needs `sibling_position` >= 2 (it applies from the family's second, third... eldest enrolled child); other
    kinds are awarded to students with award_discount. Debited to `account_id`, by default (None) to 4190 Fee
    discounts and credit notes in each invoice's currency.

    Raises InvalidInput naming the field, NotFound (fee item, account) and Conflict (code taken).
    """
    clean_code = ledger_rules.check_account_code(code)
    clean_name = _text(name, field="name", max_length=120) or ""
    try:
        clean_kind = DiscountKind(kind).value
    except ValueError:
        raise InvalidInput(f"discount kind {kind!r} is not one of: sibling, scholarship, other",
                           field="kind") from None
    if (percent_bp is None) == (amount is None):
        raise InvalidInput("give exactly one of percent (a percentage off) or amount_minor (a fixed amount off)",
                           field="percent_bp" if percent_bp is not None else "amount")
    if percent_bp is not None and (isinstance(percent_bp, bool) or not isinstance(percent_bp, int)
                                   or not 1 <= percent_bp <= rules.FULL_PERCENT_BP):
        raise InvalidInput(f"percent_bp {percent_bp!r} must be 1..10000 basis points (0.01 % to 100 %)",
                           field="percent_bp")
    clean_currency = None
    if amount is not None:
        rules.check_amount(amount, field="amount")
        if currency is None:
            raise InvalidInput("a fixed-amount discount needs its currency (ISO 4217)", field="currency")
        clean_currency = money.parse_currency(currency)
    if clean_kind == DiscountKind.SIBLING.value:
        if isinstance(sibling_position, bool) or not isinstance(sibling_position, int) or not 2 <= sibling_position <= 20:
            raise InvalidInput("a sibling discount needs sibling_position from 2 to 20: 2 gives it to the second "
                               "eldest enrolled child and every younger one", field="sibling_position")
    elif sibling_position is not None:
        raise InvalidInput(f"sibling_position is only for sibling discounts, not {clean_kind}",
                           field="sibling_position")
    if fee_item_id is not None:
        await repo.get_or_raise(session, FeeItem, fee_item_id, field="fee_item_id")
    if account_id is not None:
        await check_account(session, account_id, field="account_id",
                               types={AccountType.INCOME.value, AccountType.EXPENSE.value}, currency=None)
    if await repo.by_code(session, Discount, clean_code):
        raise Conflict(f"discount code {clean_code!r} is taken; list_discounts shows them", field="code")
    discount = Discount(code=clean_code, name=clean_name, kind=clean_kind, percent_bp=percent_bp, amount=amount,
                        currency=clean_currency, fee_item_id=fee_item_id, sibling_position=sibling_position,
                        account_id=account_id)
    session.add(discount)
    await session.flush()
    return discount


async def award_discount(session: AsyncSession, actor: Actor, *, student_id: int, discount_id: int,
                         note: str | None = None) -> DiscountAward:
    """Award a scholarship or other discount to a student; it applies to the invoices generated from now on.
    Raises NotFound, InvalidInput (a sibling discount: those apply by themselves; an inactive discount) and
    Conflict (already awarded)."""
    student = await academics.get_student(session, student_id)
    discount = await repo.get_or_raise(session, Discount, discount_id, field="discount_id")
    if discount.kind == DiscountKind.SIBLING.value:
        raise InvalidInput(f"discount {discount.code} is a sibling discount: it applies by itself to a family's "
                           f"children from position {discount.sibling_position}, it is not awarded",
                           field="discount_id")
    if not discount.active:
        raise InvalidInput(f"discount {discount.code} is inactive", field="discount_id")
    if await repo.live_award(session, student_id, discount_id):
        raise Conflict(f"student {student.code} already has discount {discount.code}", field="discount_id")
    award = DiscountAward(student_id=student_id, discount_id=discount_id,
                          note=_text(note, field="note", max_length=500, required=False))
    session.add(award)
    await session.flush()
    return award


# ---------------------------------------------------------------- invoices: planning and generation


@dataclass(frozen=True, eq=False)
class PlannedLines:
    """The lines of a planned invoice and their total (fees less discounts, minor units). The invoices of one year
    level with the same discounts share one PlannedLines (a school's 10,000 invoices have a few dozen), so what
    derives from the lines (rows to write, postings) is worked out once per object: eq=False hashes by identity."""

    lines: tuple[rules.PlannedLine, ...]
    total: int


@dataclass(frozen=True, slots=True)
class PlannedInvoice:
    """An invoice to create: the student billed (a whole record, or an enrolled student's row when the plan is for
    every enrolled student), their family and the invoice's lines (shared with the invoices alike)."""

    student: Student | academics.EnrolledStudent
    family_id: int
    charges: PlannedLines

    @property
    def lines(self) -> tuple[rules.PlannedLine, ...]:
        return self.charges.lines

    @property
    def total(self) -> int:
        return self.charges.total


@dataclass(frozen=True)
class InvoicePlan:
    """What generating a schedule's invoices would do: the invoices to create and the students skipped (with
    why: no family, already invoiced, no fee for their year level)."""

    schedule: FeeSchedule
    invoices: list[PlannedInvoice]
    skipped: list[dict]


async def plan_invoices(session: AsyncSession, *, schedule_id: int, year_level_id: int | None = None,
                        student_ids: Sequence[int] | None = None, rebill_voided: bool = False,
                        discount_account_id: int | None = None) -> InvoicePlan:
    """Work out the invoices of a schedule for a year level, for given students, or (neither) for every
    enrolled student, without writing anything.

    Each student gets the schedule's fees for their year level (a year level's own line for an item, else the
    all-levels line), less the discounts that apply (rules.applies, rules.invoice_lines: sibling discounts
    first, then awarded ones by code; fixed-amount discounts in another currency do not apply). Students
    without a family, without fees, or with an invoice for the schedule (a live one; also a void one unless
    `rebill_voided`) are skipped. Discounts without an account of their own are debited to
    `discount_account_id` (by default the existing 4190 account, else 0: planning only). Raises NotFound
    (schedule, year level, a student).
    """
    schedule = await repo.get_or_raise(session, FeeSchedule, schedule_id, field="schedule_id")
    if year_level_id is not None:
        await academics.get_year_level(session, year_level_id)
    students: Sequence[Student | academics.EnrolledStudent]
    if student_ids is not None:
        found = await academics.students_by_id(session, list(student_ids))
        for sid in student_ids:
            if sid not in found:
                raise NotFound(f"no student with id {sid}; list_students shows them", field="student_ids")
        chosen_students = [found[sid] for sid in dict.fromkeys(student_ids)]
        if year_level_id is not None:
            chosen_students = [s for s in chosen_students if s.year_level_id == year_level_id]
        students = chosen_students
        born = {s.id or 0: s.date_of_birth for s in chosen_students if s.status == StudentStatus.ENROLLED.value}
    else:
        # Rows of six columns, not whole records: a whole school's 10,000 students.
        students = await academics.enrolled_student_rows(session, year_level_id=year_level_id)
        born = {s.id: s.date_of_birth for s in students}
    term = await academics.get_term(session, schedule.term_id)
    schedule_lines = await repo.schedule_lines(session, schedule.id or 0)
    items = await repo.fee_items_by_ids(session, [line.fee_item_id for line in schedule_lines])
    by_level: dict[int | None, dict[int, int]] = {}
    for line in schedule_lines:
        by_level.setdefault(line.year_level_id, {})[line.fee_item_id] = line.amount
    invoiced = await repo.invoiced_students(session, schedule.id or 0, include_void=not rebill_voided)
    family_of = await repo.families_of_students(session, [s.id or 0 for s in students])
    members = await repo.family_students(session, set(family_of.values()))
    # The enrolled siblings' dates of birth (`born`): those of the students being invoiced are in hand (a whole
    # school's: 10,000 rows not read twice); the others (siblings in another year level, or not enrolled) are read.
    in_hand = {s.id or 0 for s in students}
    others = [s for ids in members.values() for s in ids if s not in in_hand]
    if others:
        born.update((sid, s.date_of_birth) for sid, s in (await academics.students_by_id(session, others)).items()
                    if s.status == StudentStatus.ENROLLED.value)
    ranks: dict[int, int] = {}
    for ids in members.values():
        ranks.update(rules.sibling_ranks([(s, born[s]) for s in ids if s in born]))
    awarded_to = await repo.awards_of_students(session, [s.id or 0 for s in students])
    awards = {sid: frozenset(ids) for sid, ids in awarded_to.items()}  # hashable: a key of chosen_of below
    discounts = [d for d in await repo.active_discounts(session)
                 if d.amount is None or d.currency == schedule.currency]
    if discount_account_id is None:
        existing = await finance.find_account_by_code(session, FEE_ACCOUNTS["discounts"][0])
        discount_account_id = existing.id if existing is not None else 0
    # The order the discounts are taken in (each on what the earlier ones left): sibling first, then by code.
    discounts.sort(key=lambda d: (d.kind != DiscountKind.SIBLING.value, d.code))
    discount_rules = [rules.DiscountRule(discount_id=d.id or 0, code=d.code, name=d.name, kind=d.kind,
                                         account_id=d.account_id or discount_account_id or 0,
                                         percent_bp=d.percent_bp, amount=d.amount, fee_item_id=d.fee_item_id,
                                         sibling_position=d.sibling_position) for d in discounts]
    planned, skipped = [], []
    # A student's lines depend only on their year level's fees and the discounts that apply to them, and those only
    # on their sibling rank and awards: each worked out once per such pair (a school's 10,000 invoices come from a few
    # dozen), the invoices alike sharing one PlannedLines.
    charges_of: dict[int | None, list[rules.FeeCharge]] = {}
    chosen_of: dict[tuple[int, frozenset[int]], tuple[int, ...]] = {}
    lines_of: dict[tuple[int | None, tuple[int, ...]], PlannedLines] = {}
    term_name, no_award = term.name, frozenset[int]()
    item_facts = {item_id: (item.name, item.income_account_id) for item_id, item in items.items()}
    for student in students:
        sid = student.id or 0
        level = student.year_level_id
        why = None
        if sid in invoiced:
            why = "already invoiced for this schedule"
        elif sid not in family_of:
            why = "not in a family: add the student to one with create_family or add_family_student"
        elif not by_level.get(None) and not by_level.get(level):
            why = "no fee on this schedule for the student's year level"
        if why is not None:
            skipped.append({"student_id": sid, "student_code": student.code, "reason": why})
            continue
        charges = charges_of.get(level)
        if charges is None:
            amounts = {**by_level.get(None, {}), **by_level.get(level, {})}
            charges = charges_of[level] = [
                rules.FeeCharge(fee_item_id=item_id, description=f"{item_facts[item_id][0]} - {term_name}",
                                account_id=item_facts[item_id][1], amount=amount)
                for item_id, amount in sorted(amounts.items())]
        applying = (ranks.get(sid, 1), awards.get(sid, no_award))
        chosen = chosen_of.get(applying)
        if chosen is None:
            rank, awarded = applying
            chosen = chosen_of[applying] = tuple(
                index for index, rule in enumerate(discount_rules)
                if rules.applies(rule, sibling_rank=rank, awarded=rule.discount_id in awarded))
        lines = lines_of.get((level, chosen))
        if lines is None:
            planned_lines = tuple(rules.invoice_lines(charges, [discount_rules[i] for i in chosen]))
            lines = lines_of[(level, chosen)] = PlannedLines(lines=planned_lines,
                                                             total=rules.invoice_total(planned_lines))
        planned.append(PlannedInvoice(student=student, family_id=family_of[sid], charges=lines))
    return InvoicePlan(schedule=schedule, invoices=planned, skipped=skipped)


@dataclass
class GenerationResult:
    """Invoices created (and issued) by one generation, the students skipped and the total billed."""

    schedule_id: int
    invoice_ids: list[int] = field(default_factory=list)
    issued: int = 0
    total: int = 0
    currency: str = ""
    skipped: list[dict] = field(default_factory=list)


async def generate_invoices(session: AsyncSession, actor: Actor, *, schedule_id: int,
                            year_level_id: int | None = None, student_ids: Sequence[int] | None = None,
                            issue: bool = True, issue_date: dt.date | None = None, job_id: int | None = None,
                            rebill_voided: bool = False) -> GenerationResult:
    """Create the invoices `plan_invoices` plans (multi-row inserts) and, with `issue`, issue them on
    `issue_date` (each posts its journal entry). Idempotent: a student with an invoice for the schedule is
    skipped, and a partial UNIQUE index refuses a second live invoice even under concurrency (Conflict: run it
    again). Raises what plan_invoices and issue_invoices raise; InvalidInput when `issue` lacks issue_date.
    """
    if issue and issue_date is None:
        raise InvalidInput("issue_date is needed to issue the invoices (the date their entries are posted)",
                           field="issue_date")
    # A term's 10,000 invoices make some 400,000 containers the step keeps until it ends: the cyclic collector
    # would scan them over and over, finding nothing (heap.collection_paused).
    with heap.collection_paused():
        return await _generate_invoices(session, actor, schedule_id=schedule_id, year_level_id=year_level_id,
                                        student_ids=student_ids, issue=issue, issue_date=issue_date, job_id=job_id,
                                        rebill_voided=rebill_voided)


async def _generate_invoices(session: AsyncSession, actor: Actor, *, schedule_id: int, year_level_id: int | None,
                             student_ids: Sequence[int] | None, issue: bool, issue_date: dt.date | None,
                             job_id: int | None, rebill_voided: bool) -> GenerationResult:
    schedule = await repo.get_or_raise(session, FeeSchedule, schedule_id, field="schedule_id")
    accounts = await fee_accounts(session, actor, schedule.currency)
    plan = await plan_invoices(session, schedule_id=schedule_id, year_level_id=year_level_id,
                               student_ids=student_ids, rebill_voided=rebill_voided,
                               discount_account_id=accounts["discounts"])
    schedule = plan.schedule
    result = GenerationResult(schedule_id=schedule_id, currency=schedule.currency, skipped=plan.skipped)
    if not plan.invoices:
        return result
    totals = [p.total for p in plan.invoices]
    # The line rows and postings of invoices alike are built once: plan_invoices gives them one PlannedLines. The
    # rows are shared, not copied, by those invoices (nothing changes them once built).
    line_rows: dict[PlannedLines, list[dict[str, Any]]] = {}
    postings: dict[PlannedLines, tuple[tuple[str, int, int], ...]] = {}
    for charges in dict.fromkeys(p.charges for p in plan.invoices):
        line_rows[charges] = [{"kind": line.kind, "fee_item_id": line.fee_item_id, "discount_id": line.discount_id,
                               "description": line.description[:200], "amount": line.amount,
                               "account_id": line.account_id} for line in charges.lines]
        postings[charges] = tuple((line.kind, line.account_id, line.amount) for line in charges.lines)
    common = {"fee_schedule_id": schedule.id, "term_id": schedule.term_id, "currency": schedule.currency,
              "status": InvoiceStatus.DRAFT.value, "issue_date": None, "due_date": schedule.due_date,
              "amount_paid": 0, "amount_credited": 0, "entry_id": None, "voided_on": None, "void_reason": None,
              "void_entry_id": None, "job_id": job_id}  # read once: a schedule's attributes are the ORM's
    invoices = [{"family_id": p.family_id, "student_id": p.student.id, **common, "total": total}
                for p, total in zip(plan.invoices, totals, strict=True)]
    lines = [line_rows[p.charges] for p in plan.invoices]
    result.total = sum(totals)
    # Issuing at once, where the invoices' ids can be had before they are written (PostgreSQL's sequence): the
    # entries are posted first and each invoice is written once, issued, instead of written as a draft and then
    # updated (10,000 invoices: 10,000 row versions and their index entries the less). The rows, the audit rows
    # (in the same order) and the events are those of generating drafts and then issuing them.
    reserved = await repo.reserve_invoice_ids(session, len(invoices)) if issue and issue_date is not None else None
    ids = reserved if reserved is not None else await repo.insert_invoices_bulk(session, invoices, lines)
    result.invoice_ids = ids
    await append_audit(session, actor, tool="fees.generate_invoices", event="invoices_generated",
                       arguments={"schedule_id": schedule_id, "year_level_id": year_level_id,
                                  "student_ids": None if student_ids is None else list(student_ids),
                                  "issue": issue, "job_id": job_id},
                       entity="invoices", entity_id=ids[0],
                       after={"invoice_ids": ids, "total": result.total, "currency": schedule.currency,
                              "skipped": len(plan.skipped)})
    if issue and issue_date is not None:
        currency = schedule.currency
        items = [_ToIssue(invoice_id=invoice_id, number=f"INV{invoice_id:06d}", currency=currency,
                          total=total, who=student_name(p.student), lines=postings[p.charges])
                 for invoice_id, p, total in zip(ids, plan.invoices, totals, strict=True)]
        await _post_issue(session, actor, items, issue_date,
                          unwritten=None if reserved is None else (invoices, lines))
        await _audit_issue(session, actor, ids, issue_date=issue_date, invoice_ids=ids, schedule_id=None)
        result.issued = len(ids)
    return result


class _ToIssue(NamedTuple):
    """What issuing an invoice needs: its id, number, currency, total, whose it is and its lines (kind,
    account id, amount; a tuple may be shared by invoices alike). A named tuple of plain values, not an object with
    a __dict__: a term's 10,000 of them are then no work for the garbage collector, which stops tracking a tuple
    of immutable values once it has seen it (a full collection walks every object the process holds)."""

    invoice_id: int
    number: str
    currency: str
    total: int
    who: str
    lines: tuple[tuple[str, int, int], ...]


async def _post_issue(session: AsyncSession, actor: Actor, items: list[_ToIssue], issue_date: dt.date, *,
                      unwritten: tuple[list[dict[str, Any]], list[list[dict[str, Any]]]] | None = None) -> list[dict]:
    """Post each invoice's entry (one batch) and mark the invoices issued (paid when the total is 0) with a
    multi-row UPDATE; return the rows written (b_id, b_status, b_entry, b_issue_date).

    `unwritten`: the invoices (draft column dicts, in the order of `items`, whose ids were reserved) and their lines,
    not yet written: they are written once, issued, with the version issuing gives a draft (2), instead of updated."""
    accounts: dict[str, dict[str, int]] = {}
    requests, issued = [], []
    # An entry's lines follow from the invoice's currency, total and lines: built once for the invoices alike (a
    # term's 10,000 invoices have a few dozen kinds) and shared by their requests (LineInput is immutable).
    entry_lines_of: dict[tuple[str, int, tuple[tuple[str, int, int], ...]], list[LineInput]] = {}
    for item in items:
        if item.currency not in accounts:
            accounts[item.currency] = await fee_accounts(session, actor, item.currency)
        key = (item.currency, item.total, item.lines)
        entry_lines = entry_lines_of.get(key)
        if entry_lines is None:
            entry_lines = entry_lines_of[key] = []
            if item.total > 0:
                entry_lines.append(LineInput(account_id=accounts[item.currency]["receivable"], debit=item.total))
            for kind, account_id, amount in item.lines:
                entry_lines.append(LineInput(account_id=account_id, credit=amount) if kind == "fee"
                                   else LineInput(account_id=account_id, debit=amount))
        requests.append(finance.EntryRequest(
            date=issue_date, memo=f"Invoice {item.number}: fees of {item.who}", lines=entry_lines,
            source=f"invoice:{item.invoice_id}", idempotency_key=f"invoice:{item.invoice_id}"))
        status = rules.status_of(total=item.total, paid=0, credited=0, issued=True)
        issued.append({"b_id": item.invoice_id, "b_status": status.value, "b_issue_date": issue_date})
    posted = await finance.post_entries(session, actor, requests, batch="fees.issue_invoices")
    for row in issued:
        row["b_entry"] = posted[f"invoice:{row['b_id']}"]
    if unwritten is None:
        await repo.set_issued_bulk(session, issued)
    else:
        invoices, lines = unwritten
        for invoice, row in zip(invoices, issued, strict=True):
            invoice.update(status=row["b_status"], entry_id=row["b_entry"], issue_date=row["b_issue_date"],
                           version=2)
        await repo.insert_invoices_bulk(session, invoices, lines, ids=[row["b_id"] for row in issued])
    # Built without pydantic's validation: every field is already an int, str or date checked above (the entries'
    # dates by post_entries), for each of a term's 10,000 invoices.
    await outbox.record_all(session, [InvoiceIssued.model_construct(
        invoice_id=item.invoice_id, invoice_number=item.number, total=item.total, currency=item.currency,
        issue_date=issue_date) for item in items])
    return issued


async def _audit_issue(session: AsyncSession, actor: Actor, ids: list[int], *, issue_date: dt.date,
                       invoice_ids: Sequence[int] | None, schedule_id: int | None) -> None:
    await append_audit(session, actor, tool="fees.issue_invoices", event="invoices_issued",
                       arguments={"invoice_ids": None if invoice_ids is None else list(invoice_ids),
                                  "schedule_id": schedule_id, "issue_date": issue_date.isoformat()},
                       entity="invoices", entity_id=ids[0], after={"invoice_ids": ids, "entries": len(ids)})


async def issue_invoices(session: AsyncSession, actor: Actor, *, invoice_ids: Sequence[int] | None = None,
                         schedule_id: int | None = None, issue_date: dt.date) -> list[int]:
    """Issue draft invoices (given ids, or every draft of a schedule) dated `issue_date`: each posts one journal
    entry (Dr 1200 Fees receivable for the total and the discount accounts for the discounts / Cr each fee's
    income account; key "invoice:<id>") and becomes issued (paid at once when its total is 0). Returns the ids
    issued. Raises InvalidInput (neither ids nor schedule, a date), NotFound (an id) and Conflict (an invoice
    that is not a draft)."""
    ledger_rules.check_date(issue_date, field="issue_date")
    if invoice_ids is None and schedule_id is None:
        raise InvalidInput("give invoice_ids or schedule_id: which drafts to issue", field="invoice_ids")
    if schedule_id is not None:
        await repo.get_or_raise(session, FeeSchedule, schedule_id, field="schedule_id")
    if invoice_ids is not None:
        found = await repo.invoices_by_ids(session, invoice_ids, for_update=True)
        for invoice_id in invoice_ids:
            invoice = found.get(invoice_id)
            if invoice is None:
                raise NotFound(f"no invoice with id {invoice_id}; list_invoices shows them", field="invoice_ids")
            if schedule_id is not None and invoice.fee_schedule_id != schedule_id:
                raise InvalidInput(f"invoice {invoice.invoice_number} is not of fee schedule {schedule_id}; give "
                                   "invoices of that schedule, or only one of invoice_ids and schedule_id",
                                   field="invoice_ids")
            if invoice.status != InvoiceStatus.DRAFT.value:
                raise Conflict(f"invoice {invoice.invoice_number} is {invoice.status}; only drafts are issued",
                               field="invoice_ids")
        ids = sorted(found)
    else:
        ids = await repo.draft_ids(session, schedule_id=schedule_id, invoice_ids=None)
        found = await repo.invoices_by_ids(session, ids, for_update=True)
    if not ids:
        return []
    lines_of = await repo.lines_of_invoices(session, ids)
    students = await academics.students_by_id(session, [found[i].student_id for i in ids])
    items = []
    for invoice_id in ids:
        invoice = found[invoice_id]
        student = students.get(invoice.student_id)
        items.append(_ToIssue(invoice_id=invoice_id, number=invoice.invoice_number, currency=invoice.currency,
                              total=invoice.total,
                              who=student_name(student) if student else f"student {invoice.student_id}",
                              lines=tuple((line.kind, line.account_id, line.amount)
                                          for line in lines_of.get(invoice_id, []))))
    for row in await _post_issue(session, actor, items, issue_date):
        # The rows were changed by a multi-row UPDATE: bring the loaded objects up to date without a re-read.
        invoice = found[row["b_id"]]
        for attribute, value in (("status", row["b_status"]), ("entry_id", row["b_entry"]),
                                 ("issue_date", row["b_issue_date"]), ("version", invoice.version + 1)):
            set_committed_value(invoice, attribute, value)
    return ids


@dataclass(frozen=True)
class ChargeLine:
    """A line of a charge to a family's account: what it is, the account credited (an income account, or a
    liability such as GST collected) and the amount (> 0 minor units of the charge's currency)."""

    description: str
    account_id: int
    amount: int


MAX_CHARGE_LINES = 500


async def charge_family(session: AsyncSession, actor: Actor, *, family_id: int, student_id: int, currency: str,
                        issue_date: dt.date, due_date: dt.date, memo: str,
                        lines: Sequence[ChargeLine]) -> Invoice:
    """Charge a family's account for something another context sold (a shop order, issue 22): an invoice with no
    fee schedule or term, `memo` saying what it is for (the family statement shows it), issued on `issue_date`
    and due on `due_date`. It posts one entry (Dr 1200 Fees receivable the total / Cr each line's account; key
    "invoice:<id>") and is then paid, credited and aged like any fee invoice. `student_id` is the student it is
    for, a member of the family. Raises NotFound (family, student), InvalidInput (1..MAX_CHARGE_LINES lines; an
    amount; an account not income or liability, inactive or in another currency; dates; the student not of the
    family) and Conflict (nothing: a charge is always new)."""
    family = await repo.get_or_raise(session, Family, family_id, field="family_id", for_update=True)
    clean_currency = money.parse_currency(currency)
    clean_memo = _text(memo, field="memo", max_length=200) or ""
    ledger_rules.check_date(issue_date, field="issue_date")
    ledger_rules.check_date(due_date, field="due_date")
    if due_date < issue_date:
        raise InvalidInput(f"due_date {due_date} is before issue_date {issue_date}", field="due_date")
    member = await repo.membership_of(session, student_id)
    if member is None or member.family_id != family.id:
        raise InvalidInput(f"student {student_id} is not a member of family {family.code}; a charge names one of "
                           "the family's students (add_family_student adds one)", field="student_id")
    if not 1 <= len(lines) <= MAX_CHARGE_LINES:
        raise InvalidInput(f"give 1 to {MAX_CHARGE_LINES} lines, not {len(lines)}", field="lines")
    clean = []
    for i, line in enumerate(lines):
        rules.check_amount(line.amount, field=f"lines.{i}.amount")
        await check_account(session, line.account_id, field=f"lines.{i}.account_id",
                            types={AccountType.INCOME.value, AccountType.LIABILITY.value}, currency=clean_currency)
        clean.append({"kind": "fee", "fee_item_id": None, "discount_id": None,
                      "description": _text(line.description, field=f"lines.{i}.description", max_length=200),
                      "amount": line.amount, "account_id": line.account_id})
    total = sum(line["amount"] for line in clean)
    ids = await repo.insert_invoices_bulk(session, [{
        "family_id": family.id, "student_id": student_id, "fee_schedule_id": None, "term_id": None,
        "currency": clean_currency, "status": InvoiceStatus.DRAFT.value, "issue_date": None, "due_date": due_date,
        "total": total, "amount_paid": 0, "amount_credited": 0, "entry_id": None, "voided_on": None,
        "void_reason": None, "void_entry_id": None, "job_id": None, "memo": clean_memo}], [clean])
    invoice_id = ids[0]
    await _post_issue(session, actor, [_ToIssue(invoice_id=invoice_id, number=f"INV{invoice_id:06d}",
                                                 currency=clean_currency, total=total, who=family.name,
                                                 lines=tuple(("fee", line["account_id"], line["amount"])
                                                             for line in clean))], issue_date)
    await append_audit(session, actor, tool="fees.charge_family", event="family_charged",
                       arguments={"family_id": family_id, "student_id": student_id, "memo": clean_memo},
                       entity="invoices", entity_id=invoice_id,
                       after={"total": total, "currency": clean_currency, "issue_date": issue_date.isoformat()})
    return await get_invoice(session, invoice_id)


async def get_invoice(session: AsyncSession, invoice_id: int, *, for_update: bool = False) -> Invoice:
    """Return the invoice; raises NotFound (invoice_id)."""
    return await repo.get_or_raise(session, Invoice, invoice_id, field="invoice_id", for_update=for_update)


def balance_of(invoice: Invoice) -> int:
    """What is still owed on the invoice, minor units (0 for drafts and voids)."""
    if invoice.status in (InvoiceStatus.DRAFT.value, InvoiceStatus.VOID.value):
        return 0
    return invoice.total - invoice.amount_paid - invoice.amount_credited


def _set_amounts(invoice: Invoice, *, paid: int = 0, credited: int = 0) -> None:
    invoice.amount_paid += paid
    invoice.amount_credited += credited
    invoice.status = rules.status_of(total=invoice.total, paid=invoice.amount_paid,
                                     credited=invoice.amount_credited, issued=True).value
    bump(invoice)


# ---------------------------------------------------------------- void and credit notes


def check_voidable(invoice: Invoice, on: dt.date) -> None:
    """Rule: a draft or an issued invoice with nothing paid or credited on it can be voided, on or after its
    issue date. Raises Conflict (status, payments, credit notes) or InvalidInput (date)."""
    if invoice.status == InvoiceStatus.VOID.value:
        raise Conflict(f"invoice {invoice.invoice_number} is already void", field="invoice_id")
    if invoice.amount_paid or invoice.amount_credited:
        raise Conflict(f"invoice {invoice.invoice_number} has {invoice.amount_paid} paid and "
                       f"{invoice.amount_credited} credited (minor units of {invoice.currency}); an invoice with "
                       "money against it is not voided: issue a credit note for what should not be owed",
                       field="invoice_id")
    ledger_rules.check_date(on, field="on")
    if invoice.issue_date is not None and on < invoice.issue_date:
        raise InvalidInput(f"the void date {on} is before the invoice's issue date {invoice.issue_date}",
                           field="on")


async def credit_note_room(session: AsyncSession, invoice: Invoice) -> int:
    """How much more may be credited on the invoice: its total less the credit notes already issued on it."""
    return invoice.total - sum(note.amount for note in await repo.credit_notes_of_invoice(session, invoice.id or 0))


async def check_credit_note(session: AsyncSession, invoice: Invoice, *, amount: int, on: dt.date) -> tuple[int, int]:
    """Rule: a credit note is for an issued (or partly or fully paid) invoice, dated on or after its issue,
    for at most its total less earlier credit notes. Returns (applied to the balance, to the family's credit)."""
    rules.check_amount(amount, field="amount")
    ledger_rules.check_date(on, field="on")
    if invoice.status not in SETTLED:
        raise Conflict(f"invoice {invoice.invoice_number} is {invoice.status}; credit notes are for issued "
                       "invoices (a draft is voided instead)", field="invoice_id")
    if invoice.issue_date is not None and on < invoice.issue_date:
        raise InvalidInput(f"the credit note date {on} is before the invoice's issue date {invoice.issue_date}",
                           field="on")
    room = await credit_note_room(session, invoice)
    if amount > room:
        raise InvalidInput(f"amount {amount} is more than can be credited on invoice {invoice.invoice_number}: "
                           f"{room} (its total {invoice.total} less earlier credit notes, minor units of "
                           f"{invoice.currency})", field="amount")
    applied = min(amount, balance_of(invoice))
    return applied, amount - applied


def credit_note_lines(accounts: dict[str, int], *, debit_account: int, amount: int, applied: int) -> list[LineInput]:
    """A credit note's journal lines (minor units): Dr `debit_account` amount / Cr 1200 Fees receivable what is
    applied to the invoice's balance + Cr 2200 Family credit the rest."""
    lines = [LineInput(account_id=debit_account, debit=amount)]
    if applied:
        lines.append(LineInput(account_id=accounts["receivable"], credit=applied))
    if amount - applied:
        lines.append(LineInput(account_id=accounts["family_credit"], credit=amount - applied))
    return lines


def refund_lines(accounts: dict[str, int], *, bank_account: int, amount: int) -> list[LineInput]:
    """A refund's journal lines (minor units): Dr 2200 Family credit / Cr the bank account."""
    return [LineInput(account_id=accounts["family_credit"], debit=amount),
            LineInput(account_id=bank_account, credit=amount)]


def check_method(method: str) -> str:
    """Return the payment method's value; raises InvalidInput listing the methods allowed."""
    try:
        return PaymentMethod(method).value
    except ValueError:
        allowed = ", ".join(m.value for m in PaymentMethod)
        raise InvalidInput(f"method {method!r} is not one of: {allowed}", field="method") from None


async def issue_credit_note(session: AsyncSession, actor: Actor, *, invoice_id: int, amount: int, on: dt.date,
                            reason: str, account_id: int | None = None) -> CreditNote:
    """Issue a credit note (CN000042) on an invoice: `amount` (minor units) is taken off its balance, and what
    exceeds the balance (the invoice was already paid) becomes the family's credit. Posts Dr `account_id`
    (default 4190 Fee discounts and credit notes) / Cr 1200 Fees receivable + Cr 2200 Family credit. Raises
    NotFound, Conflict and InvalidInput (check_credit_note, an empty reason, an account that is not income or
    expense). For callers outside the gate (the demo builder); the issue_credit_note tool applies
    plans.plan_issue_credit_note, built from the same rules (check_credit_note, credit_note_lines)."""
    clean_reason = _text(reason, field="reason", max_length=1000) or ""
    invoice = await get_invoice(session, invoice_id, for_update=True)
    await repo.get_or_raise(session, Family, invoice.family_id, field="family_id", for_update=True)
    applied, excess = await check_credit_note(session, invoice, amount=amount, on=on)
    accounts = await fee_accounts(session, actor, invoice.currency)
    debit_account = accounts["discounts"] if account_id is None else await check_account(
        session, account_id, field="account_id", types={AccountType.INCOME.value, AccountType.EXPENSE.value},
        currency=invoice.currency)
    note = CreditNote(credit_note_number="", invoice_id=invoice_id, family_id=invoice.family_id, issued_on=on,
                      currency=invoice.currency, amount=amount, applied=applied, reason=clean_reason,
                      account_id=debit_account, issued_by=actor.id or None)
    await repo.number_row(session, note, "credit_note_number", "CN", 6)
    lines = credit_note_lines(accounts, debit_account=debit_account, amount=amount, applied=applied)
    posted = await finance.post_entry(session, actor, date=on, memo=f"Credit note {note.credit_note_number} on "
                                      f"invoice {invoice.invoice_number}: {clean_reason}"[:1000], lines=lines,
                                      source=f"credit_note:{note.id}", idempotency_key=f"credit_note:{note.id}")
    note.entry_id = posted.id
    session.add(note)
    if excess:
        session.add(FamilyCredit(family_id=invoice.family_id, currency=invoice.currency,
                                 kind=CreditKind.CREDIT_NOTE.value, amount=excess, occurred_on=on,
                                 credit_note_id=note.id, entry_id=posted.id))
    _set_amounts(invoice, credited=applied)
    session.add(invoice)
    await session.flush()
    return note


# ---------------------------------------------------------------- payments, credit, refunds


@dataclass(frozen=True)
class AllocationInput:
    invoice_id: int
    amount: int


@dataclass(frozen=True)
class RecordedPayment:
    payment: Payment
    allocations: list[Allocation]
    replayed: bool = False


async def _plan_allocation(session: AsyncSession, family: Family, *, amount: int, currency: str,
                           allocations: Sequence[AllocationInput] | None,
                           invoice_ids: Sequence[int] | None = None) -> tuple[list[tuple[Invoice, int]], int]:
    """Which open invoices of the family get how much of `amount` (given allocations, else the earliest due
    first, among `invoice_ids` when given); returns ([(invoice, amount)], left over)."""
    open_invoices = {i.id: i for i in await repo.open_invoices_of_family(session, family.id or 0,
                                                                         currency=currency, for_update=True)}
    if allocations is not None:
        if len(allocations) > MAX_ALLOCATIONS:
            raise InvalidInput(f"at most {MAX_ALLOCATIONS} allocations", field="allocations")
        out, used, seen = [], 0, set()
        for index, allocation in enumerate(allocations):
            rules.check_amount(allocation.amount, field=f"allocations.{index}.amount")
            invoice = open_invoices.get(allocation.invoice_id)
            if invoice is None:
                found = await repo.get_live(session, Invoice, allocation.invoice_id)
                if found is None:
                    raise NotFound(f"allocation {index}: no invoice with id {allocation.invoice_id}; list_invoices "
                                   "shows them", field=f"allocations.{index}.invoice_id")
                why = ("no such invoice" if found is None else
                       f"it is {found.status}" if found.family_id == family.id else
                       "it is billed to another family" if found.currency == currency else
                       f"it is in {found.currency}")
                raise InvalidInput(f"allocation {index}: invoice {allocation.invoice_id} is not an open invoice of "
                                   f"family {family.code} ({why}); list_invoices with family_id shows them",
                                   field=f"allocations.{index}.invoice_id")
            if allocation.invoice_id in seen:
                raise InvalidInput(f"allocation {index}: invoice {invoice.invoice_number} is listed twice",
                                   field=f"allocations.{index}.invoice_id")
            seen.add(allocation.invoice_id)
            if allocation.amount > balance_of(invoice):
                raise InvalidInput(f"allocation {index}: {allocation.amount} is more than invoice "
                                   f"{invoice.invoice_number}'s balance {balance_of(invoice)}",
                                   field=f"allocations.{index}.amount")
            out.append((invoice, allocation.amount))
            used += allocation.amount
        if used > amount:
            raise InvalidInput(f"the allocations add up to {used}, more than the amount {amount}",
                               field="allocations")
        return out, amount - used
    candidates = list(open_invoices.values())
    if invoice_ids is not None:
        for index, invoice_id in enumerate(invoice_ids):
            if invoice_id not in open_invoices and await repo.get_live(session, Invoice, invoice_id) is None:
                raise NotFound(f"no invoice with id {invoice_id}; list_invoices shows them",
                               field=f"invoice_ids.{index}")
        missing = [i for i in invoice_ids if i not in open_invoices]
        if missing:
            raise InvalidInput(f"invoices {missing} are not open invoices of family {family.code} in {currency}",
                               field="invoice_ids")
        candidates = [open_invoices[i] for i in invoice_ids]
    items = [rules.OpenItem(invoice_id=i.id or 0, due_date=i.due_date, balance=balance_of(i)) for i in candidates]
    chosen, left = rules.allocate_oldest_first(amount, items)
    return [(open_invoices[invoice_id], take) for invoice_id, take in chosen], left


async def record_payment(session: AsyncSession, actor: Actor, *, family_id: int, amount: int, currency: str | None,
                         received_on: dt.date, method: str, idempotency_key: str, reference: str | None = None,
                         deposit_account_id: int | None = None,
                         allocations: Sequence[AllocationInput] | None = None) -> RecordedPayment:
    """Record a family's payment (RCT000042) of `amount` minor units received on `received_on`, allocate it to
    the family's open invoices (the given allocations, else the earliest due first) and put what is left over
    on the family's credit. Posts Dr the deposit account (default 1010 Bank) / Cr 1200 Fees receivable
    (allocated) + Cr 2200 Family credit (left over). `currency` None: the fees' (fees_currency; the fee accounts
    are then looked up once, for the currency and for the posting).

    `idempotency_key` names the payment: the same key with the same family, amount and date returns the payment
    already recorded (`replayed`), also when the first request was still running (the second waits on the
    family's row lock, then finds it); with other content raises Conflict. Raises NotFound (family) and InvalidInput
    (amount, date, method, allocations naming invoices that are not open invoices of the family or exceeding a
    balance or the amount, a deposit account that is not an active asset account in the currency).
    """
    key = _text(idempotency_key, field="idempotency_key", max_length=200) or ""
    rules.check_amount(amount, field="amount")
    ledger_rules.check_date(received_on, field="received_on")
    clean_method = check_method(method)
    found = None
    if currency is None:
        found = await fee_account_rows(session)
        currency = fees_currency(found)
    clean_currency = money.parse_currency(currency)
    # The family's lock comes before the key's check: two requests with one key (a client retrying while its
    # first call is still running) queue on it, and the second then finds the first's committed payment and
    # replays it (checked before the lock, both found none and the second failed on the key's UNIQUE index).
    family = await repo.get_or_raise(session, Family, family_id, field="family_id", for_update=True)
    existing = await repo.payment_by_key(session, key)
    if existing is not None:
        if (existing.family_id, existing.amount, existing.received_on, existing.currency) != (
                family_id, amount, received_on, clean_currency):
            raise Conflict(f"idempotency_key {key!r} already recorded payment {existing.payment_number} (family "
                           f"{existing.family_id}, {existing.amount} {existing.currency} on "
                           f"{existing.received_on}); use a new key for another payment", field="idempotency_key")
        return RecordedPayment(existing, await repo.allocations_of_payment(session, existing.id or 0),
                               replayed=True)
    accounts = await fee_accounts(session, actor, clean_currency, found=found)
    deposit = accounts["bank"] if deposit_account_id is None else await check_account(
        session, deposit_account_id, field="deposit_account_id", types={AccountType.ASSET.value},
        currency=clean_currency)
    if deposit == accounts["receivable"]:
        raise InvalidInput("the deposit account cannot be the fees receivable account", field="deposit_account_id")
    chosen, left = await _plan_allocation(session, family, amount=amount, currency=clean_currency,
                                          allocations=allocations)
    payment = Payment(payment_number="", family_id=family_id, received_on=received_on, currency=clean_currency,
                      amount=amount, unallocated=left, method=clean_method,
                      reference=_text(reference, field="reference", max_length=120, required=False),
                      deposit_account_id=deposit, idempotency_key=key, recorded_by=actor.id or None)
    # PostgreSQL: the payment is written once, numbered and with its entry, after the entry (its id is reserved for
    # the entry's source); SQLite writes it first and numbers and links it afterwards.
    written = not await repo.reserve_number(session, payment, "payment_number", "RCT", 6)
    if written:
        await repo.number_row(session, payment, "payment_number", "RCT", 6)
    allocated = amount - left
    lines = [LineInput(account_id=deposit, debit=amount)]
    if allocated:
        lines.append(LineInput(account_id=accounts["receivable"], credit=allocated))
    if left:
        lines.append(LineInput(account_id=accounts["family_credit"], credit=left))
    numbers = ", ".join(invoice.invoice_number for invoice, _ in chosen) or "family credit"
    posted = await finance.post_entry(session, actor, date=received_on,
                                      memo=f"Payment {payment.payment_number} from family {family.code} "
                                           f"({clean_method}): {numbers}"[:1000],
                                      lines=lines, source=f"fee_payment:{payment.id}",
                                      idempotency_key=f"payment:{payment.id}")
    payment.entry_id = posted.id
    session.add(payment)
    if not written:
        await session.flush()  # the payment's one INSERT, before the rows that refer to it
    rows = []
    for invoice, take in chosen:
        rows.append(Allocation(invoice_id=invoice.id or 0, payment_id=payment.id, amount=take,
                               allocated_on=received_on))
        _set_amounts(invoice, paid=take)
        session.add(invoice)
    session.add_all(rows)
    if left:
        session.add(FamilyCredit(family_id=family_id, currency=clean_currency, kind=CreditKind.OVERPAYMENT.value,
                                 amount=left, occurred_on=received_on, payment_id=payment.id, entry_id=posted.id))
    await session.flush()
    return RecordedPayment(payment, rows)


async def family_credit(session: AsyncSession, family_id: int, currency: str, *,
                        as_of: dt.date | None = None) -> int:
    """The credit the school holds for the family in `currency` (minor units, >= 0)."""
    return (await repo.credit_balances(session, as_of=as_of, family_id=family_id)).get((family_id, currency), 0)


async def apply_family_credit(session: AsyncSession, actor: Actor, *, family_id: int, currency: str, on: dt.date,
                              amount: int | None = None, invoice_ids: Sequence[int] | None = None,
                              idempotency_key: str | None = None) -> list[Allocation]:
    """Apply the family's credit (all of it, or `amount`) to its open invoices (the earliest due first, among
    `invoice_ids` when given). Posts Dr 2200 Family credit / Cr 1200 Fees receivable. With an
    `idempotency_key`, repeating the request returns the allocations already made. Raises NotFound (family),
    InvalidInput (no credit, an amount above the credit, invoices not open) and Conflict (nothing open to apply
    it to)."""
    ledger_rules.check_date(on, field="on")
    clean_currency = money.parse_currency(currency)
    key = None if idempotency_key is None else _text(idempotency_key, field="idempotency_key", max_length=200)
    if key is not None:
        done = await repo.credit_by_key(session, key)
        if done is not None:
            return await repo.allocations_of_family_credit(session, done.id or 0)
    family = await repo.get_or_raise(session, Family, family_id, field="family_id", for_update=True)
    available = await family_credit(session, family_id, clean_currency)
    if available <= 0:
        raise InvalidInput(f"family {family.code} has no credit in {clean_currency} to apply", field="family_id")
    wanted = available if amount is None else rules.check_amount(amount, field="amount")
    if wanted > available:
        raise InvalidInput(f"amount {wanted} is more than family {family.code}'s credit {available} "
                           f"({clean_currency} minor units)", field="amount")
    chosen, _ = await _plan_allocation(session, family, amount=wanted, currency=clean_currency, allocations=None,
                                       invoice_ids=invoice_ids)
    used = sum(take for _, take in chosen)
    if used == 0:
        raise Conflict(f"family {family.code} has no open invoice in {clean_currency} to apply its credit to",
                       field="family_id")
    accounts = await fee_accounts(session, actor, clean_currency)
    credit = FamilyCredit(family_id=family_id, currency=clean_currency, kind=CreditKind.APPLIED.value,
                          amount=-used, occurred_on=on, idempotency_key=key)
    session.add(credit)
    await session.flush()
    posted = await finance.post_entry(
        session, actor, date=on, memo=f"Family {family.code} credit applied to "
        f"{', '.join(i.invoice_number for i, _ in chosen)}"[:1000],
        lines=[LineInput(account_id=accounts["family_credit"], debit=used),
               LineInput(account_id=accounts["receivable"], credit=used)],
        source=f"family_credit:{credit.id}", idempotency_key=f"credit-application:{credit.id}")
    credit.entry_id = posted.id
    session.add(credit)
    rows = []
    for invoice, take in chosen:
        rows.append(Allocation(invoice_id=invoice.id or 0, credit_id=credit.id, amount=take, allocated_on=on))
        _set_amounts(invoice, paid=take)
        session.add(invoice)
    session.add_all(rows)
    await session.flush()
    return rows


async def check_refund(session: AsyncSession, family: Family, *, amount: int, currency: str, on: dt.date) -> int:
    """Rule: a refund pays back at most the family's credit. Returns the credit before; raises InvalidInput."""
    rules.check_amount(amount, field="amount")
    ledger_rules.check_date(on, field="on")
    available = await family_credit(session, family.id or 0, currency)
    if amount > available:
        raise InvalidInput(f"amount {amount} is more than family {family.code}'s credit {available} ({currency} "
                           "minor units); only credit (overpayments, credit notes) is refunded: issue a credit "
                           "note on a paid invoice first", field="amount")
    return available


# ---------------------------------------------------------------- receivables: aging, reminders, statements


@dataclass
class AgingRow:
    """One family's (or student's) open balances by aging bucket, minor units of the report's currency."""

    family_id: int
    family_code: str
    family_name: str
    student_id: int | None = None
    student_code: str | None = None
    student_name: str | None = None
    buckets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(rules.AGING_BUCKETS, 0))
    invoices: int = 0
    oldest_due_date: dt.date | None = None

    @property
    def total(self) -> int:
        return sum(self.buckets.values())


@dataclass(frozen=True)
class AgingReport:
    """Open receivables on `as_of` grouped by family or student, bucketed by days past due, with totals. When
    the report covers every invoice, `ledger_balance` is the 1200 Fees receivable balance on `as_of` and
    `agrees` says whether the two are equal to the minor unit."""

    as_of: dt.date
    currency: str
    group_by: str
    rows: list[AgingRow]
    totals: dict[str, int]
    ledger_balance: int | None
    agrees: bool | None

    @property
    def total(self) -> int:
        return sum(self.totals.values())


@dataclass(frozen=True)
class OpenBalance:
    invoice: Invoice
    balance: int
    days_overdue: int


async def open_balances(session: AsyncSession, *, as_of: dt.date, currency: str, family_id: int | None = None,
                        student_ids: list[int] | None = None) -> list[OpenBalance]:
    """Every invoice with money owed on `as_of` (issued by then, not voided by then, less what was allocated
    and credited by then), earliest due first."""
    invoices = await repo.receivable_invoices(session, as_of=as_of, family_id=family_id,
                                              year_level_student_ids=student_ids)
    settled = await repo.settled_by(session, as_of=as_of, family_id=family_id)
    out = []
    for invoice in invoices:
        if invoice.currency != currency:
            continue
        balance = invoice.total - settled.get(invoice.id or 0, 0)
        if balance > 0:
            out.append(OpenBalance(invoice, balance, rules.days_overdue(invoice.due_date, as_of)))
    return out


async def receivables_aging(session: AsyncSession, *, as_of: dt.date, currency: str, group_by: str = "family",
                            year_level_id: int | None = None, min_days_overdue: int = 0) -> AgingReport:
    """Age the open receivables on `as_of` (integer minor units of `currency`): per family or per student, the
    amounts current (not yet due), 1-30, 31-60, 61-90 and over 90 days past due (rules.AGING_BUCKETS), the
    number of open invoices and the oldest due date; rows sorted by the most overdue first. Only rows with an
    invoice at least `min_days_overdue` days past due are listed. Unfiltered, it compares its total with the
    ledger's 1200 Fees receivable balance on `as_of`. Raises InvalidInput (group_by, currency, date) and
    NotFound (year level).

    The open balances come summed per family (or student) and due date from one query (repo.open_invoice_groups):
    the invoices of a due date fall in one aging bucket."""
    ledger_rules.check_date(as_of, field="as_of")
    clean_currency = money.parse_currency(currency)
    if group_by not in ("family", "student"):
        raise InvalidInput(f"group_by {group_by!r} must be family or student", field="group_by")
    student_ids = None
    if year_level_id is not None:
        await academics.get_year_level(session, year_level_id)
        student_ids = [s.id for s in await academics.enrolled_student_rows(session, year_level_id=year_level_id)]
    by_student = group_by == "student"
    groups = await repo.open_invoice_groups(session, as_of=as_of, currency=clean_currency, by_student=by_student,
                                            student_ids=student_ids)
    students = await academics.students_by_id(session, [g.student_id or 0 for g in groups]) if by_student else {}
    rows: dict[tuple[int, int | None], AgingRow] = {}
    for group in groups:  # earliest due date first: a row's first group holds its oldest due date
        key = (group.family_id, group.student_id)
        row = rows.get(key)
        if row is None:
            row = rows[key] = AgingRow(family_id=group.family_id, family_code=group.family_code,
                                       family_name=group.family_name, oldest_due_date=group.due_date)
            if by_student:
                student = students.get(group.student_id or 0)
                row.student_id = group.student_id
                row.student_code = student.code if student else None
                row.student_name = student_name(student) if student else None
        row.buckets[rules.aging_bucket(rules.days_overdue(group.due_date, as_of))] += group.balance
        row.invoices += group.invoices
    listed = [row for row in rows.values()
              if min_days_overdue <= 0 or (row.oldest_due_date is not None
                                           and rules.days_overdue(row.oldest_due_date, as_of) >= min_days_overdue)]
    listed.sort(key=lambda r: (r.oldest_due_date or as_of, -r.total, r.family_code, r.student_code or ""))
    totals = dict.fromkeys(rules.AGING_BUCKETS, 0)
    for row in listed:
        for bucket, amount in row.buckets.items():
            totals[bucket] += amount
    ledger_balance = agrees = None
    if year_level_id is None and min_days_overdue <= 0:
        account = await finance.find_account_by_code(session, FEE_ACCOUNTS["receivable"][0])
        ledger_balance = 0 if account is None else await finance.account_balance(session, account.id or 0,
                                                                                 as_of=as_of)
        agrees = ledger_balance == sum(totals.values())
    return AgingReport(as_of=as_of, currency=clean_currency, group_by=group_by, rows=listed, totals=totals,
                       ledger_balance=ledger_balance, agrees=agrees)


@dataclass(frozen=True)
class Contact:
    name: str
    relationship: str
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class Reminder:
    """A family to remind: what is overdue (and since when), what is owed in all, credit held, contacts."""

    family: Family
    overdue: int
    total_owed: int
    credit_available: int
    oldest_due_date: dt.date
    days_overdue: int
    invoices: list[OpenBalance]
    last_payment_on: dt.date | None
    contacts: list[Contact]
    students: dict[int, Student]


async def fee_reminders(session: AsyncSession, *, as_of: dt.date, currency: str, min_days_overdue: int = 1,
                        min_amount: int = 1) -> list[Reminder]:
    """The families to remind on `as_of`: those with at least `min_amount` minor units on invoices
    `min_days_overdue` or more days past due, most overdue first, with their overdue invoices, what they owe
    in all, their credit, their last payment date and whom to contact (the billing contact, then the
    students' guardians). Raises InvalidInput (min_days_overdue below 1, min_amount below 1)."""
    ledger_rules.check_date(as_of, field="as_of")
    clean_currency = money.parse_currency(currency)
    if isinstance(min_days_overdue, bool) or not isinstance(min_days_overdue, int) or min_days_overdue < 1:
        raise InvalidInput("min_days_overdue must be a whole number of days, at least 1", field="min_days_overdue")
    rules.check_amount(min_amount, field="min_amount")
    balances = await open_balances(session, as_of=as_of, currency=clean_currency)
    by_family: dict[int, list[OpenBalance]] = {}
    for item in balances:
        by_family.setdefault(item.invoice.family_id, []).append(item)
    chosen = {family_id: items for family_id, items in by_family.items()
              if sum(i.balance for i in items if i.days_overdue >= min_days_overdue) >= min_amount}
    families = await repo.families_by_ids(session, chosen)
    credits = await repo.credit_balances(session, as_of=as_of)
    last_paid = await repo.last_payment_dates(session, chosen)
    students = await academics.students_by_id(session, [i.invoice.student_id for items in chosen.values()
                                                        for i in items])
    guardians = await academics.guardians_of_students(session, list(students))
    out = []
    for family_id, items in chosen.items():
        family = families[family_id]
        overdue = [i for i in items if i.days_overdue >= min_days_overdue]
        contacts = []
        if family.billing_name or family.billing_email:
            contacts.append(Contact(name=family.billing_name or family.name, relationship="billing contact",
                                    email=family.billing_email, phone=None))
        seen = {(c.name, c.email) for c in contacts}
        for student_id in dict.fromkeys(i.invoice.student_id for i in items):
            for guardian in guardians.get(student_id, []):
                if (guardian.name, guardian.email) not in seen:
                    seen.add((guardian.name, guardian.email))
                    contacts.append(Contact(name=guardian.name, relationship=guardian.relationship,
                                            email=guardian.email, phone=guardian.phone))
        oldest = min(i.invoice.due_date for i in overdue)
        out.append(Reminder(family=family, overdue=sum(i.balance for i in overdue),
                            total_owed=sum(i.balance for i in items),
                            credit_available=credits.get((family_id, clean_currency), 0), oldest_due_date=oldest,
                            days_overdue=rules.days_overdue(oldest, as_of), invoices=overdue,
                            last_payment_on=last_paid.get(family_id), contacts=contacts,
                            students={s: students[s] for s in {i.invoice.student_id for i in items} if s in students}))
    out.sort(key=lambda r: (-r.days_overdue, -r.overdue, r.family.code))
    return out


@dataclass(frozen=True)
class FamilyAccount:
    """A family with its students, open invoices on `as_of`, credit held and net balance (owed - credit)."""

    family: Family
    students: list[Student]
    open_invoices: list[OpenBalance]
    credit: int
    currency: str
    as_of: dt.date

    @property
    def owed(self) -> int:
        return sum(i.balance for i in self.open_invoices)

    @property
    def balance(self) -> int:
        return self.owed - self.credit


async def family_account(session: AsyncSession, *, family_id: int, currency: str, as_of: dt.date) -> FamilyAccount:
    """Return a family's account on `as_of` in `currency`. Raises NotFound (family_id)."""
    family = await get_family(session, family_id)
    clean_currency = money.parse_currency(currency)
    students = (await family_students(session, [family_id])).get(family_id, [])
    balances = await open_balances(session, as_of=as_of, currency=clean_currency, family_id=family_id)
    credit = await family_credit(session, family_id, clean_currency, as_of=as_of)
    return FamilyAccount(family=family, students=students, open_invoices=balances, credit=credit,
                         currency=clean_currency, as_of=as_of)


def _movements(history: dict[str, list], currency: str, students: dict[int, Student],
               schedules: dict[int, str]) -> list[tuple[dt.date, int, StatementLine]]:
    """The family's balance movements (charge +, payment -) in date order, before running balances."""
    out: list[tuple[dt.date, int, StatementLine]] = []

    def add(day: dt.date, order: int, kind: str, reference: str, description: str, charge: int, payment: int):
        out.append((day, order, StatementLine(date=day, kind=kind, reference=reference, description=description,
                                              charge=charge, payment=payment, balance=0)))

    for invoice in history["invoices"]:
        if invoice.currency != currency or invoice.issue_date is None:
            continue
        student = students.get(invoice.student_id)
        who = f"{student_name(student)} ({student.code})" if student else f"student {invoice.student_id}"
        what = invoice.memo or schedules.get(invoice.fee_schedule_id or 0, "Fees")
        add(invoice.issue_date, 0, "invoice", invoice.invoice_number, f"{what} - {who}", invoice.total, 0)
        if invoice.voided_on is not None:
            add(invoice.voided_on, 3, "void", invoice.invoice_number, f"Invoice voided: {invoice.void_reason}",
                0, invoice.total)
    for payment in history["payments"]:
        if payment.currency == currency:
            add(payment.received_on, 1, "payment", payment.payment_number,
                f"Payment received ({payment.method.replace('_', ' ')}"
                f"{', ref ' + payment.reference if payment.reference else ''})", 0, payment.amount)
    for note in history["credit_notes"]:
        if note.currency == currency:
            add(note.issued_on, 2, "credit_note", note.credit_note_number, f"Credit note: {note.reason}", 0,
                note.amount)
    for refund in history["refunds"]:
        if refund.currency == currency:
            add(refund.refunded_on, 4, "refund", refund.refund_number, f"Refund: {refund.reason}", refund.amount, 0)
    out.sort(key=lambda m: (m[0], m[1], m[2].reference))
    return out


async def family_statement(session: AsyncSession, *, family_id: int, currency: str, from_date: dt.date,
                           to_date: dt.date, issued_on: dt.date, school_name: str,
                           payment_instructions: str | None = None) -> FamilyStatement:
    """Build a family's statement of account for from_date..to_date (inclusive) in `currency`: the balance
    brought forward, every invoice, payment, credit note, void and refund in the period with the running
    balance (positive: owed), the closing balance (open invoices less credit on to_date), the open invoices
    and their aging. Raises NotFound (family) and InvalidInput (to_date before from_date, currency)."""
    ledger_rules.check_date(from_date, field="from_date")
    ledger_rules.check_date(to_date, field="to_date")
    if to_date < from_date:
        raise InvalidInput(f"to_date {to_date} is before from_date {from_date}", field="to_date")
    account = await family_account(session, family_id=family_id, currency=currency, as_of=to_date)
    history = await repo.family_history(session, family_id)
    students = await academics.students_by_id(session, [i.student_id for i in history["invoices"]]
                                              + [s.id or 0 for s in account.students])
    schedules = {s.id: s.name for s in [await repo.get_live(session, FeeSchedule, sid)
                                        for sid in {i.fee_schedule_id for i in history["invoices"]} if sid] if s}
    levels = await academics.year_level_names(session)
    opening, lines = 0, []
    running = None
    for day, _, line in _movements(history, account.currency, students, schedules):
        if day < from_date:
            opening += line.charge - line.payment
            continue
        if day > to_date:
            continue
        running = (opening if running is None else running) + line.charge - line.payment
        lines.append(StatementLine(date=line.date, kind=line.kind, reference=line.reference,
                                   description=line.description, charge=line.charge, payment=line.payment,
                                   balance=running))
    closing = opening if running is None else running
    buckets = dict.fromkeys(rules.AGING_BUCKETS, 0)
    open_rows = []
    for item in account.open_invoices:
        buckets[rules.aging_bucket(item.days_overdue)] += item.balance
        student = students.get(item.invoice.student_id)
        settled = item.invoice.total - item.balance
        open_rows.append(OpenInvoice(number=item.invoice.invoice_number,
                                     student_name=student_name(student) if student else "",
                                     issue_date=item.invoice.issue_date or item.invoice.due_date,
                                     due_date=item.invoice.due_date, total=item.invoice.total,
                                     paid=min(item.invoice.amount_paid, settled),
                                     credited=settled - min(item.invoice.amount_paid, settled),
                                     balance=item.balance, days_overdue=item.days_overdue))
    family = account.family
    return FamilyStatement(
        school_name=school_name, family_code=family.code, family_name=family.name,
        billing_name=family.billing_name, billing_email=family.billing_email,
        billing_address=family.billing_address,
        students=[f"{student_name(s)} ({s.code}, {levels.get(s.year_level_id, '')})" for s in account.students],
        currency=account.currency, from_date=from_date, to_date=to_date, issued_on=issued_on,
        opening_balance=opening, lines=lines, closing_balance=closing, credit_available=account.credit,
        open_invoices=open_rows, aging=AgingBuckets(**buckets), payment_instructions=payment_instructions)


@dataclass(frozen=True)
class Collections:
    """What was collected from_date..to_date (minor units of `currency`): payments by method, the part that
    went to family credit, refunds paid back, and the net."""

    from_date: dt.date
    to_date: dt.date
    currency: str
    by_method: list[tuple[str, int, int]]  # (method, payments, amount)
    payments: int
    received: int
    to_family_credit: int
    refunds: int
    refunded: int

    @property
    def net(self) -> int:
        return self.received - self.refunded


async def collections(session: AsyncSession, *, from_date: dt.date, to_date: dt.date, currency: str) -> Collections:
    """Sum the payments received and refunds paid from_date..to_date (inclusive) in `currency`. Raises
    InvalidInput (to_date before from_date, currency)."""
    ledger_rules.check_date(from_date, field="from_date")
    ledger_rules.check_date(to_date, field="to_date")
    if to_date < from_date:
        raise InvalidInput(f"to_date {to_date} is before from_date {from_date}", field="to_date")
    clean_currency = money.parse_currency(currency)
    rows = await repo.collections(session, from_date=from_date, to_date=to_date, currency=clean_currency)
    refunds, refunded = rows["refunds"]
    return Collections(from_date=from_date, to_date=to_date, currency=clean_currency,
                       by_method=[(method, count, amount) for method, count, amount, _ in rows["payments"]],
                       payments=sum(r[1] for r in rows["payments"]), received=sum(r[2] for r in rows["payments"]),
                       to_family_credit=sum(r[3] for r in rows["payments"]), refunds=refunds, refunded=refunded)


# ---------------------------------------------------------------- reads the fee tools show


async def family_student_ids(session: AsyncSession, family_ids: Sequence[int]) -> dict[int, list[int]]:
    """{family id: the ids of its students (live memberships, id order)}; one query per 500 families."""
    return await repo.family_students(session, family_ids)


async def list_families(session: AsyncSession, *, after_id: int, limit: int, query: str | None = None,
                        student_id: int | None = None) -> list[Family]:
    """Return up to `limit + 1` live families after `after_id` in id order, by part of the code, name or billing
    name, or the family of one student."""
    return await repo.list_families(session, after_id=after_id, limit=limit, query=query, student_id=student_id)


async def list_fee_items(session: AsyncSession, *, after_id: int, limit: int) -> list[FeeItem]:
    """Return up to `limit + 1` live fee items after `after_id` in id order."""
    return await repo.list_rows(session, FeeItem, after_id=after_id, limit=limit)


async def list_fee_schedules(session: AsyncSession, *, after_id: int, limit: int
                             ) -> list[tuple[FeeSchedule, list[FeeScheduleLine]]]:
    """Return up to `limit + 1` live fee schedules after `after_id` in id order, each with its live lines."""
    rows = await repo.list_rows(session, FeeSchedule, after_id=after_id, limit=limit)
    return [(row, await repo.schedule_lines(session, row.id or 0)) for row in rows]


async def get_fee_schedule(session: AsyncSession, schedule_id: int) -> FeeSchedule:
    """Return the live fee schedule; raises NotFound (schedule_id) naming list_fee_schedules."""
    return await repo.get_or_raise(session, FeeSchedule, schedule_id, field="schedule_id")


async def list_discounts(session: AsyncSession, *, after_id: int, limit: int) -> list[Discount]:
    """Return up to `limit + 1` live discounts after `after_id` in id order."""
    return await repo.list_rows(session, Discount, after_id=after_id, limit=limit)


@dataclass(frozen=True)
class InvoiceDetail:
    """An invoice with its lines (line order), the payments allocated to it and its credit notes (id order)."""

    invoice: Invoice
    lines: list[InvoiceLine]
    allocations: list[Allocation]
    credit_notes: list[CreditNote]


async def invoice_detail(session: AsyncSession, invoice: Invoice) -> InvoiceDetail:
    """Return `invoice` with its lines, allocations and credit notes."""
    invoice_id = invoice.id or 0
    lines = (await repo.lines_of_invoices(session, [invoice_id])).get(invoice_id, [])
    return InvoiceDetail(invoice=invoice, lines=lines,
                         allocations=await repo.allocations_of_invoice(session, invoice_id),
                         credit_notes=await repo.credit_notes_of_invoice(session, invoice_id))


async def list_invoices(session: AsyncSession, *, after_id: int, limit: int, family_id: int | None = None,
                        student_id: int | None = None, schedule_id: int | None = None,
                        statuses: list[str] | None = None, overdue_on: dt.date | None = None) -> list[Invoice]:
    """Return up to `limit + 1` invoices after `after_id` in id order, filtered by family, student, schedule,
    statuses, or still open and past due on `overdue_on`."""
    return await repo.list_invoices(session, after_id=after_id, limit=limit, family_id=family_id,
                                    student_id=student_id, schedule_id=schedule_id, statuses=statuses,
                                    overdue_on=overdue_on)


async def get_credit_note(session: AsyncSession, credit_note_id: int) -> CreditNote:
    """Return the credit note; raises NotFound (credit_note_id)."""
    return await repo.get_or_raise(session, CreditNote, credit_note_id, field="credit_note_id")


async def list_payments(session: AsyncSession, *, after_id: int, limit: int, family_id: int | None = None,
                        from_date: dt.date | None = None, to_date: dt.date | None = None
                        ) -> list[tuple[Payment, list[Allocation]]]:
    """Return up to `limit + 1` payments after `after_id` in id order (of a family, received within the dates,
    inclusive), each with its allocations to invoices (id order)."""
    rows = await repo.list_payments(session, after_id=after_id, limit=limit, family_id=family_id,
                                    from_date=from_date, to_date=to_date)
    return [(row, await repo.allocations_of_payment(session, row.id or 0)) for row in rows]


async def get_refund(session: AsyncSession, *, refund_id: int | None = None,
                     idempotency_key: str | None = None) -> Refund | None:
    """Return the refund with that id (raises NotFound, field refund_id, when there is none), else the one
    made with `idempotency_key`, or None."""
    if refund_id is not None:
        return await repo.get_or_raise(session, Refund, refund_id, field="refund_id")
    return None if idempotency_key is None else await repo.refund_by_key(session, idempotency_key)


# ---------------------------------------------------------------- plan effects (domain.kernel.plan)

DOCUMENT = "fees.document"
"""A numbered fees document a plan creates (a credit note CN000042, a refund RF000042): payload {"table",
"values"}; its number comes from its id, known only when applied."""
ENTRY_LINK = "fees.entry_link"
"""Point a document the same plan created at the journal entry it posted: payload {"table", "id", "entry_id"}."""
CREDIT_GUARD = "fees.credit_guard"
"""Lock a family and check it still holds at least an amount of credit: payload {"family_id", "currency",
"at_least"} (a refund's first change; a concurrent use of the credit since the plan makes the action stale)."""

_DOCUMENTS = {"fee_credit_notes": (CreditNote, "credit_note_number", "CN"),
              "fee_refunds": (Refund, "refund_number", "RF")}


async def _apply_document(session: AsyncSession, context: ApplyContext, payload) -> int:
    model, column, prefix = _DOCUMENTS[payload["table"]]
    row = model(**payload["values"])
    await repo.number_row(session, row, column, prefix, 6)
    return row.id or 0


async def _apply_entry_link(session: AsyncSession, context: ApplyContext, payload) -> None:
    await repo.set_entry(session, payload["table"], payload["id"], payload["entry_id"])


async def _apply_credit_guard(session: AsyncSession, context: ApplyContext, payload) -> None:
    family = await repo.get_or_raise(session, Family, payload["family_id"], field="family_id", for_update=True)
    held = await family_credit(session, family.id or 0, payload["currency"])
    if held < payload["at_least"]:
        raise StaleAction(f"family {family.code}'s credit is now {held} {payload['currency']} minor units, less "
                          f"than {payload['at_least']}; nothing was changed")


register_effect(DOCUMENT, _apply_document)
register_effect(ENTRY_LINK, _apply_entry_link)
register_effect(CREDIT_GUARD, _apply_credit_guard)


async def family_codes(session: AsyncSession, family_ids: set[int]) -> dict[int, str]:
    """Return {family id: family code} (deleted families included), for outputs that show a family's id beside
    the code people use; at most one query of the two columns (none for families this write unit of work already
    read or wrote: domain.kernel.db.codes_by_id), not whole rows."""
    return await repo.codes_of(session, "family", family_ids)


REFERENCE_KINDS = {
    "family": "a family id or code like F00042 (or the family's name)",
    "fee_item": "a fee item id or code",
    "fee_schedule": "a fee schedule id or code",
    "discount": "a discount id or code",
    "invoice": "an invoice id or number like INV000042",
}
"""The records of fees a tool input may name by id or code, and what such a reference looks like."""


async def reference_candidates(session: AsyncSession, kind: str) -> list[Candidate]:
    """Return every live `kind` record (a REFERENCE_KINDS key) as a reference may name it: id, code, name
    and aliases (domain.kernel.references.Candidate)."""
    rows = await repo.reference_rows(session, kind)
    if kind == "family":
        candidates = [Candidate(r[0], r[1], r[2], aliases=(r[3],) if r[3] else ()) for r in rows]
    elif kind == "invoice":
        candidates = [Candidate(r[0], r[1]) for r in rows]
    else:
        candidates = [Candidate(r[0], r[1], r[2]) for r in rows]
    return candidates


async def resolve_reference(session: AsyncSession, kind: str, text: str, *, field: str,
                            names: bool = True) -> int:
    """Return the id of the live `kind` (a REFERENCE_KINDS key) that `text` names (domain.kernel.references:
    code or number, then name or billing name, then digits as an id; case and accents ignored). Raises
    NotFound with the closest matches, or InvalidInput when `text` names several (two families of one name).
    `names=False` lists them by code only (domain.kernel.references.pick)."""
    return pick(await reference_candidates(session, kind), text, field=field, kind=kind.replace("_", " "),
                expected=REFERENCE_KINDS[kind], names=names)


async def reference_codes(session: AsyncSession, kind: str, ids: Iterable[int]) -> dict[int, str]:
    """The code of each `kind` record (a REFERENCE_KINDS key) of `ids`, in one query: what an answer shows beside
    an id (tools.output_codes), and what a reference to it accepts."""
    return await repo.codes_of(session, kind, ids)


# ---------------------------------------------------------------- a guardian's family (the guardian role's scope)


async def families_billing(session: AsyncSession, student_ids: Sequence[int]) -> list[Family]:
    """Return the live families billing any of `student_ids` (a guardian's children), by id."""
    return await repo.families_billing(session, student_ids)


async def family_of_students(session: AsyncSession, student_ids: Sequence[int], *, family_id: int | None) -> Family:
    """Return the family `family_id` when it bills one of `student_ids` (a guardian's children: one scoped query),
    or, with no `family_id`, their one family. Raises NotFound with one message for another family's id and a
    missing one, or when the children are in no family; InvalidInput when they are in several and none is named."""
    found = await repo.families_billing(session, student_ids, family_id=family_id)
    if family_id is not None and not found:
        raise NotFound(f"no family with id {family_id} is yours; get_my_children shows each child's family",
                       field="family_id")
    if not found:
        raise NotFound("none of your children is billed to a family yet; the school office sets that up",
                       field="family_id")
    if len(found) > 1:
        raise InvalidInput(f"your children are in {len(found)} families ({', '.join(f.code for f in found)}); "
                           "name one with family_id", field="family_id")
    return found[0]
