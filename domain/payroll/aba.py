"""ABA (Cemtext) bank files: the BECS Direct Entry format Australian banks take for batch payments. Pure: no I/O.

Layout. APCA does not publish the file format itself; every bank publishes the same layout, derived from APCA's
BECS Procedures (Part 2 and Appendix C, "the Cemtext file"): Commonwealth Bank "CommBiz Direct Entry (ABA) file
format", Westpac "Deskbank: Direct Entry file format (ABA)", ANZ "Transactive: Direct Entry (ABA) file format".
A file is records of exactly 120 characters, each ending CRLF:

Type 0, descriptive record (one, first)      Type 1, detail record (one per payment)
  1      '0'                                     1       '1'
  2-18   blank                                   2-8     BSB 'xxx-xxx'
  19-20  reel sequence number '01'               9-17    account number, right justified, blank filled
  21-23  user's financial institution (CBA)      18      indicator: blank, N, W, X or Y
  24-30  blank                                   19-20   transaction code (53 pay; 13 a debit)
  31-56  user name (APCA), left justified        21-30   amount in cents, right justified, zero filled
  57-62  APCA user id, 6 digits                  31-62   account title, left justified
  63-74  description of entries ("PAYROLL")      63-80   lodgement reference (shown on the statement)
  75-80  processing date DDMMYY                  81-87   trace BSB 'xxx-xxx' (the remitter's account)
  81-120 blank                                   88-96   trace account number, right justified
                                                 97-112  remitter name
Type 7, file total record (one, last)            113-120 withholding tax in cents, zero filled
  1      '7'
  2-8    '999-999'
  9-20   blank
  21-30  file net total: |credits - debits| in cents
  31-40  file credit total          41-50 file debit total
  51-74  blank                      75-80 count of type 1 records, zero filled
  81-120 blank

Rules enforced on every field, with an InvalidInput naming the field and what is allowed:
- text fields use the BECS character set; accepted is its common subset (A-Z, a-z, 0-9, space and
  & ' ( ) * + , - . /) that every bank's specification lists as valid (domain.kernel.bank_accounts);
- a text field longer than its width is refused, never cut (a cut name pays the wrong account title);
- numeric fields are digits only; an amount is 1 .. 9,999,999,999 cents (10 digits), a total the same width;
- BSBs are 6 digits ('xxx-xxx' or 'xxxxxx' accepted, written 'xxx-xxx'); account numbers 5-9 digits;
- credits use transaction codes 50-57 (53 is pay), a debit 13.
A balancing record (`compose(..., balancing=True)`): one last type 1 debit (code 13) of the paying account for the
credits' total, so the file nets to zero, which most banks require of a file sent from a business account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from domain.kernel.bank_accounts import check_account_number, check_bsb
from domain.kernel.bank_accounts import check_becs_text as check_text
from domain.kernel.errors import InvalidInput

RECORD_LENGTH = 120
EOL = "\r\n"
PAY = "53"
DEBIT = "13"
CREDIT_CODES = frozenset({"50", "51", "52", "53", "54", "55", "56", "57"})
DEBIT_CODES = frozenset({DEBIT})
INDICATORS = frozenset({" ", "N", "W", "X", "Y"})
MAX_AMOUNT = 9_999_999_999
MAX_RECORDS = 999_999
FIRST_YEAR, LAST_YEAR = 2000, 2068  # the years a two-digit YY reads back as (POSIX strptime %y: 00-68 -> 20xx)
_BSB = re.compile(r"(\d{3})-?(\d{3})")


def _written_bsb(value: str) -> str:
    """A valid BSB as the file writes it ('xxx-xxx'); an invalid one unchanged, for render to refuse by name."""
    match = _BSB.fullmatch(value.strip()) if isinstance(value, str) else None
    return f"{match.group(1)}-{match.group(2)}" if match else value


def _check_amount(value: int, *, field: str, allow_zero: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1) \
            or value > MAX_AMOUNT:
        low = 0 if allow_zero else 1
        raise InvalidInput(f"{field} must be a whole number of cents from {low} to {MAX_AMOUNT} (10 digits)",
                           field=field)
    return value


@dataclass(frozen=True)
class Descriptive:
    """The type 0 record: who sends the file (their bank's abbreviation, APCA user name and id), what it is and
    the day the banks process it."""

    bank: str
    user_name: str
    user_id: str
    description: str
    processing_date: date
    reel: int = 1


@dataclass(frozen=True)
class Detail:
    """A type 1 record: one payment to (a credit) or from (a debit) an account, in cents."""

    bsb: str
    account_number: str
    transaction_code: str
    amount_cents: int
    account_title: str
    lodgement_reference: str
    trace_bsb: str
    trace_account_number: str
    remitter: str
    indicator: str = " "
    withholding_cents: int = 0

    @property
    def is_debit(self) -> bool:
        return self.transaction_code in DEBIT_CODES


@dataclass(frozen=True)
class Total:
    """The type 7 record: net, credit and debit totals in cents, and the count of type 1 records."""

    net_cents: int
    credit_cents: int
    debit_cents: int
    count: int


@dataclass(frozen=True)
class AbaFile:
    """A whole file: its descriptive record, detail records in order, and total record."""

    descriptive: Descriptive
    details: tuple[Detail, ...]
    total: Total


@dataclass(frozen=True)
class Payer:
    """The account payments come from: its BSB, number and title, and the remitter name payees' statements show
    (up to 16 characters)."""

    bsb: str
    account_number: str
    account_title: str
    remitter: str


@dataclass(frozen=True)
class Payment:
    """One credit to a payee's account, in cents, with the reference their statement shows (up to 18)."""

    bsb: str
    account_number: str
    account_title: str
    amount_cents: int
    lodgement_reference: str


def totals(details: tuple[Detail, ...] | list[Detail]) -> Total:
    """The type 7 figures of these detail records."""
    credit = sum(d.amount_cents for d in details if not d.is_debit)
    debit = sum(d.amount_cents for d in details if d.is_debit)
    return Total(net_cents=abs(credit - debit), credit_cents=credit, debit_cents=debit, count=len(details))


def compose(descriptive: Descriptive, payer: Payer, payments: list[Payment], *, balancing: bool,
            transaction_code: str = PAY) -> AbaFile:
    """A file paying each of `payments` from `payer` (transaction code 53 pay by default), traced to the payer's
    account, with a last balancing debit of the payer's account for the credits' total when `balancing`.
    Raises InvalidInput for a field that breaks the rules (module docstring), naming it, e.g. payments[2].bsb."""
    if not payments:
        raise InvalidInput("a bank file needs at least one payment", field="payments")
    if transaction_code not in CREDIT_CODES:
        raise InvalidInput(f"transaction code {transaction_code} is not a credit (50-57)", field="transaction_code")
    payer_bsb = _written_bsb(payer.bsb)
    details = [Detail(bsb=_written_bsb(p.bsb), account_number=p.account_number, transaction_code=transaction_code,
                      amount_cents=p.amount_cents, account_title=p.account_title,
                      lodgement_reference=p.lodgement_reference, trace_bsb=payer_bsb,
                      trace_account_number=payer.account_number, remitter=payer.remitter) for p in payments]
    if balancing:
        credit = sum(p.amount_cents for p in payments)
        details.append(Detail(bsb=payer_bsb, account_number=payer.account_number, transaction_code=DEBIT,
                              amount_cents=credit, account_title=payer.account_title,
                              lodgement_reference=descriptive.description, trace_bsb=payer_bsb,
                              trace_account_number=payer.account_number, remitter=payer.remitter))
    file = AbaFile(descriptive=descriptive, details=tuple(details), total=totals(details))
    render(file)  # every field checked now, with the payment's position in the error
    return file


def descriptive_record(d: Descriptive) -> str:
    """The type 0 record's text; raises InvalidInput naming the field that breaks its rule."""
    if not 1 <= d.reel <= 99:
        raise InvalidInput("the reel sequence number must be 1 to 99", field="reel")
    if not FIRST_YEAR <= d.processing_date.year <= LAST_YEAR:
        raise InvalidInput(f"processing_date must be in {FIRST_YEAR}-{LAST_YEAR}: the file writes it DDMMYY, which "
                           "reads back as that century only", field="processing_date")
    bank = check_text(d.bank, width=3, field="bank")
    if not re.fullmatch(r"[A-Z]{3}", bank):
        raise InvalidInput("bank must be the 3-letter APCA abbreviation of the paying bank, e.g. CBA, WBC, ANZ, NAB",
                           field="bank")
    if not re.fullmatch(r"\d{1,6}", d.user_id or ""):
        raise InvalidInput("user_id must be the APCA user identification number, up to 6 digits", field="user_id")
    return ("0" + " " * 17 + f"{d.reel:02d}" + bank + " " * 7
            + check_text(d.user_name, width=26, field="user_name").ljust(26)
            + d.user_id.rjust(6, "0")
            + check_text(d.description, width=12, field="description").ljust(12)
            + d.processing_date.strftime("%d%m%y") + " " * 40)


def _detail_record(d: Detail, field: str) -> str:
    if d.transaction_code not in CREDIT_CODES | DEBIT_CODES:
        raise InvalidInput(f"{field}.transaction_code {d.transaction_code!r} is not one of 13 (debit) or 50-57 "
                           "(credits; 53 is pay)", field=f"{field}.transaction_code")
    if d.indicator not in INDICATORS:
        raise InvalidInput(f"{field}.indicator must be blank, N, W, X or Y", field=f"{field}.indicator")
    _check_amount(d.amount_cents, field=f"{field}.amount_cents")
    if not isinstance(d.withholding_cents, int) or not 0 <= d.withholding_cents <= 99_999_999:
        raise InvalidInput(f"{field}.withholding_cents must be 0 to 99999999 cents (8 digits)",
                           field=f"{field}.withholding_cents")
    return ("1" + check_bsb(d.bsb, field=f"{field}.bsb")
            + check_account_number(d.account_number, field=f"{field}.account_number").rjust(9)
            + d.indicator + d.transaction_code + f"{d.amount_cents:010d}"
            + check_text(d.account_title, width=32, field=f"{field}.account_title").ljust(32)
            + check_text(d.lodgement_reference, width=18, field=f"{field}.lodgement_reference").ljust(18)
            + check_bsb(d.trace_bsb, field=f"{field}.trace_bsb")
            + check_account_number(d.trace_account_number, field=f"{field}.trace_account_number").rjust(9)
            + check_text(d.remitter, width=16, field=f"{field}.remitter").ljust(16)
            + f"{d.withholding_cents:08d}")


def _total_record(t: Total) -> str:
    for name in ("net_cents", "credit_cents", "debit_cents"):
        _check_amount(getattr(t, name), field=f"total.{name}", allow_zero=True)
    if not 1 <= t.count <= MAX_RECORDS:
        raise InvalidInput(f"a bank file holds 1 to {MAX_RECORDS} detail records", field="payments")
    return ("7" + "999-999" + " " * 12 + f"{t.net_cents:010d}" + f"{t.credit_cents:010d}"
            + f"{t.debit_cents:010d}" + " " * 24 + f"{t.count:06d}" + " " * 40)


def render(file: AbaFile) -> str:
    """The file's text: 120-character records, each ending CRLF. Checks every field and that the total record
    matches the details (InvalidInput naming the field)."""
    if file.total != totals(file.details):
        raise InvalidInput("the total record does not match the detail records", field="total")
    records = [descriptive_record(file.descriptive)]
    records += [_detail_record(d, f"payments[{i}]") for i, d in enumerate(file.details)]
    records.append(_total_record(file.total))
    assert all(len(r) == RECORD_LENGTH for r in records)
    return "".join(r + EOL for r in records)


# ---------------------------------------------------------------- reading a file back


def _digits(record: str, start: int, end: int, *, what: str, line: int) -> int:
    """The number at 1-based positions start..end of `record`."""
    text = record[start - 1:end]
    if not text.isdigit():
        raise InvalidInput(f"line {line}: {what} (positions {start}-{end}) must be digits, found {text!r}",
                           field="file")
    return int(text)


def _blank(record: str, start: int, end: int, *, line: int) -> None:
    if record[start - 1:end].strip():
        raise InvalidInput(f"line {line}: positions {start}-{end} must be blank", field="file")


def parse(text: str) -> AbaFile:
    """Read an ABA file back into records, checking the layout (module docstring): record lengths and CRLF, the
    record order (one 0, type 1s, one 7), blanks, numeric fields, dates, and that the type 7 totals and count
    match the details. Raises InvalidInput naming the line and positions."""
    if not text.endswith(EOL):
        raise InvalidInput("a bank file's every record ends CRLF, the last one too", field="file")
    lines = text[:-len(EOL)].split(EOL)
    for number, record in enumerate(lines, start=1):
        if len(record) != RECORD_LENGTH or "\n" in record or "\r" in record:
            raise InvalidInput(f"line {number} is {len(record)} characters; every record is {RECORD_LENGTH}",
                               field="file")
    if len(lines) < 3 or lines[0][0] != "0" or lines[-1][0] != "7" or any(r[0] != "1" for r in lines[1:-1]):
        raise InvalidInput("a bank file is one type 0 record, type 1 records, then one type 7 record", field="file")
    head = lines[0]
    _blank(head, 2, 18, line=1)
    _blank(head, 24, 30, line=1)
    _blank(head, 81, 120, line=1)
    try:
        processing = datetime.strptime(head[74:80], "%d%m%y").date()
    except ValueError:
        raise InvalidInput(f"line 1: the processing date (positions 75-80) {head[74:80]!r} is not DDMMYY",
                           field="file") from None
    descriptive = Descriptive(bank=head[20:23], user_name=head[30:56].rstrip(), user_id=head[56:62],
                              description=head[62:74].rstrip(), processing_date=processing,
                              reel=_digits(head, 19, 20, what="the reel sequence number", line=1))
    details = []
    for number, record in enumerate(lines[1:-1], start=2):
        details.append(Detail(
            bsb=record[1:8], account_number=record[8:17].lstrip(), indicator=record[17],
            transaction_code=record[18:20], amount_cents=_digits(record, 21, 30, what="the amount", line=number),
            account_title=record[30:62].rstrip(), lodgement_reference=record[62:80].rstrip(),
            trace_bsb=record[80:87], trace_account_number=record[87:96].lstrip(), remitter=record[96:112].rstrip(),
            withholding_cents=_digits(record, 113, 120, what="the withholding tax", line=number)))
    tail = lines[-1]
    if tail[1:8] != "999-999":
        raise InvalidInput(f"line {len(lines)}: the total record's positions 2-8 must be 999-999", field="file")
    _blank(tail, 9, 20, line=len(lines))
    _blank(tail, 51, 74, line=len(lines))
    _blank(tail, 81, 120, line=len(lines))
    total = Total(net_cents=_digits(tail, 21, 30, what="the net total", line=len(lines)),
                  credit_cents=_digits(tail, 31, 40, what="the credit total", line=len(lines)),
                  debit_cents=_digits(tail, 41, 50, what="the debit total", line=len(lines)),
                  count=_digits(tail, 75, 80, what="the record count", line=len(lines)))
    file = AbaFile(descriptive=descriptive, details=tuple(details), total=total)
    if render(file) != text:  # every field valid, and written back exactly as read
        raise InvalidInput("the file does not read back as written: a field is not in its canonical form",
                           field="file")
    return file
