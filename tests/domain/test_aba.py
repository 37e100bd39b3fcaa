"""domain.payroll.aba: the ABA (Cemtext) file, read back field by field against the published layout (positions
are 1-based as the CBA / Westpac / ANZ "ABA file format" specifications print them: `at(record, 2, 8)` is
characters 2 to 8)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from domain.kernel.errors import InvalidInput
from domain.payroll import aba

HEADER = aba.Descriptive(bank="CBA", user_name="MCS GRAMMAR SCHOOL", user_id="301500", description="PAYROLL",
                         processing_date=date(2026, 7, 1))
PAYER = aba.Payer(bsb="062000", account_number="12345678", account_title="MCS GRAMMAR OPERATING",
                  remitter="MCS GRAMMAR")
PAYMENTS = [aba.Payment(bsb="062-111", account_number="987654321", account_title="JANE CITIZEN",
                        amount_cents=412_345, lodgement_reference="PAY 2026-06"),
            aba.Payment(bsb="732-001", account_number="00123", account_title="O'BRIEN & SONS (TRUST)",
                        amount_cents=99, lodgement_reference="PAY 2026-06")]


def at(record: str, start: int, end: int) -> str:
    """Characters start..end (1-based, inclusive) of a record."""
    return record[start - 1:end]


def records(text: str) -> list[str]:
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text[:-2].split("\r\n")
    assert all(len(line) == 120 for line in lines)
    return lines


def test_the_file_reads_back_field_by_field_against_the_layout():
    text = aba.render(aba.compose(HEADER, PAYER, PAYMENTS, balancing=True))
    head, first, second, balance, total = records(text)
    # Type 0, descriptive record.
    assert at(head, 1, 1) == "0" and at(head, 2, 18) == " " * 17 and at(head, 19, 20) == "01"
    assert at(head, 21, 23) == "CBA" and at(head, 24, 30) == " " * 7
    assert at(head, 31, 56) == "MCS GRAMMAR SCHOOL".ljust(26) and at(head, 57, 62) == "301500"
    assert at(head, 63, 74) == "PAYROLL".ljust(12) and at(head, 75, 80) == "010726" and at(head, 81, 120) == " " * 40
    # Type 1, detail records: 53 (pay), the amount in cents, traced to the school's account.
    assert at(first, 1, 1) == "1" and at(first, 2, 8) == "062-111" and at(first, 9, 17) == "987654321"
    assert at(first, 18, 18) == " " and at(first, 19, 20) == "53" and at(first, 21, 30) == "0000412345"
    assert at(first, 31, 62) == "JANE CITIZEN".ljust(32) and at(first, 63, 80) == "PAY 2026-06".ljust(18)
    assert at(first, 81, 87) == "062-000" and at(first, 88, 96) == " 12345678"
    assert at(first, 97, 112) == "MCS GRAMMAR".ljust(16) and at(first, 113, 120) == "00000000"
    assert at(second, 9, 17) == "    00123" and at(second, 21, 30) == "0000000099"  # right justified, blank filled
    assert at(second, 31, 62) == "O'BRIEN & SONS (TRUST)".ljust(32)
    # The balancing record: a debit (13) of the school's own account for the credits' total.
    assert at(balance, 2, 8) == "062-000" and at(balance, 9, 17) == " 12345678" and at(balance, 19, 20) == "13"
    assert at(balance, 21, 30) == f"{412_345 + 99:010d}" and at(balance, 31, 62) == "MCS GRAMMAR OPERATING".ljust(32)
    # Type 7, file total: net = |credits - debits| = 0, credits 412,444, debits 412,444, 3 type 1 records.
    assert at(total, 1, 8) == "7999-999" and at(total, 9, 20) == " " * 12
    assert at(total, 21, 30) == "0000000000" and at(total, 31, 40) == "0000412444"
    assert at(total, 41, 50) == "0000412444" and at(total, 51, 74) == " " * 24
    assert at(total, 75, 80) == "000003" and at(total, 81, 120) == " " * 40


def test_without_a_balancing_record_the_net_is_the_credits():
    text = aba.render(aba.compose(HEADER, PAYER, PAYMENTS, balancing=False))
    *_, total = records(text)
    assert len(records(text)) == 4
    assert at(total, 21, 30) == at(total, 31, 40) == "0000412444" and at(total, 41, 50) == "0000000000"
    assert at(total, 75, 80) == "000002"


def test_a_file_parses_back_to_what_was_composed():
    file = aba.compose(HEADER, PAYER, PAYMENTS, balancing=True)
    parsed = aba.parse(aba.render(file))
    assert parsed == file
    assert parsed.total == aba.Total(net_cents=0, credit_cents=412_444, debit_cents=412_444, count=3)


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"bsb": "06-2111"}, "payments[0].bsb", "6 digits"),
    ({"bsb": "062-11a"}, "payments[0].bsb", "6 digits"),
    ({"account_number": "1234"}, "payments[0].account_number", "5 to 9 digits"),
    ({"account_number": "1234567890"}, "payments[0].account_number", "5 to 9 digits"),
    ({"account_number": "00000"}, "payments[0].account_number", "not all zeros"),
    ({"account_title": "X" * 33}, "payments[0].account_title", "at most 32"),
    ({"account_title": "JOSÉ NUÑEZ"}, "payments[0].account_title", "cannot carry"),
    ({"account_title": "A;B"}, "payments[0].account_title", "cannot carry"),
    ({"account_title": "   "}, "payments[0].account_title", "must not be blank"),
    ({"lodgement_reference": "R" * 19}, "payments[0].lodgement_reference", "at most 18"),
    ({"amount_cents": 0}, "payments[0].amount_cents", "from 1 to 9999999999"),
    ({"amount_cents": 10_000_000_000}, "payments[0].amount_cents", "10 digits"),
])
def test_a_field_a_bank_file_cannot_carry_is_refused_naming_it(change, field, rule):
    bad = [replace(PAYMENTS[0], **change), PAYMENTS[1]]
    with pytest.raises(InvalidInput) as info:
        aba.compose(HEADER, PAYER, bad, balancing=True)
    assert info.value.field == field and rule in info.value.message


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"bank": "CB"}, "bank", "3-letter"), ({"bank": "cba"}, "bank", "3-letter"),
    ({"user_id": "1234567"}, "user_id", "6 digits"), ({"user_id": "12a"}, "user_id", "6 digits"),
    ({"user_name": "N" * 27}, "user_name", "at most 26"), ({"description": "D" * 13}, "description", "at most 12"),
    ({"description": " "}, "description", "must not be blank"),
    ({"processing_date": date(2069, 1, 1)}, "processing_date", "DDMMYY"),
    ({"processing_date": date(1999, 12, 31)}, "processing_date", "2000-2068"),
])
def test_a_bad_descriptive_record_is_refused_naming_the_field(change, field, rule):
    with pytest.raises(InvalidInput) as info:
        aba.compose(replace(HEADER, **change), PAYER, PAYMENTS, balancing=False)
    assert info.value.field == field and rule in info.value.message


def test_no_payment_a_debit_code_and_a_bad_payer_are_refused():
    with pytest.raises(InvalidInput, match="at least one payment"):
        aba.compose(HEADER, PAYER, [], balancing=True)
    with pytest.raises(InvalidInput, match="not a credit"):
        aba.compose(HEADER, PAYER, PAYMENTS, balancing=True, transaction_code="13")
    with pytest.raises(InvalidInput) as info:
        aba.compose(HEADER, replace(PAYER, bsb="12-345"), PAYMENTS, balancing=True)
    assert info.value.field == "payments[0].trace_bsb"
    with pytest.raises(InvalidInput) as info:
        aba.compose(HEADER, replace(PAYER, remitter="R" * 17), PAYMENTS, balancing=False)
    assert info.value.field == "payments[0].remitter"


def test_parsing_refuses_a_file_that_breaks_the_layout():
    text = aba.render(aba.compose(HEADER, PAYER, PAYMENTS, balancing=True))
    lines = text[:-2].split("\r\n")

    def joined(rows: list[str]) -> str:
        return "".join(row + "\r\n" for row in rows)

    cases = {
        text.replace("\r\n", "\n"): "ends CRLF",
        joined([lines[0][:-1]] + lines[1:]): "line 1 is 119 characters",
        joined(lines[1:]): "one type 0 record",
        joined(lines[:1] + lines[2:] ): "does not match the detail records",  # a record gone, totals kept
        joined([lines[0][:74] + "320726" + lines[0][80:]] + lines[1:]): "not DDMMYY",
        joined([lines[0]] + [lines[1][:20] + "00004123X5" + lines[1][30:]] + lines[2:]): "the amount",
        joined(lines[:-1] + [lines[-1][:7] + "8" + lines[-1][8:]]): "999-999",
        joined([lines[0][:100] + "X" + lines[0][101:]] + lines[1:]): "positions 81-120 must be blank",
    }
    for bad, message in cases.items():
        with pytest.raises(InvalidInput) as info:
            aba.parse(bad)
        assert message in info.value.message, (message, info.value.message)
