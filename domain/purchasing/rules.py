"""Pure purchasing rules: codes and bounds, a purchase order's status, GST on what is bought, the three-way match
of a supplier bill with its order and receipts, due dates and aging. No database; amounts are integer minor units,
unit costs before GST.

Three-way match (the purchase order, the goods received, the supplier's bill), line by line, as Odoo's and
ERPNext's purchase controls do it: a bill may charge for no more units than were received and not yet billed
(`billed + this bill <= received`), and at a unit cost within a tolerance of the order's
(`|billed cost - ordered cost| <= ordered cost x tolerance / 10,000`, the tolerance in basis points,
MCS_ERP_PURCHASE_PRICE_TOLERANCE_BP). A bill that fails either is refused with the line, the figures and what
is allowed (`match_problems`).

GST on an acquisition (A New Tax System (Goods and Services Tax) Act 1999 (Cth)): a taxable supply bears GST of
10% of its value (s 9-70); a registered school that acquires it for its enterprise makes a creditable acquisition
(s 11-5) and is entitled to an input tax credit equal to the GST payable on the supply (s 11-20, s 11-25), claimed
once it holds the supplier's tax invoice (s 29-10(3); ATO, GSTR 2013/1 Tax invoices). GST-free supplies (Division
38) bear none. The GST of a bill line is 10% of its amount before GST, rounded half up to the minor unit.

Errors: InvalidInput naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from domain.inventory.rules import MAX_QUANTITY, MAX_UNIT_COST, div_half_up
from domain.kernel.errors import InvalidInput

MAX_LINES = 100
"""The most lines one purchase order, receipt or bill takes."""
MAX_PAYMENT_TERMS_DAYS = 180
GST_RATE_PERCENT = 10
BASIS_POINTS = 10_000

_SUPPLIER = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,19}")
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./_#-]{0,39}")


def check_supplier_code(value: str, *, field: str = "code") -> str:
    """Return the supplier code upper case; raises InvalidInput unless 1..20 letters, digits, '.', '_', '-'."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if not _SUPPLIER.fullmatch(code):
        raise InvalidInput(f"{field} {value!r} is not a supplier code: 1 to 20 letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit (e.g. OFFICEWORKS)", field=field)
    return code


def check_supplier_reference(value: str, *, field: str = "supplier_reference") -> str:
    """Return the supplier's invoice number as printed: 1..40 letters, digits, space, '.', '/', '_', '#', '-'."""
    text = value.strip() if isinstance(value, str) else ""
    if not _REFERENCE.fullmatch(text):
        raise InvalidInput(f"{field} {value!r} is not an invoice number: 1 to 40 letters, digits, spaces, '.', "
                           "'/', '_', '#' or '-' (e.g. INV-20931)", field=field)
    return text


def check_payment_terms(value: int, *, field: str = "payment_terms_days") -> int:
    """Return `value`; raises InvalidInput unless whole days from 0 (due on the bill's date) to 180."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PAYMENT_TERMS_DAYS:
        raise InvalidInput(f"{field} must be whole days from 0 to {MAX_PAYMENT_TERMS_DAYS}, not {value!r}",
                           field=field)
    return value


def check_quantity(value: int, *, field: str) -> int:
    """Return `value`; raises InvalidInput unless whole units from 1 to MAX_QUANTITY."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise InvalidInput(f"{field} must be a whole number of units from 1 to {MAX_QUANTITY}, not {value!r}",
                           field=field)
    return value


def check_unit_cost(value: int, *, field: str) -> int:
    """Return `value`; raises InvalidInput unless integer minor units from 0 to MAX_UNIT_COST (before GST)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UNIT_COST:
        raise InvalidInput(f"{field} must be integer minor units from 0 to {MAX_UNIT_COST} (before GST), not "
                           f"{value!r}", field=field)
    return value


def check_line_count(count: int, *, field: str) -> None:
    """Raise InvalidInput unless 1..MAX_LINES lines."""
    if not 1 <= count <= MAX_LINES:
        raise InvalidInput(f"give 1 to {MAX_LINES} lines, not {count}", field=field)


def gst_on(amount_minor: int, tax_code: str) -> int:
    """The GST on an amount before GST: 10% rounded half up (GST Act s 9-70) for GST, 0 for GST_FREE."""
    return div_half_up(amount_minor * GST_RATE_PERCENT, 100) if tax_code == "GST" else 0


def due_date(bill_date: date, payment_terms_days: int) -> date:
    """The day a bill is due: its date plus the supplier's payment terms in days."""
    return bill_date + timedelta(days=payment_terms_days)


@dataclass(frozen=True)
class LineState:
    """An order line's units: ordered, received and billed so far."""

    ordered: int
    received: int
    billed: int


def order_status(lines: Sequence[LineState], *, sent: bool, cancelled: bool, closed: bool,
                 bills_paid: bool) -> str:
    """A purchase order's status: cancelled; draft until sent; closed when closed by hand, or when every unit
    ordered is billed and every bill paid; billed when every unit ordered is billed; received when every unit
    ordered is received; partly_received when some unit is; else sent."""
    if cancelled:
        return "cancelled"
    if not sent:
        return "draft"
    all_billed = all(line.billed == line.ordered for line in lines)
    if closed or (all_billed and bills_paid):
        return "closed"
    if all_billed:
        return "billed"
    if all(line.received == line.ordered for line in lines):
        return "received"
    if any(line.received for line in lines):
        return "partly_received"
    return "sent"


def within_tolerance(ordered_cost: int, billed_cost: int, tolerance_bp: int) -> bool:
    """Whether a billed unit cost is within `tolerance_bp` basis points of the ordered one (exact integers)."""
    return abs(billed_cost - ordered_cost) * BASIS_POINTS <= ordered_cost * tolerance_bp


@dataclass(frozen=True)
class MatchLine:
    """One bill line against its order line: the units and unit cost billed, and the line's state."""

    line_no: int
    sku: str
    state: LineState
    ordered_cost: int
    quantity: int
    unit_cost: int


def match_problems(lines: Sequence[MatchLine], tolerance_bp: int) -> list[str]:
    """Say why each line fails the three-way match (an empty list: it passes): more units than received and not
    yet billed, or a unit cost outside the tolerance."""
    problems = []
    for line in lines:
        open_units = line.state.received - line.state.billed
        if line.quantity > open_units:
            problems.append(f"line {line.line_no} ({line.sku}): {line.quantity} billed but {open_units} received "
                            f"and not yet billed ({line.state.received} received, {line.state.billed} billed, "
                            f"{line.state.ordered} ordered)")
        if not within_tolerance(line.ordered_cost, line.unit_cost, tolerance_bp):
            problems.append(f"line {line.line_no} ({line.sku}): unit cost {line.unit_cost} is outside "
                            f"{tolerance_bp / 100:g}% of the ordered {line.ordered_cost} (minor units, before GST)")
    return problems


def days_past_due(due: date, as_of: date) -> int:
    """Whole days from the due date to `as_of` (0 or less: not yet due)."""
    return (as_of - due).days
