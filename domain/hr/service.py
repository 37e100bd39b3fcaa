"""HR use cases: departments and employees. Services take the session and actor, never commit."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr import repository as repo
from domain.hr.models import (
    Department,
    Employee,
    EmployeePaymentDetails,
    EmployeeStatus,
    EmploymentBasis,
    EmploymentType,
)
from domain.kernel.actor import Actor
from domain.kernel.bank_accounts import check_account_number, check_becs_text, check_bsb
from domain.kernel.crypto import Keyring, keyring
from domain.kernel.errors import Conflict, InvalidInput
from domain.kernel.models import bump
from domain.kernel.references import Candidate, pick


async def get_department(session: AsyncSession, department_id: int) -> Department | None:
    """Return the live department with that id, or None (for other contexts, e.g. a ledger line's cost centre)."""
    return await repo.get_department(session, department_id)


async def get_employee(session: AsyncSession, employee_id: int, *, field: str = "employee_id") -> Employee:
    """Return the live employee with that id (payroll's contracts, a class's teacher); raises NotFound naming
    `field`."""
    return await repo.get_employee_or_raise(session, employee_id, field=field)


async def employees_by_id(session: AsyncSession, employee_ids: Iterable[int]) -> dict[int, Employee]:
    """Return the employees with these ids (deleted ones included: a payslip keeps naming who it paid), by id;
    one query, for other contexts that handle many at once (a payroll run)."""
    return await repo.employees_by_id(session, employee_ids)


@dataclass(frozen=True, slots=True)
class EmployeeFacts:
    """What a payroll run reads of an employee: id, code, names, hire and termination dates, deleted_at."""

    id: int
    code: str
    first_name: str
    last_name: str
    hire_date: date
    termination_date: date | None
    deleted_at: Any

    full_name = property(Employee.full_name.fget)  # type: ignore[attr-defined]


async def employee_facts(session: AsyncSession, employee_ids: Iterable[int]) -> dict[int, EmployeeFacts]:
    """Return EmployeeFacts of the employees with these ids (deleted ones included), by id; one query without an
    ORM object per row (a 10,000-employee payroll: 0.3 s less than loading Employee objects)."""
    return {row[0]: EmployeeFacts(*row) for row in await repo.employee_rows(session, employee_ids)}


async def department_codes(session: AsyncSession, department_ids: Iterable[int]) -> dict[int, str]:
    """Return {department id: department code} (deleted ones included), for outputs that show a department's id
    beside the code people use; one query."""
    return await repo.department_codes(session, department_ids)


async def list_departments(session: AsyncSession, *, after_id: int, limit: int) -> list[tuple[Department, int]]:
    """Return up to `limit + 1` live departments after `after_id` in id order, each with its number of live
    employees."""
    rows = await repo.list_departments(session, after_id=after_id, limit=limit)
    counts = await repo.count_employees_by_department(session)
    return [(row, counts.get(row.id or 0, 0)) for row in rows]


async def get_department_or_raise(session: AsyncSession, department_id: int) -> Department:
    """Return the live department; raises NotFound (department_id) naming list_departments."""
    return await repo.get_department_or_raise(session, department_id)


async def list_employees(session: AsyncSession, *, after_id: int, limit: int, department_id: int | None = None,
                         status: str | None = None, query: str | None = None) -> list[Employee]:
    """Return up to `limit + 1` live employees after `after_id` in id order, of one department or status
    (active, on_leave, terminated), or with `query` in the names, code, work email or position
    (case-insensitive)."""
    return await repo.list_employees(session, after_id=after_id, limit=limit, department_id=department_id,
                                     status=status, query=query)


async def department_names(session: AsyncSession) -> dict[int, str]:
    """Return every department's name by id (for documents that print them)."""
    return await repo.department_names(session)


async def create_department(session: AsyncSession, actor: Actor, *, code: str, name: str) -> Department:
    """Create a department; raises Conflict when the code is taken."""
    if await repo.get_department_by_code(session, code):
        raise Conflict(f"department code {code!r} is already used", field="code")
    dep = Department(code=code.upper(), name=name)
    session.add(dep)
    await session.flush()
    return dep


async def create_employee(session: AsyncSession, actor: Actor, *, first_name: str, last_name: str,
                          work_email: str, position: str, department_id: int, hire_date: date,
                          employment_type: EmploymentType, code: str | None = None) -> Employee:
    """Create an active employee with the next free code (E0001...) unless one is given.

    Raises NotFound for an unknown department, Conflict for a taken code or work email.
    """
    await repo.get_department_or_raise(session, department_id)
    if code is None:
        number = await repo.next_employee_number(session)
        code = f"E{number:04d}"
        while await repo.get_employee_by_code(session, code):
            number += 1
            code = f"E{number:04d}"
    elif await repo.get_employee_by_code(session, code):
        raise Conflict(f"employee code {code!r} is already used", field="code")
    if await repo.get_employee_by_email(session, work_email):
        raise Conflict(f"work email {work_email!r} already belongs to another employee", field="work_email")
    emp = Employee(code=code.upper(), first_name=first_name, last_name=last_name, work_email=work_email.lower(),
                   position=position, department_id=department_id, hire_date=hire_date,
                   employment_type=EmploymentType(employment_type).value, status=EmployeeStatus.ACTIVE.value)
    session.add(emp)
    await session.flush()
    return emp


async def update_employee(session: AsyncSession, actor: Actor, *, employee_id: int, changes: dict) -> Employee:
    """Apply `changes` (a subset of names, work_email, position, department_id, employment_type, status).

    Raises NotFound, Conflict (email taken) and InvalidInput (terminated employees or status 'terminated',
    which only terminate_employee sets).
    """
    emp = await repo.get_employee_or_raise(session, employee_id)
    if emp.status == EmployeeStatus.TERMINATED.value:
        raise InvalidInput(f"employee {emp.code} is terminated; their record can no longer be edited")
    if changes.get("status") == EmployeeStatus.TERMINATED.value:
        raise InvalidInput("status 'terminated' is set only by terminate_employee (it needs confirmation)",
                           field="status")
    if "department_id" in changes:
        await repo.get_department_or_raise(session, changes["department_id"])
    if "work_email" in changes:
        other = await repo.get_employee_by_email(session, changes["work_email"])
        if other and other.id != emp.id:
            raise Conflict(f"work email {changes['work_email']!r} already belongs to {other.code}",
                           field="work_email")
        changes["work_email"] = changes["work_email"].lower()
    for key, value in changes.items():
        setattr(emp, key, value.value if hasattr(value, "value") else value)
    bump(emp)
    session.add(emp)
    await session.flush()
    return emp


def check_termination(emp: Employee, termination_date: date) -> None:
    """Rule: an employee is terminated once, on or after their hire date."""
    if emp.status == EmployeeStatus.TERMINATED.value:
        raise Conflict(f"employee {emp.code} was already terminated on {emp.termination_date}")
    if termination_date < emp.hire_date:
        raise InvalidInput(f"termination date {termination_date} is before the hire date {emp.hire_date}",
                           field="termination_date")


REFERENCE_KINDS = {
    "employee": "an employee id or code like E0042 (or the full name)",
    "department": "a department id or code like MATH",
}
"""The records of hr a tool input may name by id or code, and what such a reference looks like."""


async def reference_candidates(session: AsyncSession, kind: str) -> list[Candidate]:
    """Return every live `kind` record (a REFERENCE_KINDS key) as a reference may name it: id, code, name
    and aliases (domain.kernel.references.Candidate)."""
    rows = await repo.reference_rows(session, kind)
    if kind == "employee":
        candidates = [Candidate(r[0], r[1], f"{r[2]} {r[3]}", aliases=(f"{r[3]} {r[2]}", f"{r[3]}, {r[2]}"))
                      for r in rows]
    else:
        candidates = [Candidate(r[0], r[1], r[2]) for r in rows]
    return candidates


async def resolve_reference(session: AsyncSession, kind: str, text: str, *, field: str,
                            names: bool = True) -> int:
    """Return the id of the live `kind` (a REFERENCE_KINDS key) that `text` names: a code ("E0042", any case),
    a name ("Pablo Hernández", accents and case ignored; "Hernández Pablo" too) or an id in digits. Raises
    NotFound with the closest matches, or InvalidInput when it names several (two people of one name).
    `names=False` lists them by code only (domain.kernel.references.pick)."""
    return pick(await reference_candidates(session, kind), text, field=field, kind=kind,
                expected=REFERENCE_KINDS[kind], names=names)


async def reference_codes(session: AsyncSession, kind: str, ids: Iterable[int]) -> dict[int, str]:
    """The code of each `kind` record (a REFERENCE_KINDS key) of `ids`, in one query: what an answer shows beside
    an id (tools.output_codes), and what a reference to it accepts."""
    return await repo.codes_of(session, kind, ids)


# ---------------------------------------------------------------- payment details (issue 18 item 6)
# Where an employee is paid, their tax file number, address and date of birth, super fund and STP codes. The BSB,
# account number and TFN are stored encrypted (domain.kernel.crypto, AES-256-GCM), each bound to its row and
# column by its purpose; everything here that returns them decrypted is for payroll's bank file and STP data only.

SECRET_COLUMNS: dict[str, str] = {"bank_bsb_enc": "bsb", "bank_account_number_enc": "account_number",
                                  "tfn_enc": "tfn"}
"""Each encrypted column of employee_payment_details and the plain field it holds."""

STATES = ("ACT", "NSW", "NT", "QLD", "SA", "TAS", "VIC", "WA")
TAX_TREATMENT_CATEGORIES = "RACSHWFNDV"
_TFN_WEIGHTS = {9: (1, 4, 3, 7, 5, 8, 6, 9, 10), 8: (10, 7, 8, 4, 6, 3, 5, 1)}
_ABN_WEIGHTS = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)


def payment_purpose(column: str, employee_id: int) -> str:
    """The purpose (AES-GCM associated data) binding an encrypted value to its row and column."""
    return f"employee_payment_details.{column}:{employee_id}"


def check_tfn(value: str, *, field: str = "tfn") -> str:
    """A tax file number: 8 or 9 digits (spaces ignored) passing the ATO check digit: the digits times the weights
    1,4,3,7,5,8,6,9,10 (9 digits) or 10,7,8,4,6,3,5,1 (8 digits) sum to a multiple of 11 (ATO, the TFN algorithm
    published to software developers; e.g. 123 456 782). Raises InvalidInput (field) without echoing the number."""
    digits = re.sub(r"[\s-]", "", value)
    weights = _TFN_WEIGHTS.get(len(digits))
    if not digits.isdigit() or weights is None:
        raise InvalidInput(f"{field} must be a tax file number of 8 or 9 digits", field=field)
    if sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11:
        raise InvalidInput(f"{field} is not a valid tax file number (its check digit is wrong)", field=field)
    return digits


def check_abn(value: str, *, field: str = "super_fund_abn") -> str:
    """An Australian Business Number: 11 digits (spaces ignored) passing the ABN check: subtract 1 from the first
    digit, weight the digits 10,1,3,5,7,9,11,13,15,17,19, and the sum is a multiple of 89 (ABR, "Format of the
    ABN"; e.g. 51 824 753 556). Raises InvalidInput (field)."""
    digits = re.sub(r"\s", "", value)
    if not re.fullmatch(r"\d{11}", digits):
        raise InvalidInput(f"{field} must be an ABN of 11 digits", field=field)
    numbers = [int(d) for d in digits]
    numbers[0] -= 1
    if sum(n * w for n, w in zip(numbers, _ABN_WEIGHTS, strict=True)) % 89:
        raise InvalidInput(f"{field} {digits} is not a valid ABN (its check digits are wrong)", field=field)
    return digits


def check_account_name(value: str, *, field: str = "account_name") -> str:
    """The account's name as the bank file's account title: 1 to 32 characters of the BECS character set
    (domain.kernel.bank_accounts). Raises InvalidInput (field)."""
    return check_becs_text(value.strip(), width=32, field=field)


def check_tax_treatment(value: str, *, field: str = "tax_treatment") -> str:
    """An STP Phase 2 tax treatment code: 6 capital letters, the first its category (R regular, A actors, C
    horticulture and shearing, S seniors and pensioners, H working holiday makers, W seasonal workers, F foreign
    residents, N no TFN, D ATO-defined, V voluntary agreements), e.g. RTXXXX (ATO, STP Phase 2 employer reporting
    guidelines, "Tax treatment codes"). Raises InvalidInput (field)."""
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{6}", code) or code[0] not in TAX_TREATMENT_CATEGORIES:
        raise InvalidInput(f"{field} must be a 6-letter STP tax treatment code starting with one of "
                           f"{', '.join(TAX_TREATMENT_CATEGORIES)}, e.g. RTXXXX", field=field)
    return code


def check_payment_details(values: dict[str, Any]) -> dict[str, Any]:
    """`values` checked and normalised (rules above; state one of STATES, postcode 4 digits, USI and member
    number up to 20 letters and digits, employment basis an EmploymentBasis code). Raises InvalidInput naming the
    first field that breaks its rule."""
    out = dict(values)
    out["bsb"] = check_bsb(values["bsb"])
    out["account_number"] = check_account_number(values["account_number"])
    out["account_name"] = check_account_name(values["account_name"])
    if values.get("tfn") is not None:
        out["tfn"] = check_tfn(values["tfn"])
    if values.get("super_fund_abn") is not None:
        out["super_fund_abn"] = check_abn(values["super_fund_abn"])
    if values.get("tax_treatment") is not None:
        out["tax_treatment"] = check_tax_treatment(values["tax_treatment"])
    if values.get("address_state") is not None:
        state = values["address_state"].strip().upper()
        if state not in STATES:
            raise InvalidInput(f"address_state must be one of {', '.join(STATES)}", field="address_state")
        out["address_state"] = state
    if values.get("address_postcode") is not None and not re.fullmatch(r"\d{4}", values["address_postcode"]):
        raise InvalidInput("address_postcode must be 4 digits", field="address_postcode")
    for name in ("super_fund_usi", "super_member_number"):
        if values.get(name) is not None and not re.fullmatch(r"[A-Za-z0-9]{1,20}", values[name].strip()):
            raise InvalidInput(f"{name} must be 1 to 20 letters and digits", field=name)
    if values.get("employment_basis") is not None:
        basis = values["employment_basis"]
        out["employment_basis"] = EmploymentBasis(basis).value if not isinstance(basis, EmploymentBasis) \
            else basis.value
    return out


def mask_account(account_number: str | None) -> str | None:
    """An account number as people may see it: its last 3 digits ('...789')."""
    return None if account_number is None else "..." + account_number[-3:]


def mask_bsb(bsb: str | None) -> str | None:
    """A BSB as people may see it: never its digits ('***-***')."""
    return None if bsb is None else "***-***"


def mask_tfn(tfn: str | None) -> str | None:
    """A TFN as people may see it: its last 3 digits ('*** *** 782')."""
    return None if tfn is None else "*** *** " + tfn[-3:]


@dataclass(frozen=True)
class PaymentDetails:
    """An employee's payment details, decrypted: for payroll's bank file, STP and super data only (never shown)."""

    employee_id: int
    bsb: str
    account_number: str
    account_name: str
    tfn: str | None
    date_of_birth: date | None
    address_line: str | None
    address_suburb: str | None
    address_state: str | None
    address_postcode: str | None
    super_fund_name: str | None
    super_fund_abn: str | None
    super_fund_usi: str | None
    super_member_number: str | None
    employment_basis: str | None
    tax_treatment: str | None

    def __repr__(self) -> str:  # never print the account or TFN (logs, tracebacks)
        return f"PaymentDetails(employee_id={self.employee_id}, account={mask_account(self.account_number)})"


def _decrypted(row: EmployeePaymentDetails, ring: Keyring) -> PaymentDetails:
    def plain(column: str) -> str | None:
        token = getattr(row, column)
        return None if token is None else ring.decrypt(token, purpose=payment_purpose(column, row.employee_id))

    return PaymentDetails(
        employee_id=row.employee_id, bsb=plain("bank_bsb_enc") or "", account_number=plain("bank_account_number_enc")
        or "", account_name=row.bank_account_name, tfn=plain("tfn_enc"), date_of_birth=row.date_of_birth,
        address_line=row.address_line, address_suburb=row.address_suburb, address_state=row.address_state,
        address_postcode=row.address_postcode, super_fund_name=row.super_fund_name,
        super_fund_abn=row.super_fund_abn, super_fund_usi=row.super_fund_usi,
        super_member_number=row.super_member_number, employment_basis=row.employment_basis,
        tax_treatment=row.tax_treatment)


async def payment_details(session: AsyncSession, employee_ids: list[int], *,
                          ring: Keyring | None = None) -> dict[int, PaymentDetails]:
    """Return the decrypted payment details of these employees by id (one query); employees without details are
    absent. `ring`: the keys (default: the settings in use, domain.kernel.crypto.keyring). For payroll's bank
    file, STP and SuperStream data; never return these values to a caller. Raises KeyUnavailable or
    DecryptionFailed (domain.kernel.crypto) when a value cannot be decrypted."""
    ring = ring or keyring()
    rows = await repo.payment_details_of(session, employee_ids)
    return {row.employee_id: _decrypted(row, ring) for row in rows}


async def get_payment_details_row(session: AsyncSession, employee_id: int) -> EmployeePaymentDetails | None:
    """Return the employee's live payment details row (encrypted columns as tokens), or None."""
    return await repo.get_payment_details(session, employee_id)


async def masked_payment_details(session: AsyncSession, employee_id: int, *,
                                 ring: Keyring | None = None) -> tuple[EmployeePaymentDetails, dict[str, Any]] | None:
    """Return the employee's payment details row and its masked secrets ({"bsb": "***-***", "account_number":
    "...789", "tfn": "*** *** 782" or None}), or None when they have none. Raises NotFound for an unknown
    employee."""
    await repo.get_employee_or_raise(session, employee_id)
    row = await repo.get_payment_details(session, employee_id)
    if row is None:
        return None
    details = _decrypted(row, ring or keyring())
    return row, {"bsb": mask_bsb(details.bsb), "account_number": mask_account(details.account_number),
                 "tfn": mask_tfn(details.tfn)}


def secret_fingerprints(employee_id: int, secrets: dict[str, str | None], ring: Keyring) -> dict[str, str | None]:
    """What a plan writes into the encrypted columns: each secret's keyed fingerprint (crypto.Keyring.fingerprint),
    deterministic, so the plan hashes the same when planned again; `seal_payment_details` replaces them with
    ciphertext in the same transaction. `secrets` maps the plain fields (bsb, account_number, tfn) to values."""
    return {column: None if secrets.get(name) is None
            else ring.fingerprint(secrets[name], purpose=payment_purpose(column, employee_id))  # type: ignore[arg-type]
            for column, name in SECRET_COLUMNS.items()}


async def seal_payment_details(session: AsyncSession, *, employee_id: int, secrets: dict[str, str | None],
                               ring: Keyring) -> EmployeePaymentDetails:
    """Encrypt the secrets a just-applied plan wrote as fingerprints: each encrypted column must hold the
    fingerprint of the value given (what was approved), and then holds its AES-GCM token. Runs in the caller's
    transaction right after the plan is applied. Raises Conflict when there is no row, or when a column does not
    hold the approved value's fingerprint (nothing is then written: the caller's transaction rolls back)."""
    row = await repo.get_payment_details(session, employee_id)
    if row is None:
        raise Conflict(f"employee {employee_id} has no payment details to seal", field="employee_id")
    expected = secret_fingerprints(employee_id, secrets, ring)
    for column, name in SECRET_COLUMNS.items():
        if getattr(row, column) != expected[column]:
            raise Conflict(f"the {name} written differs from the one approved; nothing was changed", field=name)
        value = secrets.get(name)
        setattr(row, column, None if value is None
                else ring.encrypt(value, purpose=payment_purpose(column, employee_id)))
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True)
class Rotation:
    """What a key rotation did: the key now encrypting, and how many values were re-encrypted or already used it."""

    key_id: str
    reencrypted: int
    unchanged: int


async def rotate_encrypted(session: AsyncSession, *, ring: Keyring) -> Rotation:
    """Re-encrypt every encrypted value (bank BSBs, account numbers, TFNs of every row, deleted ones too) with the
    keyring's current (first) key, in the caller's transaction; afterwards the other keys may be removed.
    Raises KeyUnavailable for a value whose key is not in `ring` (nothing is then written: the caller rolls
    back), DecryptionFailed for a damaged value."""
    changed = unchanged = 0
    for row in await repo.all_payment_details(session):
        touched = False
        for column in SECRET_COLUMNS:
            token = getattr(row, column)
            if token is None:
                continue
            new = ring.reencrypt(token, purpose=payment_purpose(column, row.employee_id))
            if new is None:
                unchanged += 1
            else:
                setattr(row, column, new)
                changed += 1
                touched = True
        if touched:
            bump(row)
            session.add(row)
    await session.flush()
    return Rotation(key_id=ring.current, reencrypted=changed, unchanged=unchanged)
