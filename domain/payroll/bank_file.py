"""A payroll run's bank file: the ABA (Cemtext) file paying each employee's net pay (issue 18 item 6).

What it pays: the net pay of each live payslip (neither void nor a reversal) of a POSTED or PAID run whose net is
above zero, one type 1 record (transaction code 53, pay) per payslip, to the bank account in the employee's
payment details (domain.hr.service.payment_details, decrypted here and nowhere shown). Amounts are the payslips'
`net_minor`, which are cents: the run must be in AUD, the only currency BECS carries. The paying account and APCA
details come from settings (MCS_ERP_ABA_BSB, _ACCOUNT, _ACCOUNT_TITLE, _BANK, _USER_NAME, _USER_ID, _DESCRIPTION,
_BALANCING_RECORD); the format and its rules are domain/payroll/aba.py.

Errors: NotFound (run), Conflict (a run that is not posted or paid; payslips whose employees have no payment
details, named, unless `skip_missing`), InvalidInput (a run not in AUD; a setting missing or invalid, named as
its environment variable; a field a bank file cannot carry, naming the employee), KeyUnavailable and
DecryptionFailed (domain.kernel.crypto).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.documents import service as documents
from domain.hr import service as hr
from domain.kernel.actor import Actor
from domain.kernel.crypto import Keyring, keyring_for
from domain.kernel.errors import Conflict, InvalidInput
from domain.kernel.settings import Settings, current_settings
from domain.payroll import aba, repository, service
from domain.payroll.models import PayslipStatus, RunStatus

BANK_FILE = "payroll_bank_file"
"""The document kind of a stored bank file (readable by payroll staff and admins, tools/documents.py)."""
CURRENCY = "AUD"
MAX_SHOWN_MISSING = 20


@dataclass(frozen=True)
class BankFile:
    """A run's ABA file: its text, the payments in it (records and cents, the balancing debit not counted), the
    employees left out for lack of payment details (codes), and the file name to store it under."""

    run_id: int
    period: str
    currency: str
    content: str
    filename: str
    payments: int
    total_minor: int
    balancing: bool
    missing: tuple[str, ...]


def _setting(value: str | None, name: str) -> str:
    if value is None or not str(value).strip():
        raise InvalidInput(f"setting MCS_ERP_{name} is not set; a bank file needs the school's paying account and "
                           "APCA details (README 'Bank accounts and keys')", field=f"MCS_ERP_{name}")
    return str(value).strip()


def school_header(settings: Settings, processing_date: date) -> tuple[aba.Descriptive, aba.Payer]:
    """The type 0 record and the paying account, from settings. Raises InvalidInput naming the missing or invalid
    setting (MCS_ERP_ABA_...)."""
    bsb, account = _setting(settings.aba_bsb, "ABA_BSB"), _setting(settings.aba_account, "ABA_ACCOUNT")
    title = _setting(settings.aba_account_title, "ABA_ACCOUNT_TITLE")
    user_name = _setting(settings.aba_user_name, "ABA_USER_NAME")
    descriptive = aba.Descriptive(bank=_setting(settings.aba_bank, "ABA_BANK").upper(), user_name=user_name,
                                  user_id=_setting(settings.aba_user_id, "ABA_USER_ID"),
                                  description=settings.aba_description, processing_date=processing_date)
    payer = aba.Payer(bsb=bsb, account_number=account, account_title=title, remitter=user_name[:16].rstrip())
    names = {"bank": "ABA_BANK", "user_name": "ABA_USER_NAME", "user_id": "ABA_USER_ID",
             "description": "ABA_DESCRIPTION", "bsb": "ABA_BSB", "account_number": "ABA_ACCOUNT",
             "account_title": "ABA_ACCOUNT_TITLE", "remitter": "ABA_USER_NAME"}
    try:
        aba.check_bsb(bsb, field="bsb")
        aba.check_account_number(account, field="account_number")
        aba.check_text(title, width=32, field="account_title")
        aba.check_text(payer.remitter, width=16, field="remitter")
        aba.descriptive_record(descriptive)
    except InvalidInput as exc:
        if exc.field not in names:
            raise
        raise InvalidInput(f"setting MCS_ERP_{names[exc.field]}: {exc.message}",
                           field=f"MCS_ERP_{names[exc.field]}") from None
    return descriptive, payer


async def build_bank_file(session: AsyncSession, run_id: int, *, processing_date: date,
                          skip_missing: bool = False, settings: Settings | None = None,
                          ring: Keyring | None = None) -> BankFile:
    """Build the ABA file of a posted or paid run's net pays (module docstring), dated `processing_date` (the day
    the banks release the payments). Employees without payment details make it fail with their codes, unless
    `skip_missing` (then they are left out and listed in `missing`). `settings` and `ring` default to the
    settings in use and their keys. Raises as the module docstring says."""
    settings = settings or current_settings()
    run = await service.get_run(session, run_id)
    service.ensure_status(run, RunStatus.POSTED, RunStatus.PAID, doing="a bank file")
    if run.currency != CURRENCY:
        raise InvalidInput(f"payroll run {run.id} is in {run.currency}; an ABA bank file pays only AUD",
                           field="run_id")
    descriptive, payer = school_header(settings, processing_date)
    slips = [s for s in await repository.run_payslips(session, run.id or 0, originals=True,
                                                      statuses=(PayslipStatus.DONE.value, PayslipStatus.PAID.value))
             if s.net_minor > 0]
    if not slips:
        raise Conflict(f"payroll run {run.id} has no payslip with a net pay above zero to pay", field="run_id")
    employees = await hr.employees_by_id(session, [s.employee_id for s in slips])
    details = await hr.payment_details(session, [s.employee_id for s in slips],
                                       ring=ring or keyring_for(settings))
    missing = tuple(employees[s.employee_id].code for s in slips if s.employee_id not in details)
    if missing and not skip_missing:
        shown = ", ".join(missing[:MAX_SHOWN_MISSING]) + (" ..." if len(missing) > MAX_SHOWN_MISSING else "")
        raise Conflict(f"{len(missing)} employee(s) of run {run.id} have no bank account on record: {shown}; set "
                       "them with set_employee_payment_details, or export with skip_missing to leave them out",
                       field="run_id", details={"missing": list(missing)})
    paid = [s for s in slips if s.employee_id in details]
    if not paid:
        raise Conflict(f"no employee of run {run.id} has a bank account on record", field="run_id")
    reference = f"PAY {run.period}"
    payments = [aba.Payment(bsb=details[s.employee_id].bsb, account_number=details[s.employee_id].account_number,
                            account_title=details[s.employee_id].account_name, amount_cents=s.net_minor,
                            lodgement_reference=reference) for s in paid]
    try:
        file = aba.compose(descriptive, payer, payments, balancing=settings.aba_balancing_record)
    except InvalidInput as exc:
        index = _payment_index(exc.field)
        if index is None or index >= len(paid):
            raise
        code = employees[paid[index].employee_id].code
        raise InvalidInput(f"employee {code}'s payment details cannot go in a bank file ({exc.message}); correct "
                           "them with set_employee_payment_details", field="run_id") from None
    content = aba.render(file)
    return BankFile(run_id=run.id or 0, period=run.period, currency=CURRENCY, content=content,
                    filename=f"payroll-{run.period}-{processing_date:%Y%m%d}.aba", payments=len(payments),
                    total_minor=sum(p.amount_cents for p in payments),
                    balancing=settings.aba_balancing_record, missing=missing)


def _payment_index(field: str | None) -> int | None:
    if not field or not field.startswith("payments["):
        return None
    return int(field[len("payments["):field.index("]")])


async def export_bank_file(session: AsyncSession, actor: Actor, run_id: int, *, processing_date: date,
                           skip_missing: bool = False, settings: Settings | None = None,
                           tool: str = "export_payroll_bank_file") -> tuple[documents.Document, BankFile]:
    """Build a run's bank file (build_bank_file) and store it as a document of kind payroll_bank_file (its own
    audit row: size and SHA-256, never its content). Raises as build_bank_file."""
    bank_file = await build_bank_file(session, run_id, processing_date=processing_date, skip_missing=skip_missing,
                                      settings=settings)
    document = await documents.store(session, kind=BANK_FILE, filename=bank_file.filename,
                                     content_type="text/plain", data=bank_file.content.encode("ascii"),
                                     created_by=actor.id or None, actor=actor, tool=tool)
    return document, bank_file
