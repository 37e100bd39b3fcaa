"""Output schemas of the fees context: what its tools return, and the mappers from its rows."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from domain.fees import rules, service
from domain.fees.models import Allocation, CreditNote, Discount, Family, FeeSchedule, Invoice, Payment
from domain.kernel.schemas import Contact, OutputModel, Personal


class FamilyOut(OutputModel):
    family_id: int
    code: str = Field(description="E.g. F00042.")
    name: str
    billing_name: Contact[str | None] = None
    billing_email: Contact[str | None] = None
    billing_address: Personal[str | None] = Field(default=None, description="Admin and registrar only.")
    student_ids: list[int]
    student_codes: list[str | None] | None = None
    version: int


class FeeItemOut(OutputModel):
    fee_item_id: int
    code: str
    name: str
    income_account_id: int
    income_account_code: str | None = None
    active: bool


class ScheduleLineOut(OutputModel):
    fee_item_id: int
    fee_item_code: str | None = None
    year_level_id: int | None = Field(default=None, description="null: every year level without its own line.")
    year_level_code: str | None = None
    amount_minor: int


class FeeScheduleOut(OutputModel):
    schedule_id: int
    code: str
    name: str
    term_id: int
    term_code: str | None = None
    currency: str
    due_date: dt.date
    lines: list[ScheduleLineOut]


class DiscountOut(OutputModel):
    discount_id: int
    code: str
    name: str
    kind: str = Field(description="sibling | scholarship | other")
    percent: float | None = Field(default=None, description="Percentage off, when not a fixed amount (10.0 is "
                                                            "10 %).")
    amount_minor: int | None = None
    currency: str | None = None
    fee_item_id: int | None = Field(default=None, description="null: off every fee of the invoice.")
    fee_item_code: str | None = None
    sibling_position: int | None = None
    account_id: int | None = Field(default=None, description="Account debited; null: 4190 Fee discounts and "
                                                            "credit notes in the invoice's currency.")
    account_code: str | None = None
    active: bool


class AwardOut(OutputModel):
    award_id: int
    student_id: int
    student_code: str | None = None
    discount_id: int
    discount_code: str | None = None
    note: str | None = None


class InvoiceLineOut(OutputModel):
    line_no: int
    kind: str = Field(description="fee | discount")
    description: str
    amount_minor: int = Field(description="> 0; a discount is taken off the total.")
    fee_item_id: int | None = None
    fee_item_code: str | None = None
    discount_id: int | None = None
    discount_code: str | None = None
    account_id: int
    account_code: str | None = None


class AllocationOut(OutputModel):
    invoice_id: int
    invoice_number: str | None = None
    amount_minor: int
    allocated_on: dt.date
    payment_id: int | None = None
    from_family_credit: bool = False


class CreditNoteOut(OutputModel):
    credit_note_id: int
    number: str = Field(description="E.g. CN000003.")
    invoice_id: int
    invoice_number: str | None = None
    family_id: int
    family_code: str | None = None
    issued_on: dt.date
    currency: str
    amount_minor: int
    applied_minor: int = Field(description="Taken off the invoice's balance.")
    to_family_credit_minor: int = Field(description="What exceeded the balance, now family credit.")
    reason: str
    entry_id: int | None = None
    entry_number: str | None = None


class InvoiceOut(OutputModel):
    invoice_id: int
    number: str = Field(description="E.g. INV000042.")
    family_id: int
    family_code: str | None = None
    student_id: int
    student_code: str | None = None
    schedule_id: int | None = Field(default=None, description="None for a charge from another context (a shop "
                                                                "order: see memo).")
    schedule_code: str | None = None
    term_id: int | None = None
    term_code: str | None = None
    memo: str | None = None
    currency: str
    status: str = Field(description="draft | issued | partially_paid | paid | void")
    issue_date: dt.date | None = None
    due_date: dt.date
    total_minor: int = Field(description="Fees less discounts.")
    paid_minor: int = Field(description="Payments and family credit applied.")
    credited_minor: int = Field(description="Credit notes taken off the balance.")
    balance_minor: int = Field(description="Still owed (0 for drafts and voids).")
    entry_id: int | None = Field(default=None, description="The journal entry its issue posted.")
    entry_number: str | None = None
    voided_on: dt.date | None = None
    void_reason: str | None = None
    void_entry_id: int | None = None
    void_entry_number: str | None = None
    version: int
    lines: list[InvoiceLineOut] | None = None
    allocations: list[AllocationOut] | None = None
    credit_notes: list[CreditNoteOut] | None = None


class PaymentOut(OutputModel):
    payment_id: int
    number: str = Field(description="E.g. RCT000042.")
    family_id: int
    family_code: str | None = None
    received_on: dt.date
    currency: str
    amount_minor: int
    to_family_credit_minor: int = Field(description="What was not allocated to an invoice (an overpayment).")
    method: str
    reference: str | None = None
    deposit_account_id: int
    deposit_account_code: str | None = None
    entry_id: int | None = None
    entry_number: str | None = None
    idempotency_key: str
    replayed: bool = Field(default=False, description="True when this key had already recorded it.")
    allocations: list[AllocationOut]


class RefundOut(OutputModel):
    refund_id: int
    number: str = Field(description="E.g. RF000003.")
    family_id: int
    family_code: str | None = None
    refunded_on: dt.date
    currency: str
    amount_minor: int
    method: str
    reference: str | None = None
    reason: str
    entry_id: int | None = None
    entry_number: str | None = None
    family_credit_after_minor: int


class OpenInvoiceOut(OutputModel):
    invoice_id: int
    number: str
    student_id: int
    student_code: str | None = None
    due_date: dt.date
    total_minor: int
    balance_minor: int
    days_overdue: int


class FamilyAccountOut(OutputModel):
    family: FamilyOut
    as_of: dt.date
    currency: str
    owed_minor: int = Field(description="Sum of the open invoices' balances.")
    credit_minor: int = Field(description="Family credit held (overpayments, credit notes), not yet applied.")
    balance_minor: int = Field(description="owed - credit; negative: the family is in credit.")
    open_invoices: list[OpenInvoiceOut]


def family_out(family: Family, student_ids: list[int]) -> FamilyOut:
    """A family with the ids of its students."""
    return FamilyOut(family_id=family.id or 0, code=family.code, name=family.name, billing_name=family.billing_name,
                     billing_email=family.billing_email, billing_address=family.billing_address,
                     student_ids=student_ids, version=family.version)


def schedule_out(schedule: FeeSchedule, lines) -> FeeScheduleOut:
    """A fee schedule with its lines (fee item and amount each)."""
    return FeeScheduleOut(schedule_id=schedule.id or 0, code=schedule.code, name=schedule.name,
                          term_id=schedule.term_id, currency=schedule.currency, due_date=schedule.due_date,
                          lines=[ScheduleLineOut(fee_item_id=line.fee_item_id, year_level_id=line.year_level_id,
                                                 amount_minor=line.amount) for line in lines])


def discount_out(row: Discount) -> DiscountOut:
    """A discount or scholarship award."""
    percent = None if row.percent_bp is None else row.percent_bp / 100
    return DiscountOut(discount_id=row.id or 0, code=row.code, name=row.name, kind=row.kind, percent=percent,
                       amount_minor=row.amount, currency=row.currency, fee_item_id=row.fee_item_id,
                       sibling_position=row.sibling_position, account_id=row.account_id, active=row.active)


def allocation_out(row: Allocation) -> AllocationOut:
    """One allocation of a payment or credit to an invoice."""
    return AllocationOut(invoice_id=row.invoice_id, amount_minor=row.amount, allocated_on=row.allocated_on,
                         payment_id=row.payment_id, from_family_credit=row.credit_id is not None)


def credit_note_out(row: CreditNote) -> CreditNoteOut:
    """A credit note: the part applied to its invoice and the rest, which went to the family's credit."""
    return CreditNoteOut(credit_note_id=row.id or 0, number=row.credit_note_number, invoice_id=row.invoice_id,
                         family_id=row.family_id, issued_on=row.issued_on, currency=row.currency,
                         amount_minor=row.amount, applied_minor=row.applied,
                         to_family_credit_minor=row.amount - row.applied, reason=row.reason, entry_id=row.entry_id)


def invoice_out(row: Invoice, *, lines=None, allocations=None, notes=None) -> InvoiceOut:
    """An invoice with its balance (service.balance_of); lines, allocations and credit notes when given."""
    return InvoiceOut(
        invoice_id=row.id or 0, number=row.invoice_number, family_id=row.family_id, student_id=row.student_id,
        schedule_id=row.fee_schedule_id, term_id=row.term_id, memo=row.memo, currency=row.currency,
        status=row.status,
        issue_date=row.issue_date, due_date=row.due_date, total_minor=row.total, paid_minor=row.amount_paid,
        credited_minor=row.amount_credited, balance_minor=service.balance_of(row), entry_id=row.entry_id,
        voided_on=row.voided_on, void_reason=row.void_reason, void_entry_id=row.void_entry_id, version=row.version,
        lines=None if lines is None else [InvoiceLineOut(line_no=line.line_no, kind=line.kind,
                                                         description=line.description, amount_minor=line.amount,
                                                         fee_item_id=line.fee_item_id, discount_id=line.discount_id,
                                                         account_id=line.account_id) for line in lines],
        allocations=None if allocations is None else [allocation_out(a) for a in allocations],
        credit_notes=None if notes is None else [credit_note_out(n) for n in notes])


def payment_out(row: Payment, allocations: list[Allocation], replayed: bool = False) -> PaymentOut:
    """A payment with its allocations; `replayed` when an idempotent retry returned the first answer."""
    return PaymentOut(payment_id=row.id or 0, number=row.payment_number, family_id=row.family_id,
                      received_on=row.received_on, currency=row.currency, amount_minor=row.amount,
                      to_family_credit_minor=row.unallocated, method=row.method, reference=row.reference,
                      deposit_account_id=row.deposit_account_id, entry_id=row.entry_id,
                      idempotency_key=row.idempotency_key, replayed=replayed,
                      allocations=[allocation_out(a) for a in allocations])


class IssuedOut(OutputModel):
    issued: int
    invoice_ids: list[int]
    invoice_numbers: list[str | None] | None = None


class MethodTotalOut(OutputModel):
    method: str
    payments: int
    amount_minor: int


class CollectionsOut(OutputModel):
    from_date: dt.date
    to_date: dt.date
    currency: str
    payments: int
    received_minor: int = Field(description="Every payment received in the period.")
    to_family_credit_minor: int = Field(description="The part of it not allocated to invoices (overpayments).")
    refunds: int
    refunded_minor: int
    net_collected_minor: int = Field(description="received - refunded.")
    by_method: list[MethodTotalOut]


class AppliedOut(OutputModel):
    applied_minor: int
    allocations: list[AllocationOut]


class AgingBucketsOut(OutputModel):
    current: int = Field(description="Not yet due.")
    days_1_30: int
    days_31_60: int
    days_61_90: int
    over_90: int
    total: int


class AgingRowOut(OutputModel):
    family_id: int
    family_code: str
    family_name: str
    student_id: int | None = None
    student_code: str | None = None
    student_name: str | None = None
    invoices: int
    oldest_due_date: dt.date | None = None
    buckets: AgingBucketsOut


class AgingOut(OutputModel):
    """The aging report: its totals over every row first, then one page of rows, most overdue first."""

    as_of: dt.date
    currency: str = Field(description="Every amount is in integer minor units of this ISO 4217 currency.")
    group_by: str
    totals: AgingBucketsOut = Field(description="Per bucket, over every row of the report (not only this page).")
    rows_total: int = Field(description="Rows in the whole report.")
    ledger_receivable_minor: int | None = Field(default=None, description="The ledger's 1200 Fees receivable "
                                                                          "balance on as_of (unfiltered reports).")
    agrees_with_ledger: bool | None = None
    rows: list[AgingRowOut] = Field(description="This page of rows; pass next_cursor for the next.")
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")


def aging_out(report: service.AgingReport, rows: list[service.AgingRow], next_cursor: str | None) -> AgingOut:
    """The aging report's totals (every row) with one page of its rows."""
    return AgingOut(as_of=report.as_of, currency=report.currency, group_by=report.group_by,
                    totals=aging_buckets_out(report.totals), rows_total=len(report.rows),
                    ledger_receivable_minor=report.ledger_balance, agrees_with_ledger=report.agrees,
                    rows=[AgingRowOut(family_id=r.family_id, family_code=r.family_code, family_name=r.family_name,
                                      student_id=r.student_id, student_code=r.student_code,
                                      student_name=r.student_name, invoices=r.invoices,
                                      oldest_due_date=r.oldest_due_date, buckets=aging_buckets_out(r.buckets))
                          for r in rows],
                    next_cursor=next_cursor)


def aging_buckets_out(values: dict[str, int]) -> AgingBucketsOut:
    """Aging buckets (current, 1-30, 31-60, 61-90, over 90 days) with their total."""
    return AgingBucketsOut(**values, total=sum(values.values()))


class BillingContactOut(OutputModel):
    """Whom the family's bills go to."""

    name: Contact[str | None] = None
    email: Contact[str | None] = None


class GuardianContactOut(OutputModel):
    name: str
    relationship: str
    email: Personal[str | None] = None
    phone: Personal[str | None] = None


class ReminderOut(OutputModel):
    """One family to remind, in one line's worth: its amounts, dates and whom to contact."""

    family_id: int
    family_code: str
    family_name: str
    overdue_minor: int = Field(description="Owed on invoices at least min_days_overdue past due.")
    total_owed_minor: int = Field(description="Owed on every open invoice, overdue or not.")
    credit_available_minor: int
    oldest_due_date: dt.date
    days_overdue: int = Field(description="Days past due of its oldest overdue invoice.")
    overdue_invoices: int = Field(description="How many invoices are overdue; get_family_account(family_id) "
                                              "lists them with their balances.")
    last_payment_on: dt.date | None = None
    billing_contact: BillingContactOut | None = Field(default=None, description="Null when the family has none.")
    guardians: Personal[list[GuardianContactOut] | None] = Field(
        default=None, description="The guardians of its students with overdue invoices (admin and registrar).")


class RemindersOut(OutputModel):
    """The families to remind: totals over every family first, then one page of them, most overdue first."""

    as_of: dt.date
    currency: str = Field(description="Every amount is in integer minor units of this ISO 4217 currency.")
    families_total: int = Field(description="Families to remind in all (not only this page).")
    overdue_total_minor: int = Field(description="Overdue amount of every family to remind.")
    overdue_by_bucket: AgingBucketsOut = Field(description="That overdue amount by days past due (current is 0).")
    families: list[ReminderOut] = Field(description="This page of families; pass next_cursor for the next.")
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")


def _has_billing_contact(reminder: service.Reminder) -> bool:
    return bool(reminder.family.billing_name or reminder.family.billing_email)


def _billing_contact(reminder: service.Reminder) -> BillingContactOut | None:
    """The family's billing contact: the first of the reminder's contacts when the family has one."""
    if not _has_billing_contact(reminder):
        return None
    first = reminder.contacts[0]
    return BillingContactOut(name=first.name, email=first.email)


def _guardians(reminder: service.Reminder) -> list[GuardianContactOut]:
    """The reminder's other contacts: its students' guardians."""
    return [GuardianContactOut(name=c.name, relationship=c.relationship, email=c.email, phone=c.phone)
            for c in reminder.contacts[1 if _has_billing_contact(reminder) else 0:]]


def reminders_out(reminders: list[service.Reminder], page: list[service.Reminder], *, as_of: dt.date,
                  currency: str, next_cursor: str | None) -> RemindersOut:
    """The totals of every reminder (overdue amount, by aging bucket) with one page of families."""
    buckets = dict.fromkeys(rules.AGING_BUCKETS, 0)
    for reminder in reminders:
        for item in reminder.invoices:
            buckets[rules.aging_bucket(item.days_overdue)] += item.balance
    families = [ReminderOut(family_id=r.family.id or 0, family_code=r.family.code, family_name=r.family.name,
                            overdue_minor=r.overdue, total_owed_minor=r.total_owed,
                            credit_available_minor=r.credit_available, oldest_due_date=r.oldest_due_date,
                            days_overdue=r.days_overdue, overdue_invoices=len(r.invoices),
                            last_payment_on=r.last_payment_on,
                            billing_contact=_billing_contact(r), guardians=_guardians(r))
                for r in page]
    return RemindersOut(as_of=as_of, currency=currency, families_total=len(reminders),
                        overdue_total_minor=sum(r.overdue for r in reminders),
                        overdue_by_bucket=aging_buckets_out(buckets), families=families, next_cursor=next_cursor)


class StatementOut(OutputModel):
    document_id: int = Field(description="get_document returns the PDF (base64).")
    filename: str
    family_id: int
    family_code: str | None = None
    currency: str
    opening_balance_minor: int
    closing_balance_minor: int = Field(description="Positive: owed; negative: the family is in credit.")
    lines: int
    open_invoices: int
