"""Plans of HR's gated commands (domain.kernel.plan): terminating an employee; setting payment details.

`plan_terminate_employee(session, actor, args) -> Plan` reads the employee, raises the command's errors, and
returns the one row it writes with the values it writes; the gate applies exactly that plan.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr import repository as repo
from domain.hr.events import EmployeeTerminated
from domain.hr.models import EmployeeStatus
from domain.hr.service import (
    SECRET_COLUMNS,
    check_payment_details,
    check_termination,
    mask_account,
    mask_bsb,
    mask_tfn,
    masked_payment_details,
    secret_fingerprints,
)
from domain.kernel.actor import Actor
from domain.kernel.crypto import DecryptionFailed, keyring
from domain.kernel.errors import Conflict
from domain.kernel.models import snapshot
from domain.kernel.outbox import event_effect
from domain.kernel.plan import Insert, Plan, Read, Update


async def plan_terminate_employee(session: AsyncSession, actor: Actor, *, employee_id: int, termination_date: date,
                                  reason: str) -> Plan:
    """Plan terminating an employee as of a date: the employee row's status (terminated), termination date and
    reason, at the version previewed (the record is kept). The preview shows the whole record before and after.
    Raises NotFound, Conflict (already terminated), InvalidInput (a date before the hire date)
    (service.check_termination)."""
    emp = await repo.get_employee_or_raise(session, employee_id)
    check_termination(emp, termination_date)
    after: dict[str, Any] = {"status": EmployeeStatus.TERMINATED.value, "termination_date": termination_date,
                             "termination_reason": reason}
    change = Update("employees", emp.id or 0, emp.version,
                    before={k: getattr(emp, k) for k in after}, after=after)
    before = snapshot(emp, exclude={"created_at", "updated_at", "deleted_at"})
    shown_after = dict(before, **{k: v.isoformat() if isinstance(v, date) else v for k, v in change.after.items()})
    return Plan(command="terminate_employee",
                summary=f"Terminate {emp.full_name} ({emp.code}, {emp.position}) as of {termination_date}",
                preview={"employee": f"{emp.code} {emp.full_name}", "before": before, "after": shown_after},
                changes=[change, event_effect(EmployeeTerminated(employee_id=emp.id or 0, employee_code=emp.code,
                                                                 termination_date=termination_date, reason=reason))])


# ---------------------------------------------------------------- payment details (issue 18 item 6)

PAYMENT_DETAILS = "employee_payment_details"


async def plan_set_payment_details(session: AsyncSession, actor: Actor, *, employee_id: int,
                                   values: dict[str, Any]) -> Plan:
    """Plan setting an employee's payment details (the whole record: what is not given is cleared): one insert,
    or one update of their row at the version previewed.

    `values`: bsb, account_number, account_name, tfn (or None), date_of_birth, address_line, address_suburb,
    address_state, address_postcode, super_fund_name, super_fund_abn, super_fund_usi, super_member_number,
    employment_basis, tax_treatment (service.check_payment_details).

    The plan holds no secret: a plan is stored with its pending action and hashed again when released, so each
    encrypted column is planned as the secret's keyed fingerprint (service.secret_fingerprints, an HMAC under a
    key derived from the data key: deterministic, unlike AES-GCM's random nonces, so a re-plan hashes the same,
    and not reversible by trying every BSB and account number, unlike a plain hash). The tool then encrypts the
    values in the same transaction (service.seal_payment_details), which refuses any value whose fingerprint is
    not the approved one. The preview shows the account as its last 3 digits and the TFN masked.
    Raises NotFound (employee), InvalidInput (a field breaking its rule, named), Conflict (a terminated employee),
    KeyUnavailable (no data key configured)."""
    emp = await repo.get_employee_or_raise(session, employee_id)
    if emp.status == EmployeeStatus.TERMINATED.value:
        raise Conflict(f"employee {emp.code} is terminated; their payment details can no longer be changed",
                       field="employee_id")
    checked = check_payment_details(values)
    ring = keyring()
    secrets = {name: checked.get(name) for name in SECRET_COLUMNS.values()}
    row_values: dict[str, Any] = {column: value for column, value in
                                  secret_fingerprints(employee_id, secrets, ring).items()}
    row_values["bank_account_name"] = checked["account_name"]
    for name in PLAIN_FIELDS:
        row_values[name] = checked.get(name)
    after_shown = {"bsb": mask_bsb(checked["bsb"]), "account_number": mask_account(checked["account_number"]),
                   "account_name": checked["account_name"], "tfn": mask_tfn(checked.get("tfn")),
                   **{name: checked.get(name) for name in PLAIN_FIELDS}}
    after_shown = {k: v.isoformat() if isinstance(v, date) else v for k, v in after_shown.items()}
    existing = await repo.get_payment_details(session, employee_id)
    who = f"{emp.code} {emp.full_name}"
    if existing is None:
        change: Insert | Update = Insert(PAYMENT_DETAILS, {"employee_id": employee_id, **row_values}, ref="details")
        before_shown = None
        summary = f"Set {who}'s payment details: pay to account {after_shown['account_number']}"
    else:
        try:
            old = await masked_payment_details(session, employee_id, ring=ring)
            masked_before = old[1] if old is not None else {}
        except DecryptionFailed:  # a damaged value (altered, or copied from another row) is replaced, not shown
            masked_before = {name: "unreadable" for name in SECRET_COLUMNS.values()}
        before_shown = {**masked_before, "account_name": existing.bank_account_name,
                        **{name: getattr(existing, name) for name in PLAIN_FIELDS}}
        before_shown = {k: v.isoformat() if isinstance(v, date) else v for k, v in before_shown.items()}
        change = Update(PAYMENT_DETAILS, existing.id or 0, existing.version,
                        before={k: getattr(existing, k) for k in row_values}, after=row_values)
        summary = (f"Change {who}'s payment details: pay to account {after_shown['account_number']} "
                   f"(was {before_shown['account_number']})")
    return Plan(command="set_employee_payment_details", summary=summary,
                preview={"employee": who, "before": before_shown, "after": after_shown},
                changes=[change], basis=[Read("employees", emp.id or 0, emp.version, label=f"employee {emp.code}")])


PLAIN_FIELDS = ("date_of_birth", "address_line", "address_suburb", "address_state", "address_postcode",
                "super_fund_name", "super_fund_abn", "super_fund_usi", "super_member_number", "employment_basis",
                "tax_treatment")
"""The payment details columns stored as they are (not encrypted), named as the plan's values name them."""
