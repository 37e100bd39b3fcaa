"""Pure rules of fees: what an invoice charges (fees per year level less discounts), how a payment is allocated,
an invoice's status from its amounts, and aging buckets. No database; amounts are integer minor units.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from domain.fees.models import DiscountKind, InvoiceStatus
from domain.kernel import money

MAX_AMOUNT = money.MAX_AMOUNT  # minor units on one fee line or payment, the ledger's bound on one line
FULL_PERCENT_BP = 10_000  # basis points in 100 %

# Aging buckets of receivables by days past the due date, as accounts-receivable aging reports use them (e.g.
# Horngren's Financial Accounting, ch. 9 "Receivables", the aging-of-receivables method): not yet due, 1-30,
# 31-60, 61-90 and over 90 days.
AGING_BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90")


def check_amount(value: object, *, field: str, allow_zero: bool = False) -> int:
    """Return a money amount; raises InvalidInput unless it is an integer of minor units in 1..MAX_AMOUNT (0 too
    with `allow_zero`), see domain.kernel.money.check_amount."""
    return money.check_amount(value, field=field, minimum=0 if allow_zero else 1)


def round_half_up(numerator: int, denominator: int) -> int:
    """Divide non-negative integers, rounding halves up (the usual commercial rounding of a discount)."""
    return (2 * numerator + denominator) // (2 * denominator)


def percent_of(amount: int, percent_bp: int) -> int:
    """`percent_bp` basis points (1000 = 10 %) of `amount` minor units, rounded half up to a minor unit."""
    return round_half_up(amount * percent_bp, FULL_PERCENT_BP)


@dataclass(frozen=True)
class FeeCharge:
    """A fee on an invoice: the fee item, its description and income account, the amount in minor units."""

    fee_item_id: int
    description: str
    account_id: int
    amount: int


@dataclass(frozen=True)
class DiscountRule:
    """A discount as the invoice rule sees it (see models.Discount)."""

    discount_id: int
    code: str
    name: str
    kind: str
    account_id: int
    percent_bp: int | None = None
    amount: int | None = None
    fee_item_id: int | None = None
    sibling_position: int | None = None


@dataclass(frozen=True)
class PlannedLine:
    """A line of a planned invoice: kind fee or discount, amount > 0 minor units."""

    kind: str
    description: str
    account_id: int
    amount: int
    fee_item_id: int | None = None
    discount_id: int | None = None


def applies(rule: DiscountRule, *, sibling_rank: int, awarded: bool) -> bool:
    """Rule: a sibling discount applies from the family's `sibling_position`-th enrolled child (eldest is 1);
    a scholarship or other discount applies when it was awarded to the student."""
    if rule.kind == DiscountKind.SIBLING.value:
        return rule.sibling_position is not None and sibling_rank >= rule.sibling_position
    return awarded


def invoice_lines(charges: Sequence[FeeCharge], discounts: Sequence[DiscountRule]) -> list[PlannedLine]:
    """The lines of an invoice: each fee, then each discount that applies (already chosen by `applies`).

    A discount is taken off the fee of its item (or off all fees when it names none): a percentage rounded half
    up to the minor unit, or a fixed amount; discounts are applied in the order given (sibling first, then by
    code, as the caller sorts them), each on the amount the earlier ones left, so the total never goes below
    zero. A discount that comes to 0 adds no line.
    """
    lines = [PlannedLine(kind="fee", description=c.description, account_id=c.account_id, amount=c.amount,
                         fee_item_id=c.fee_item_id) for c in charges if c.amount > 0]
    left = {c.fee_item_id: 0 for c in charges}
    for c in charges:
        left[c.fee_item_id] += c.amount
    for rule in discounts:
        items = [rule.fee_item_id] if rule.fee_item_id is not None else list(left)
        base = sum(left.get(item, 0) for item in items)
        if base <= 0:
            continue
        if rule.percent_bp is not None:
            off = percent_of(base, rule.percent_bp)
        else:
            off = min(rule.amount or 0, base)
        if off <= 0:
            continue
        remaining = off
        for item in items:  # take the discount off the items in order, so `left` stays exact per item
            take = min(remaining, left.get(item, 0))
            left[item] = left.get(item, 0) - take
            remaining -= take
        lines.append(PlannedLine(kind="discount", description=rule.name, account_id=rule.account_id,
                                 amount=off, discount_id=rule.discount_id))
    return lines


def invoice_total(lines: Iterable[PlannedLine]) -> int:
    """Fees less discounts, minor units."""
    return sum(line.amount if line.kind == "fee" else -line.amount for line in lines)


def sibling_ranks(children: Iterable[tuple[int, dt.date]]) -> dict[int, int]:
    """Rank a family's enrolled children eldest first (by date of birth, then id): {student id: 1, 2, ...}.
    The eldest pays in full; sibling discounts start at a later position (the usual school rule)."""
    ordered = sorted(children, key=lambda child: (child[1], child[0]))
    return {student_id: rank for rank, (student_id, _) in enumerate(ordered, start=1)}


def status_of(*, total: int, paid: int, credited: int, issued: bool) -> InvoiceStatus:
    """An issued invoice's status from its amounts: paid when nothing is left (a zero invoice is paid at once),
    partially_paid when something was paid or credited, else issued. A draft stays draft."""
    if not issued:
        return InvoiceStatus.DRAFT
    balance = total - paid - credited
    if balance <= 0:
        return InvoiceStatus.PAID
    if paid > 0 or credited > 0:
        return InvoiceStatus.PARTIALLY_PAID
    return InvoiceStatus.ISSUED


@dataclass(frozen=True)
class OpenItem:
    """An invoice with money still owed: its id, due date and balance (minor units)."""

    invoice_id: int
    due_date: dt.date
    balance: int


def allocate_oldest_first(amount: int, items: Sequence[OpenItem]) -> tuple[list[tuple[int, int]], int]:
    """Set `amount` against open invoices, the earliest due first (then the lowest id), each up to its balance.
    Returns ([(invoice id, amount)], what is left over)."""
    out = []
    left = amount
    for item in sorted(items, key=lambda i: (i.due_date, i.invoice_id)):
        if left <= 0:
            break
        take = min(left, item.balance)
        if take > 0:
            out.append((item.invoice_id, take))
            left -= take
    return out, left


def days_overdue(due_date: dt.date, as_of: dt.date) -> int:
    """Days past the due date on `as_of` (0 when not yet due; due today is not overdue)."""
    return max((as_of - due_date).days, 0)


def aging_bucket(days: int) -> str:
    """The aging bucket of an amount `days` past due: current (0), days_1_30, days_31_60, days_61_90, over_90."""
    if days <= 0:
        return "current"
    if days <= 30:
        return "days_1_30"
    if days <= 60:
        return "days_31_60"
    if days <= 90:
        return "days_61_90"
    return "over_90"
