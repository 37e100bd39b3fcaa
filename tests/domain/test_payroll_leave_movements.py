"""The leave movements of posting payslips, read from their leave records (domain.payroll.service.leave_movements):
payslips whose records are the same text (most of a run's) each get their own movements, with their own employee
and source, as payslips with records of their own do."""

from __future__ import annotations

import json
from datetime import date
from fractions import Fraction

from domain.payroll.service import leave_movements

PAY_DATE = date(2026, 6, 26)
PLAIN = json.dumps({"accrued": {"ANNUAL": "5.85", "PERSONAL": "2.92"}, "taken": {}, "paid_out": {}, "requests": []})
TAKEN = json.dumps({"accrued": {"ANNUAL": "5.85"}, "taken": {"ANNUAL": "15.2"}, "paid_out": {},
                    "requests": [{"request_id": 7, "type": "ANNUAL", "hours": "15.2"}]})


def shape(movements):
    return [(m.employee_id, m.source, m.type_code, m.kind, m.hours, m.request_id, m.on) for m in movements]


def test_payslips_sharing_a_record_text_each_get_their_own_movements():
    movements = leave_movements([(1, 10, PLAIN), (2, 11, TAKEN), (3, 12, PLAIN)], PAY_DATE)
    assert shape(movements) == [
        (10, "payslip:1", "ANNUAL", "accrual", Fraction(585, 100), None, PAY_DATE),
        (10, "payslip:1", "PERSONAL", "accrual", Fraction(292, 100), None, PAY_DATE),
        (11, "payslip:2", "ANNUAL", "accrual", Fraction(585, 100), None, PAY_DATE),
        (11, "payslip:2", "ANNUAL", "taken", Fraction(-152, 10), 7, PAY_DATE),
        (12, "payslip:3", "ANNUAL", "accrual", Fraction(585, 100), None, PAY_DATE),
        (12, "payslip:3", "PERSONAL", "accrual", Fraction(292, 100), None, PAY_DATE),
    ]
    # The same as each record read on its own.
    one_by_one = [m for record in [(1, 10, PLAIN), (2, 11, TAKEN), (3, 12, PLAIN)]
                  for m in leave_movements([record], PAY_DATE)]
    assert shape(movements) == shape(one_by_one)


def test_a_payslip_without_a_leave_record_moves_nothing():
    assert leave_movements([(4, 13, None), (5, 14, "{}")], PAY_DATE) == []
