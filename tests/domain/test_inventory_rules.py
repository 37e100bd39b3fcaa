"""Pure inventory rules: weighted average cost with its rounding kept in the pool, reorder quantities, GST, codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.inventory import rules
from domain.inventory.rules import Pool
from domain.kernel.errors import InvalidInput


def test_a_receipt_re_averages_and_units_leave_at_the_average():
    pool, added = rules.receive(Pool(0, 0, 0), 3, 1000)
    assert (pool, added) == (Pool(3, 3000, 1000), 3000)
    pool, added = rules.receive(pool, 1, 1400)  # (3000 + 1400) / 4 = 1100
    assert pool.average == 1100 and added == 1400
    pool, taken = rules.issue(pool, 1)
    assert taken == 1100 and pool == Pool(3, 3300, 1400)


def test_the_rounding_remainder_stays_in_the_pool_and_leaves_with_the_last_unit():
    pool = Pool(3, 1000, 333)  # 333.33... a unit
    pool, first = rules.issue(pool, 1)
    pool, second = rules.issue(pool, 1)
    pool, last = rules.issue(pool, 1)
    assert (first, second, last) == (333, 334, 333)  # 1000*1/3 -> 333; 667*1/2 = 333.5 -> 334; the rest
    assert first + second + last == 1000 and pool == Pool(0, 0, 333)


def test_without_units_held_they_leave_and_come_back_at_the_last_cost():
    pool, taken = rules.issue(Pool(0, 0, 250), 2)
    assert taken == 500 and pool == Pool(-2, -500, 250)
    pool, added = rules.restore(pool, 2)
    assert added == 500 and pool == Pool(0, 0, 250)
    assert rules.value_at_average(Pool(2, 300, 120), 5) == 300 + 3 * 120


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 50), st.integers(0, 10_000)), max_size=40))
def test_the_pool_value_is_always_the_sum_of_what_moved(steps):
    pool, ledger = Pool(0, 0, 0), 0
    for receipt, quantity, cost in steps:
        if receipt:
            pool, added = rules.receive(pool, quantity, cost)
            ledger += added
        else:
            pool, taken = rules.issue(pool, quantity)
            ledger -= taken
        assert pool.value == ledger
        if pool.quantity == 0 and pool.value != 0:  # only after units left with none held (backorders)
            assert any(not r for r, _, _ in steps)


def test_div_half_up_rounds_halves_away_from_zero():
    assert [rules.div_half_up(n, 2) for n in (1, 3, -1, -3, 4)] == [1, 2, -1, -2, 2]
    assert rules.div_half_up(10, 3) == 3 and rules.div_half_up(-10, 3) == -3
    with pytest.raises(ValueError):
        rules.div_half_up(1, 0)


def test_reorder_quantity_and_gst():
    assert rules.reorder_quantity(3, 5, 20) == 17
    assert rules.reorder_quantity(5, 5, 20) == 0
    assert rules.gst_included(11000, "GST") == 1000 and rules.gst_included(11000, "GST_FREE") == 0


@pytest.mark.parametrize("value", ["", "-A", "a b", "X" * 33, "BLZ/10"])
def test_bad_skus_are_refused_naming_the_field(value):
    with pytest.raises(InvalidInput) as caught:
        rules.check_sku(value)
    assert caught.value.field == "sku" and "1 to 32" in str(caught.value)


@pytest.mark.parametrize("value", [0, -1, rules.MAX_QUANTITY + 1, True, 1.5])
def test_bad_quantities_are_refused(value):
    with pytest.raises(InvalidInput, match="whole number of units"):
        rules.check_quantity(value)
