"""Pure inventory rules: codes and bounds, GST codes, weighted average cost and its rounding, reorder needs.

Valuation (AASB 102 Inventories, paragraphs 25 and 27; IAS 2 is the same text): the cost of interchangeable items
is assigned by the weighted average cost formula, the average "calculated on a periodic basis, or as each
additional shipment is received": here as each receipt is received (a perpetual moving average, Odoo's AVCO).
A product's valuation is kept as (units held, their total value in minor units), never as a rounded unit cost:

- a receipt adds `quantity x unit cost` to the value (exact; the average is re-formed by the division below);
- units leaving (a sale, a negative adjustment) take `value x quantity / units held`, rounded half up to the
  minor unit (`div_half_up`), and units coming back (a return, a positive adjustment) are valued the same way;
- so the rounding remainder stays in the pool and leaves with the last unit: taking every unit held takes
  exactly the whole value, and the value of the inventory is always the sum of what was posted to the ledger,
  never a rounded average x units (which would drift from the ledger by up to half a minor unit a unit).
- When no unit is held (a location allowing backorders sold ahead of a receipt), units leave or come back at
  the last unit cost received (`last_unit_cost`), and the value may be negative until the next receipt.

Errors: InvalidInput naming the field (sku, quantity, unit_cost_minor, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.kernel.errors import InvalidInput
from domain.kernel.money import MAX_AMOUNT

MAX_QUANTITY = 1_000_000
"""The most units one move, count or reorder point takes."""
MAX_UNIT_COST = 100_000_000
"""The largest unit cost in minor units (1,000,000.00 in a currency with 2 decimals)."""
MAX_VARIANTS = 50
MAX_COUNTS = 500

GST_RATE_PERCENT = 10
GST_SOURCES = {
    "GST": "A New Tax System (Goods and Services Tax) Act 1999 (Cth) s 9-70: the GST on a taxable supply is 10% of "
           "its value; s 9-75(1): the value is 10/11 of the price, so the GST is 1/11 of a GST-inclusive price. A "
           "sale by a registered school is a taxable supply (s 9-5) unless Division 38 makes it GST-free; uniforms, "
           "textbooks and stationery a student keeps are not course materials (below), so the shop's sales of them "
           "are taxable.",
    "GST_FREE": "A New Tax System (Goods and Services Tax) Act 1999 (Cth) s 38-85: an education course (a primary or "
                "secondary course among them) is GST-free; s 38-95: so are course materials the course's supplier "
                "supplies for it, which ATO ruling GSTR 2000/30 (supplies that are GST-free for pre-school, primary "
                "and secondary education courses) reads as materials consumed or transformed in the course "
                "(workbooks, art supplies, cooking ingredients).",
}

_SKU = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}")
_LOCATION = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,19}")


def check_sku(value: str, *, field: str = "sku") -> str:
    """Return the SKU upper case; raises InvalidInput unless it is 1..32 letters, digits, '.', '_' or '-',
    starting with a letter or digit."""
    code = value.strip().upper()
    if not _SKU.fullmatch(code):
        raise InvalidInput(f"{field} {value!r} is not a SKU: 1 to 32 letters, digits, '.', '_' or '-', starting "
                           "with a letter or digit (e.g. BLZ-10)", field=field)
    return code


def check_location_code(value: str, *, field: str = "code") -> str:
    """Return the location code upper case; raises InvalidInput unless 1..20 letters, digits, '.', '_', '-'."""
    code = value.strip().upper()
    if not _LOCATION.fullmatch(code):
        raise InvalidInput(f"{field} {value!r} is not a location code: 1 to 20 letters, digits, '.', '_' or '-' "
                           "(e.g. SHOP, STORE1)", field=field)
    return code


def check_quantity(value: int, *, field: str = "quantity", minimum: int = 1) -> int:
    """Return `value`; raises InvalidInput unless an integer from `minimum` to MAX_QUANTITY units."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_QUANTITY:
        raise InvalidInput(f"{field} must be a whole number of units from {minimum} to {MAX_QUANTITY}, "
                           f"not {value!r}", field=field)
    return value


def check_unit_cost(value: int, *, field: str = "unit_cost_minor") -> int:
    """Return `value`; raises InvalidInput unless integer minor units from 0 to MAX_UNIT_COST."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UNIT_COST:
        raise InvalidInput(f"{field} must be integer minor units from 0 to {MAX_UNIT_COST}, not {value!r}",
                           field=field)
    return value


def check_price(value: int, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
        raise InvalidInput(f"{field} must be integer minor units from 0 to {MAX_AMOUNT}, not {value!r}", field=field)
    return value


def div_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves away from zero (denominator > 0)."""
    if denominator <= 0:
        raise ValueError("the denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def gst_included(price_minor: int, tax_code: str) -> int:
    """The GST inside a GST-inclusive price: 1/11 of it for GST (s 9-70 and s 9-75: 10% of the value, which is the
    price less the GST), rounded half up to the minor unit; 0 for GST_FREE."""
    return div_half_up(price_minor, 11) if tax_code == "GST" else 0


@dataclass(frozen=True)
class Pool:
    """A product's valuation: units held over every location, their total value, the last unit cost received."""

    quantity: int
    value: int
    last_unit_cost: int

    @property
    def average(self) -> int | None:
        """The weighted average unit cost, rounded half up (None when no unit is held): for display only."""
        return div_half_up(self.value, self.quantity) if self.quantity > 0 else None


def value_at_average(pool: Pool, quantity: int) -> int:
    """The value of `quantity` units at the pool's weighted average: value x quantity / units held, rounded half
    up; all of the value when they are all the units held; beyond the units held (or none held), each further
    unit at the last unit cost."""
    if pool.quantity <= 0:
        return pool.last_unit_cost * quantity
    if quantity >= pool.quantity:
        return pool.value + pool.last_unit_cost * (quantity - pool.quantity)
    return div_half_up(pool.value * quantity, pool.quantity)


def receive(pool: Pool, quantity: int, unit_cost: int) -> tuple[Pool, int]:
    """The pool after receiving `quantity` units at `unit_cost`, and the value added (exact)."""
    added = quantity * unit_cost
    return Pool(pool.quantity + quantity, pool.value + added, unit_cost), added


def issue(pool: Pool, quantity: int) -> tuple[Pool, int]:
    """The pool after `quantity` units leave at the weighted average, and the value taken (value_at_average)."""
    taken = value_at_average(pool, quantity)
    return Pool(pool.quantity - quantity, pool.value - taken, pool.last_unit_cost), taken


def restore(pool: Pool, quantity: int) -> tuple[Pool, int]:
    """The pool after `quantity` units come back (a return, a count above the books) at the current average (the
    last unit cost when none is held), and the value added."""
    added = (div_half_up(pool.value * quantity, pool.quantity) if pool.quantity > 0
             else pool.last_unit_cost * quantity)
    return Pool(pool.quantity + quantity, pool.value + added, pool.last_unit_cost), added


def reorder_quantity(on_hand: int, minimum: int, reorder_to: int) -> int:
    """Units to order for a location below its reorder point: up to `reorder_to`; 0 at or above `minimum`."""
    return max(reorder_to - on_hand, 0) if on_hand < minimum else 0
