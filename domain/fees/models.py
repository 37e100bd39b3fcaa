"""Fee tables: families (the accounts fees are billed to), fee items, fee schedules and discounts, invoices with
their lines, payments and how they were allocated, credit notes, family credit and refunds.

Money is integer minor units of the row's ISO 4217 `currency` (BigInteger), never floats. Every issued invoice,
payment, credit note, credit application and refund posts one journal entry through the ledger's service
(`entry_id`); nothing here is ever deleted: a wrong invoice is voided (its entry reversed), a wrong payment is
corrected with a credit note and a refund.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field

from domain.kernel.models import Entity
from domain.kernel.text import folded_column, keep_folded


class InvoiceStatus(StrEnum):
    """draft -> issued -> partially_paid -> paid; void from draft or issued (nothing paid or credited)."""

    DRAFT = "draft"
    ISSUED = "issued"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"


class DiscountKind(StrEnum):
    """sibling: given automatically to a family's Nth and later enrolled child; scholarship and other: awarded
    to named students (fee_discount_awards)."""

    SIBLING = "sibling"
    SCHOLARSHIP = "scholarship"
    OTHER = "other"


class CreditKind(StrEnum):
    """A movement of a family's credit: + overpayment, + credit_note (the part above the invoice's balance),
    - applied (to an invoice), - refund."""

    OVERPAYMENT = "overpayment"
    CREDIT_NOTE = "credit_note"
    APPLIED = "applied"
    REFUND = "refund"


class PaymentMethod(StrEnum):
    BANK_TRANSFER = "bank_transfer"
    CARD = "card"
    CASH = "cash"
    CHEQUE = "cheque"
    DIRECT_DEBIT = "direct_debit"
    OTHER = "other"


def _money(*, default: int | None = None) -> Column:
    if default is None:
        return Column(BigInteger, nullable=False)
    return Column(BigInteger, nullable=False, server_default=str(default))


class Family(Entity, table=True):
    """A family: the account fees are billed to and payments come from (code F00042). `billing_*` is who the
    statement of account is addressed to."""

    __tablename__ = "families"

    code: str = Field(max_length=20, unique=True, index=True, nullable=False)
    name: str = Field(max_length=160, nullable=False, index=True)
    billing_name: str | None = Field(default=None, max_length=160)
    billing_email: str | None = Field(default=None, max_length=254)
    billing_address: str | None = Field(default=None, max_length=500)
    name_folded: str = folded_column("name")


keep_folded(Family, "name")


class FamilyMember(Entity, table=True):
    """A student billed to a family. A student belongs to at most one family at a time (a live row); moving a
    student soft-deletes the old row."""

    __tablename__ = "family_members"
    __table_args__ = (
        Index("uq_family_members_live_student", "student_id", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
    )

    family_id: int = Field(foreign_key="families.id", nullable=False, index=True)
    student_id: int = Field(foreign_key="students.id", nullable=False)


class FeeItem(Entity, table=True):
    """Something a school charges for (TUITION, TRANSPORT, MEALS) and the income account it is credited to."""

    __tablename__ = "fee_items"

    code: str = Field(max_length=40, unique=True, index=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    income_account_id: int = Field(foreign_key="accounts.id", nullable=False)
    active: bool = Field(default=True, nullable=False)


class FeeSchedule(Entity, table=True):
    """A term's fees in one currency: its lines give each fee item's amount per year level (or for every year
    level), `due_date` is when the term's invoices fall due."""

    __tablename__ = "fee_schedules"

    code: str = Field(max_length=40, unique=True, index=True, nullable=False)
    name: str = Field(max_length=160, nullable=False)
    term_id: int = Field(foreign_key="terms.id", nullable=False, index=True)
    currency: str = Field(max_length=3, nullable=False)
    due_date: dt.date = Field(nullable=False)


class FeeScheduleLine(Entity, table=True):
    """A fee item's amount on a schedule for one year level (`year_level_id`), or for every year level (None)
    that has no line of its own for the item."""

    __tablename__ = "fee_schedule_lines"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_fee_schedule_lines_amount"),
    )

    fee_schedule_id: int = Field(foreign_key="fee_schedules.id", nullable=False, index=True)
    fee_item_id: int = Field(foreign_key="fee_items.id", nullable=False)
    year_level_id: int | None = Field(default=None, foreign_key="year_levels.id")
    amount: int = Field(sa_column=_money())


class Discount(Entity, table=True):
    """A fee discount: a percentage (`percent_bp`, basis points: 1000 is 10 %) or a fixed amount (`amount`, minor
    units of `currency`) off one fee item (`fee_item_id`) or off every fee of the invoice (None). A sibling
    discount applies to a family's `sibling_position`-th and later enrolled child (eldest first). The discount
    is debited to `account_id`, or (None) to 4190 Fee discounts and credit notes in the invoice's currency."""

    __tablename__ = "fee_discounts"
    __table_args__ = (
        CheckConstraint("kind IN ('sibling', 'scholarship', 'other')", name="ck_fee_discounts_kind"),
        CheckConstraint("(percent_bp IS NULL) != (amount IS NULL)", name="ck_fee_discounts_one_method"),
    )

    code: str = Field(max_length=40, unique=True, index=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    kind: str = Field(max_length=12, nullable=False)
    percent_bp: int | None = Field(default=None)
    amount: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    currency: str | None = Field(default=None, max_length=3)
    fee_item_id: int | None = Field(default=None, foreign_key="fee_items.id")
    sibling_position: int | None = Field(default=None)
    account_id: int | None = Field(default=None, foreign_key="accounts.id")
    active: bool = Field(default=True, nullable=False)


class DiscountAward(Entity, table=True):
    """A scholarship or other discount awarded to a student; it applies to invoices generated while it is live."""

    __tablename__ = "fee_discount_awards"
    __table_args__ = (
        Index("uq_fee_discount_awards_live", "student_id", "discount_id", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
    )

    student_id: int = Field(foreign_key="students.id", nullable=False, index=True)
    discount_id: int = Field(foreign_key="fee_discounts.id", nullable=False)
    note: str | None = Field(default=None, max_length=500)


class Invoice(Entity, table=True):
    """A student's invoice for a fee schedule (a term), billed to the student's family (INV000042); or a charge
    to the family's account from another context (charge_family: a shop order), with no schedule or term and a
    `memo` saying what it is for.

    total = fees - discounts; balance = total - amount_paid (payments and family credit applied) -
    amount_credited (credit notes). `entry_id` is the entry its issue posted; `void_entry_id` the reversal of a
    void. One live (not void) invoice per student and schedule: a partial UNIQUE index.
    """

    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'issued', 'partially_paid', 'paid', 'void')",
                        name="ck_invoices_status"),
        CheckConstraint("total >= 0 AND amount_paid >= 0 AND amount_credited >= 0 "
                        "AND amount_paid + amount_credited <= total", name="ck_invoices_amounts"),
        Index("uq_invoices_live_student_schedule", "student_id", "fee_schedule_id", unique=True,
              sqlite_where=text("status != 'void'"), postgresql_where=text("status != 'void'")),
    )

    invoice_number: str = Field(max_length=24, unique=True, nullable=False)
    family_id: int = Field(foreign_key="families.id", nullable=False, index=True)
    student_id: int = Field(foreign_key="students.id", nullable=False, index=True)
    fee_schedule_id: int | None = Field(default=None, foreign_key="fee_schedules.id", index=True)
    term_id: int | None = Field(default=None, foreign_key="terms.id")
    currency: str = Field(max_length=3, nullable=False)
    status: str = Field(max_length=16, nullable=False, index=True)
    memo: str | None = Field(default=None, max_length=200)
    issue_date: dt.date | None = Field(default=None)
    due_date: dt.date = Field(nullable=False, index=True)
    total: int = Field(sa_column=_money())
    amount_paid: int = Field(default=0, sa_column=_money(default=0))
    amount_credited: int = Field(default=0, sa_column=_money(default=0))
    entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    voided_on: dt.date | None = Field(default=None)
    void_reason: str | None = Field(default=None, max_length=1000)
    void_entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    job_id: int | None = Field(default=None, foreign_key="jobs.id")


class InvoiceLine(Entity, table=True):
    """A line of an invoice: a fee (credited to the fee item's income account) or a discount (debited to the
    discount's account); `amount` > 0 minor units either way."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        CheckConstraint("kind IN ('fee', 'discount')", name="ck_invoice_lines_kind"),
        CheckConstraint("amount > 0", name="ck_invoice_lines_amount"),
    )

    invoice_id: int = Field(foreign_key="invoices.id", nullable=False, index=True)
    line_no: int = Field(nullable=False)
    kind: str = Field(max_length=10, nullable=False)
    fee_item_id: int | None = Field(default=None, foreign_key="fee_items.id")
    discount_id: int | None = Field(default=None, foreign_key="fee_discounts.id")
    description: str = Field(max_length=200, nullable=False)
    amount: int = Field(sa_column=_money())
    account_id: int = Field(foreign_key="accounts.id", nullable=False)


class Payment(Entity, table=True):
    """Money a family paid (RCT000042), deposited to `deposit_account_id`; `unallocated` is what went to the
    family's credit (an overpayment). `idempotency_key` names the request that recorded it."""

    __tablename__ = "fee_payments"
    __table_args__ = (
        CheckConstraint("amount > 0 AND unallocated >= 0 AND unallocated <= amount",
                        name="ck_fee_payments_amounts"),
    )

    payment_number: str = Field(max_length=24, unique=True, nullable=False)
    family_id: int = Field(foreign_key="families.id", nullable=False, index=True)
    received_on: dt.date = Field(nullable=False, index=True)
    currency: str = Field(max_length=3, nullable=False)
    amount: int = Field(sa_column=_money())
    unallocated: int = Field(default=0, sa_column=_money(default=0))
    method: str = Field(max_length=20, nullable=False)
    reference: str | None = Field(default=None, max_length=120)
    deposit_account_id: int = Field(foreign_key="accounts.id", nullable=False)
    entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    idempotency_key: str = Field(max_length=200, unique=True, nullable=False)
    recorded_by: int | None = Field(default=None, foreign_key="users.id")


class FamilyCredit(Entity, table=True):
    """One movement of a family's credit (money the school holds for the family): `amount` > 0 adds
    (overpayment, credit note excess), < 0 uses (applied to an invoice, refunded). The family's credit is the
    sum; it never goes below zero."""

    __tablename__ = "family_credits"
    __table_args__ = (
        CheckConstraint("kind IN ('overpayment', 'credit_note', 'applied', 'refund')",
                        name="ck_family_credits_kind"),
        CheckConstraint("amount != 0", name="ck_family_credits_amount"),
    )

    family_id: int = Field(foreign_key="families.id", nullable=False, index=True)
    currency: str = Field(max_length=3, nullable=False)
    kind: str = Field(max_length=12, nullable=False)
    amount: int = Field(sa_column=_money())
    occurred_on: dt.date = Field(nullable=False)
    payment_id: int | None = Field(default=None, foreign_key="fee_payments.id")
    credit_note_id: int | None = Field(default=None, foreign_key="fee_credit_notes.id")
    refund_id: int | None = Field(default=None, foreign_key="fee_refunds.id")
    entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)


class Allocation(Entity, table=True):
    """Part of a payment (`payment_id`) or of a family's credit (`credit_id`, an `applied` movement) set
    against an invoice, dated `allocated_on`."""

    __tablename__ = "fee_allocations"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_fee_allocations_amount"),
        CheckConstraint("(payment_id IS NULL) != (credit_id IS NULL)", name="ck_fee_allocations_source"),
    )

    invoice_id: int = Field(foreign_key="invoices.id", nullable=False, index=True)
    payment_id: int | None = Field(default=None, foreign_key="fee_payments.id", index=True)
    credit_id: int | None = Field(default=None, foreign_key="family_credits.id")
    amount: int = Field(sa_column=_money())
    allocated_on: dt.date = Field(nullable=False)


class CreditNote(Entity, table=True):
    """A credit note (CN000042) against an invoice: `applied` reduces the invoice's balance, the rest
    (`amount` - `applied`, when the invoice was already paid) becomes family credit. Debited to `account_id`."""

    __tablename__ = "fee_credit_notes"
    __table_args__ = (
        CheckConstraint("amount > 0 AND applied >= 0 AND applied <= amount", name="ck_fee_credit_notes_amounts"),
    )

    credit_note_number: str = Field(max_length=24, unique=True, nullable=False)
    invoice_id: int = Field(foreign_key="invoices.id", nullable=False, index=True)
    family_id: int = Field(foreign_key="families.id", nullable=False, index=True)
    issued_on: dt.date = Field(nullable=False)
    currency: str = Field(max_length=3, nullable=False)
    amount: int = Field(sa_column=_money())
    applied: int = Field(sa_column=_money())
    reason: str = Field(sa_column=Column(Text, nullable=False))
    account_id: int = Field(foreign_key="accounts.id", nullable=False)
    entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    issued_by: int | None = Field(default=None, foreign_key="users.id")


class Refund(Entity, table=True):
    """Money paid back to a family out of its credit (RF000042), from `bank_account_id`."""

    __tablename__ = "fee_refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_fee_refunds_amount"),
        UniqueConstraint("idempotency_key", name="uq_fee_refunds_key"),
    )

    refund_number: str = Field(max_length=24, unique=True, nullable=False)
    family_id: int = Field(foreign_key="families.id", nullable=False, index=True)
    refunded_on: dt.date = Field(nullable=False)
    currency: str = Field(max_length=3, nullable=False)
    amount: int = Field(sa_column=_money())
    method: str = Field(max_length=20, nullable=False)
    reference: str | None = Field(default=None, max_length=120)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    bank_account_id: int = Field(foreign_key="accounts.id", nullable=False)
    entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    idempotency_key: str = Field(max_length=200, nullable=False)
    refunded_by: int | None = Field(default=None, foreign_key="users.id")
