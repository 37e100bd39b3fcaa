"""Australian bank accounts as people write them and bank files carry them: BSBs, account numbers and the BECS
character set. One set of rules for HR's payment details and payroll's ABA files (domain/payroll/aba.py).

- A BSB (bank-state-branch) is 6 digits, written 'xxx-xxx'; 'xxxxxx' is accepted.
- An account number is 5 to 9 digits (the ABA detail record's field is 9 wide), not all zeros; spaces and hyphens
  people type are dropped.
- Text in a bank file uses the BECS character set; accepted here is its common subset that every bank's "ABA file
  format" specification lists as valid: letters A-Z and a-z, digits, space and & ' ( ) * + , - . /.
Each check raises InvalidInput naming the field and what is allowed, and never echoes an account number.
"""

from __future__ import annotations

import re

from domain.kernel.errors import InvalidInput

BECS_TEXT = re.compile(r"[A-Za-z0-9 &'()*+,\-./]*")
BECS_ALLOWED = "letters A-Z, digits, space and & ' ( ) * + , - . /"
_BSB = re.compile(r"(\d{3})-?(\d{3})")
_ACCOUNT = re.compile(r"\d{5,9}")


def check_bsb(value: str, *, field: str = "bsb") -> str:
    """A BSB as 'xxx-xxx' (6 digits, with or without the hyphen); raises InvalidInput (field)."""
    match = _BSB.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput(f"{field} must be a BSB of 6 digits, like 062-000 or 062000", field=field)
    return f"{match.group(1)}-{match.group(2)}"


def check_account_number(value: str, *, field: str = "account_number") -> str:
    """An account number of 5 to 9 digits, not all zeros (spaces and hyphens dropped); raises InvalidInput."""
    digits = re.sub(r"[\s-]", "", value) if isinstance(value, str) else ""
    if not _ACCOUNT.fullmatch(digits) or set(digits) == {"0"}:
        raise InvalidInput(f"{field} must be an account number of 5 to 9 digits, not all zeros", field=field)
    return digits


def check_becs_text(value: str, *, width: int, field: str, required: bool = True) -> str:
    """`value` as bank file text at most `width` characters of the BECS set (blank only when not `required`);
    raises InvalidInput (field) naming the characters refused."""
    if not isinstance(value, str) or not BECS_TEXT.fullmatch(value):
        bad = sorted({c for c in str(value) if not BECS_TEXT.fullmatch(c)})
        raise InvalidInput(f"{field} holds characters a bank file cannot carry ({''.join(bad)!r}); allowed: "
                           f"{BECS_ALLOWED}", field=field)
    if len(value) > width:
        raise InvalidInput(f"{field} is {len(value)} characters; a bank file holds at most {width}", field=field)
    if required and not value.strip():
        raise InvalidInput(f"{field} must not be blank", field=field)
    return value
