"""STP Phase 2 rules (domain/payroll/stp.py), pure: disaggregating a payee's year to date by line category, OTE,
leave paid by type, TFN masking, financial years and the CSV rows. Figures by hand from the ATO's "Single Touch
Payroll Phase 2 employer reporting guidelines" and SGR 2009/2 (OTE)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from domain.kernel.errors import InvalidInput
from domain.payroll.stp import (
    CSV_HEADER,
    csv_rows,
    disaggregate,
    line_category,
    mask_tfn,
    parse_financial_year,
    render,
)

LINES = [
    ("earning", "gross", "BASE", 500_000, 0),
    ("arrears", "gross", "ARREARS", 20_000, 0),
    ("leave", "paid_leave:O", "LEAVE_ANNUAL", 60_000, 3800),
    ("leave", "paid_leave:O", "LOADING_ANNUAL", 10_500, 0),
    ("earning", "overtime", "OT", 15_000, 0),
    ("earning", "bonus", "BONUS", 30_000, 0),
    ("earning", "allowance:CD", "CAR", 5_000, 0),
    ("earning", "allowance:KN", "TASK", 4_000, 0),
    ("deduction", "salary_sacrifice:S", "SS", 25_000, 0),
    ("deduction", "deduction:F", "UNION", 3_000, 0),
    ("deduction", "deduction", "PARKING", 1_000, 0),
    ("tax", "payg", "PAYG", 120_000, 0),
    ("employer_contribution", "super:L", "SUPER", 60_000, 0),
    ("employer_contribution", "super:RESC", "RESC", 25_000, 0),
    ("employer_contribution", "employer", "WORKCOMP", 2_000, 0),
    ("termination", "lump_sum:A", "UNUSED_ANNUAL", 40_000, 7600),
    ("earning", None, "OLD", 1_000, 0),
]


def test_a_year_to_date_is_disaggregated_by_stp_field():
    ytd = disaggregate(LINES)
    # Gross: 5,000 + 200 arrears + 10 (a line stored without a category, an earning) less 250 sacrificed = 4,960.
    assert ytd["gross_minor"] == 500_000 + 20_000 + 1_000 - 25_000
    assert ytd["income_type"] == "SAW"
    assert ytd["paid_leave_minor"] == {"O": 70_500}  # leave taken and its loading
    assert ytd["allowances_minor"] == {"CD": 5_000, "KN": 4_000}
    assert ytd["lump_sums_minor"] == {"A": 40_000}
    assert ytd["salary_sacrifice_minor"] == {"S": 25_000}
    assert ytd["deductions_minor"] == {"F": 3_000}  # a plain deduction (parking) is not reported
    assert (ytd["overtime_minor"], ytd["bonuses_minor"], ytd["directors_fees_minor"]) == (15_000, 30_000, 0)
    assert (ytd["payg_withheld_minor"], ytd["super_liability_minor"], ytd["resc_minor"]) == (120_000, 60_000, 25_000)
    # OTE (SGR 2009/2): gross before sacrifice 5,210 + bonus 300 + paid leave 705 + task allowance 40 = 6,255;
    # not overtime, the car allowance or the lump sum on termination.
    assert ytd["ote_minor"] == 521_000 + 30_000 + 70_500 + 4_000
    # Leave paid by type: the leave line's hours, the loading's amount; the payout on termination is a lump sum.
    assert ytd["leave_paid"] == {"ANNUAL": {"hours": "38", "amount_minor": 70_500}}


def test_a_reversal_nets_out_and_an_empty_year_is_all_zero():
    reversed_lines = [(k, c, code, -a, -h) for k, c, code, a, h in LINES]
    ytd = disaggregate(LINES + reversed_lines)
    assert ytd["gross_minor"] == 0 and ytd["ote_minor"] == 0 and ytd["payg_withheld_minor"] == 0
    assert ytd["paid_leave_minor"] == {} and ytd["allowances_minor"] == {} and ytd["leave_paid"] == {}
    assert disaggregate([]) == {"income_type": "SAW", "gross_minor": 0, "overtime_minor": 0, "bonuses_minor": 0,
                                "directors_fees_minor": 0, "payg_withheld_minor": 0, "super_liability_minor": 0,
                                "resc_minor": 0, "paid_leave_minor": {}, "allowances_minor": {},
                                "lump_sums_minor": {}, "salary_sacrifice_minor": {}, "deductions_minor": {},
                                "ote_minor": 0, "leave_paid": {}}


@pytest.mark.parametrize(("kind", "expected"), [("earning", "gross"), ("arrears", "gross"), ("leave", "gross"),
                                                ("termination", "gross"), ("tax", "payg"),
                                                ("deduction", "deduction"), ("employer_contribution", "employer")])
def test_a_line_without_a_category_takes_its_kinds(kind, expected):
    assert line_category(kind, None) == expected
    assert line_category(kind, "bonus") == "bonus"


def test_tfns_are_masked_to_their_last_three_digits():
    assert mask_tfn("123 456 782") == "*** *** 782"
    assert mask_tfn("123456782") == "*** *** 782"
    assert mask_tfn(None) is None and mask_tfn("") is None


def test_financial_years_are_written_like_2026_27():
    assert parse_financial_year("2026-27") == (date(2026, 7, 1), date(2027, 6, 30))
    assert parse_financial_year(" 1999-00 ") == (date(1999, 7, 1), date(2000, 6, 30))
    for bad in ("2026-28", "2026", "2026/27", "26-27", "2026-2027", ""):
        with pytest.raises(InvalidInput, match="write it like 2026-27") as info:
            parse_financial_year(bad)
        assert info.value.field == "financial_year"


def test_the_csv_has_one_row_per_payee_per_field_group_and_json_round_trips():
    payee = {"payee": {"payroll_id": "E0001", "tfn": "123456782", "family_name": "Ng"}, "ytd": disaggregate(LINES)}
    rows = csv_rows(payee)
    assert rows[:3] == [["E0001", "payee", "payroll_id", "", "", "", "E0001"],
                        ["E0001", "payee", "tfn", "", "", "", "123456782"],
                        ["E0001", "payee", "family_name", "", "", "", "Ng"]]
    by_group = {(r[1], r[2]): r for r in rows[3:]}
    assert by_group[("gross", "")][3:6] == ["496000", "4960.00", ""]
    assert by_group[("allowances", "CD")][3:5] == ["5000", "50.00"]
    assert by_group[("leave_paid", "ANNUAL")][3:6] == ["70500", "705.00", "38"]
    assert by_group[("income_type", "")][6] == "SAW"
    report = {"payees": [payee]}
    data, content_type = render(report, "csv")
    parsed = list(csv.reader(io.StringIO(data.decode())))
    assert content_type == "text/csv" and parsed[0] == list(CSV_HEADER) and parsed[1:] == rows
    data, content_type = render(report, "json")
    assert content_type == "application/json" and json.loads(data) == report
    with pytest.raises(InvalidInput, match="use json or csv") as info:
        render(report, "xml")
    assert info.value.field == "format"
