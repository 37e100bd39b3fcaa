"""Payroll banking tools: employees' payment details (bank account, TFN, super fund; encrypted at rest, masked in
every answer) and a run's ABA bank file (issue 18 item 6). Declarations only: no SQL.

Setting payment details is gated at approve (four eyes): changing where pay goes is the classic payroll fraud.
Its secret arguments (BSB, account number, TFN) never rest in plaintext, not even in the pending action that holds
the call's arguments: their JSON form (what the gate stores and the audit log records) is an AES-GCM token under
the data keys (domain.kernel.crypto), which validation decrypts again when the action is released.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, StringConstraints, WithJsonSchema
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr import plans as hr_plans
from domain.hr import service as hr
from domain.hr.models import EmploymentBasis
from domain.hr.schemas import PaymentDetailsRead
from domain.kernel import crypto
from domain.kernel.actor import Actor, Role
from domain.kernel.plan import Plan
from domain.payroll import bank_file
from domain.payroll.schemas import BankFileOut
from tools.references import EmployeeRef, PayrollRunRef
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import Name, ShortText, ToolInput

module = Module("payroll_banking", depends_on=("hr", "payroll", "documents"),
                description="Employees' bank accounts (encrypted, masked) and ABA bank files of payroll runs.")
PAYROLL_HR = frozenset({Role.ADMIN, Role.PAYROLL, Role.HR})
PAYROLL = frozenset({Role.ADMIN, Role.PAYROLL})


def _sealed(name: str, max_length: int, description: str):
    """A secret string argument: plaintext from the caller, an AES-GCM token in its JSON form (stored arguments,
    audit), decrypted again when a stored call is validated. The token's purpose names the argument, so a token
    of one argument is refused as another."""
    purpose = f"tool_argument.set_employee_payment_details.{name}"

    def unseal(value: object) -> object:
        ring = crypto.keyring()  # no data key configured: KeyUnavailable now, not when the arguments are stored
        return ring.decrypt(value, purpose=purpose) if crypto.is_token(value) else value

    def seal(value: str) -> str:
        return crypto.keyring().encrypt(value, purpose=purpose)

    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length),
                     BeforeValidator(unseal), PlainSerializer(seal, when_used="json"),
                     WithJsonSchema({"type": "string", "maxLength": max_length, "description": description})]


Bsb = _sealed("bsb", 7, "6 digits: 062-000 or 062000.")
AccountNumber = _sealed("account_number", 11, "5 to 9 digits.")
TaxFileNumber = _sealed("tfn", 11, "8 or 9 digits.")
State = Literal["ACT", "NSW", "NT", "QLD", "SA", "TAS", "VIC", "WA"]
Postcode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10, pattern=r"^\d{4}$")]
Abn = Annotated[str, StringConstraints(strip_whitespace=True, max_length=14,
                                       pattern=r"^\d{2} ?\d{3} ?\d{3} ?\d{3}$")]
FundCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20, pattern=r"^[A-Za-z0-9]+$")]
TaxTreatment = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, max_length=10,
                                                pattern=r"^[A-Za-z]{6}$")]


class EmployeeIdIn(ToolInput):
    employee_id: EmployeeRef


class SetPaymentDetailsIn(ToolInput):
    employee_id: EmployeeRef
    bsb: Bsb
    account_number: AccountNumber
    account_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] = Field(
        description="As the bank file carries it.")
    tfn: TaxFileNumber | None = None
    date_of_birth: date | None = None
    address_line: ShortText | None = None
    address_suburb: Name | None = None
    address_state: State | None = None
    address_postcode: Postcode | None = None
    super_fund_name: ShortText | None = None
    super_fund_abn: Abn | None = None
    super_fund_usi: FundCode | None = None
    super_member_number: FundCode | None = None
    employment_basis: EmploymentBasis | None = None
    tax_treatment: TaxTreatment | None = Field(default=None, description="STP code, e.g. RTXXXX.")


class ExportBankFileIn(ToolInput):
    run_id: PayrollRunRef
    processing_date: date = Field(description="The day the banks release the payments.")
    skip_missing: bool = Field(default=False, description="Leave out employees with no bank account (listed).")


async def _details_out(ctx: ToolContext, employee_id: int) -> PaymentDetailsRead:
    found = await hr.masked_payment_details(ctx.session, employee_id)  # the runtime's keys (tools.invoke)
    if found is None:
        return PaymentDetailsRead(employee_id=employee_id, on_record=False)
    row, masked = found
    return PaymentDetailsRead(employee_id=employee_id, on_record=True, account_name=row.bank_account_name,
                              version=row.version, **masked,
                              **{name: getattr(row, name) for name in hr_plans.PLAIN_FIELDS})


@module.tool(effect=Effect.READ, roles=PAYROLL_HR)
async def get_employee_payment_details(ctx: ToolContext, args: EmployeeIdIn) -> PaymentDetailsRead:
    """Get an employee's payment details: bank account and TFN masked, address, super fund, STP codes."""
    return await _details_out(ctx, args.employee_id)


def _plan_payment_details(session: AsyncSession, actor: Actor, args: SetPaymentDetailsIn) -> Awaitable[Plan]:
    return hr_plans.plan_set_payment_details(session, actor, employee_id=args.employee_id,
                                             values=args.model_dump(exclude={"employee_id"}))


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL_HR, gate=GateLevel.APPROVE, plan=_plan_payment_details)
async def set_employee_payment_details(ctx: ToolContext, args: SetPaymentDetailsIn) -> PaymentDetailsRead:
    """Set an employee's whole payment record (omitted fields are cleared); an admin approves."""
    values = hr.check_payment_details(args.model_dump(exclude={"employee_id"}))
    await hr.seal_payment_details(ctx.session, employee_id=args.employee_id,
                                  secrets={"bsb": values["bsb"], "account_number": values["account_number"],
                                           "tfn": values.get("tfn")},
                                  ring=crypto.keyring())
    return await _details_out(ctx, args.employee_id)


@module.tool(effect=Effect.WRITE, roles=PAYROLL)
async def export_payroll_bank_file(ctx: ToolContext, args: ExportBankFileIn) -> BankFileOut:
    """Store the ABA bank file of a posted or paid AUD run's net pays as a document; get_document reads it."""
    document, made = await bank_file.export_bank_file(ctx.session, ctx.actor, args.run_id,
                                                      processing_date=args.processing_date,
                                                      skip_missing=args.skip_missing, settings=ctx.runtime.settings)
    return BankFileOut(document_id=document.id or 0, run_id=made.run_id, filename=made.filename,
                       payments=made.payments, total_minor=made.total_minor, currency=made.currency,
                       balancing_record=made.balancing, missing_employee_codes=list(made.missing))
