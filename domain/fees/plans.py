"""Plans of the fees context's gated commands (domain.kernel.plan): voiding an invoice, issuing a credit note and
refunding a family's credit.

Each returns every change it would make, with the exact values: the invoice row at the version the plan read
(a payment or credit allocated to it since the preview changes its version, so the action becomes stale), the
journal entry's exact lines (`finance.posting` / `finance.reversal` effects, integer minor units), the numbered
document it creates (`fees.document`: CN000042, RF000042, numbered from the id when applied) and the family credit
movement. A refund rests on the family's credit: every credit movement of the family in that currency is in its
basis and the credit held is an input, so a payment, credit note, credit application or refund recorded since
the preview makes it stale. Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.fees import repository as repo
from domain.fees import rules, service
from domain.fees.models import CreditKind, InvoiceStatus
from domain.finance import rules as ledger_rules
from domain.finance import service as finance
from domain.finance.rules import AccountType
from domain.kernel import money
from domain.kernel.actor import Actor
from domain.kernel.errors import Conflict
from domain.kernel.plan import Effect, Insert, NewId, Plan, Read, Update

MAX_REASON = 1000
# A memo names the document's number, filled in when applied: room for ids of up to 12 digits.
NUMBER_ROOM = 12


def _reason(reason: str) -> str:
    return ledger_rules.check_text(reason, field="reason", max_length=MAX_REASON) or ""


def _memo(prefix_template: str, text: str) -> str:
    """A posting memo template: the prefix (naming `{ref}` ids) and free text cut to fit 1000 characters."""
    room = ledger_rules.MAX_MEMO - len(prefix_template) - NUMBER_ROOM
    return prefix_template + finance.template_text(text[:max(room, 0)])


async def plan_void_invoice(session: AsyncSession, actor: Actor, *, invoice_id: int, on: dt.date,
                            reason: str) -> Plan:
    """Plan voiding an invoice: a draft becomes void; an issued one also gets its journal entry reversed on `on`
    (a `finance.reversal` effect with the exact mirrored lines, key "invoice-void:<id>"). Raises NotFound
    (invoice_id), Conflict and InvalidInput (service.check_voidable: already void, money paid or credited on it,
    a date before its issue; an empty reason)."""
    clean_reason = _reason(reason)
    invoice = await service.get_invoice(session, invoice_id)
    service.check_voidable(invoice, on)
    changes: list[Any] = []
    if invoice.entry_id is not None:
        changes.append(await finance.plan_reversal(
            session, entry_id=invoice.entry_id, date=on, reason=f"void of invoice {invoice.invoice_number}: "
                                                                 f"{clean_reason}",
            idempotency_key=f"invoice-void:{invoice_id}", ref="reversal"))
    changes.append(Update("invoices", invoice.id or 0, invoice.version,
                          before={"status": invoice.status, "voided_on": invoice.voided_on,
                                  "void_reason": invoice.void_reason, "void_entry_id": invoice.void_entry_id},
                          after={"status": InvoiceStatus.VOID.value, "voided_on": on, "void_reason": clean_reason,
                                 "void_entry_id": None if invoice.entry_id is None else NewId("reversal")}))
    total = money.format_money(invoice.total, invoice.currency)
    preview = {"invoice": invoice.invoice_number, "family_id": invoice.family_id, "student_id": invoice.student_id,
               "currency": invoice.currency, "total_minor": invoice.total, "reason": clean_reason,
               "reversal": None if invoice.entry_id is None else {"reverses_entry_id": invoice.entry_id,
                                                                  "date": on.isoformat()},
               "before": {"status": invoice.status, "balance_minor": service.balance_of(invoice)},
               "after": {"status": InvoiceStatus.VOID.value, "balance_minor": 0}}
    return Plan(command="void_invoice",
                summary=f"Void invoice {invoice.invoice_number} ({total}) on {on}: {clean_reason[:120]}",
                preview=preview, changes=changes)


async def plan_issue_credit_note(session: AsyncSession, actor: Actor, *, invoice_id: int, amount: int, on: dt.date,
                                 reason: str, account_id: int | None = None) -> Plan:
    """Plan a credit note (CN000042) of `amount` minor units on an invoice: the part up to its balance is taken off
    it, the rest becomes the family's credit; its entry debits `account_id` (default 4190 Fee discounts and credit
    notes) and credits 1200 Fees receivable and 2200 Family credit (service.credit_note_lines). Raises NotFound,
    Conflict and InvalidInput as service.issue_credit_note, and Conflict when the fee accounts do not exist."""
    clean_reason = _reason(reason)
    invoice = await service.get_invoice(session, invoice_id)
    applied, excess = await service.check_credit_note(session, invoice, amount=amount, on=on)
    accounts = await service.existing_fee_accounts(session, invoice.currency)
    debit_account = accounts["discounts"] if account_id is None else await service.check_account(
        session, account_id, field="account_id", types={AccountType.INCOME.value, AccountType.EXPENSE.value},
        currency=invoice.currency)
    note = {"invoice_id": invoice.id, "family_id": invoice.family_id, "issued_on": on, "currency": invoice.currency,
            "amount": amount, "applied": applied, "reason": clean_reason, "account_id": debit_account,
            "issued_by": actor.id or None}
    posting = await finance.plan_posting(
        session, date=on, lines=service.credit_note_lines(accounts, debit_account=debit_account, amount=amount,
                                                          applied=applied),
        memo=_memo(f"Credit note CN{{note:06d}} on invoice {invoice.invoice_number}: ", clean_reason),
        source="credit_note:{note}", idempotency_key="credit_note:{note}", ids={"note": NewId("note")}, ref="entry")
    status = rules.status_of(total=invoice.total, paid=invoice.amount_paid,
                             credited=invoice.amount_credited + applied, issued=True).value
    changes: list[Any] = [Effect(service.DOCUMENT, {"table": "fee_credit_notes", "values": note}, ref="note"),
                          posting,
                          Effect(service.ENTRY_LINK, {"table": "fee_credit_notes", "id": NewId("note"),
                                                      "entry_id": NewId("entry")})]
    if excess:
        changes.append(Insert("family_credits", {
            "family_id": invoice.family_id, "currency": invoice.currency, "kind": CreditKind.CREDIT_NOTE.value,
            "amount": excess, "occurred_on": on, "credit_note_id": NewId("note"), "entry_id": NewId("entry")}))
    changes.append(Update("invoices", invoice.id or 0, invoice.version,
                          before={"amount_credited": invoice.amount_credited, "status": invoice.status},
                          after={"amount_credited": invoice.amount_credited + applied, "status": status}))
    credit = await service.family_credit(session, invoice.family_id, invoice.currency)
    balance = service.balance_of(invoice)
    preview = {"invoice": invoice.invoice_number, "currency": invoice.currency, "amount_minor": amount,
               "reason": clean_reason, "applied_to_invoice_minor": applied, "to_family_credit_minor": excess,
               "debit_account_id": debit_account,
               "before": {"balance_minor": balance, "family_credit_minor": credit, "status": invoice.status},
               "after": {"balance_minor": balance - applied, "family_credit_minor": credit + excess,
                         "status": status}}
    shown = money.format_money(amount, invoice.currency)
    return Plan(command="issue_credit_note",
                summary=f"Credit note of {shown} on invoice {invoice.invoice_number}: {clean_reason[:120]}",
                preview=preview, changes=changes)


async def plan_refund_family_credit(session: AsyncSession, actor: Actor, *, family_id: int, amount: int,
                                    currency: str, on: dt.date, method: str, reason: str, idempotency_key: str,
                                    reference: str | None = None, bank_account_id: int | None = None) -> Plan:
    """Plan paying back `amount` minor units of a family's credit (RF000042) on `on`: its entry debits 2200 Family
    credit and credits the bank account (default 1010), and a refund movement takes the amount off the credit.
    When `idempotency_key` already made this refund, the plan changes nothing (preview `already_refunded`).
    Raises NotFound (family), InvalidInput (amount above the credit, method, account, currency) and Conflict (the
    key made another refund; the fee accounts do not exist)."""
    clean_reason = _reason(reason)
    key = ledger_rules.check_text(idempotency_key, field="idempotency_key", max_length=200) or ""
    clean_currency = money.parse_currency(currency)
    clean_method = service.check_method(method)
    clean_reference = ledger_rules.check_text(reference, field="reference", max_length=120, required=False)
    family = await service.get_family(session, family_id)
    existing = await repo.refund_by_key(session, key)
    if existing is not None:
        if (existing.family_id, existing.amount, existing.currency) != (family_id, amount, clean_currency):
            raise Conflict(f"idempotency_key {key!r} already made refund {existing.refund_number}",
                           field="idempotency_key")
        return Plan(command="refund_family_credit",
                    summary=f"Return refund {existing.refund_number}, already made with this idempotency key",
                    preview={"family": family.code, "family_name": family.name, "currency": clean_currency,
                             "amount_minor": amount, "already_refunded": existing.refund_number},
                    basis=[Read("fee_refunds", existing.id or 0, existing.version, existing.refund_number)])
    before = await service.check_refund(session, family, amount=amount, currency=clean_currency, on=on)
    accounts = await service.existing_fee_accounts(session, clean_currency)
    bank = accounts["bank"] if bank_account_id is None else await service.check_account(
        session, bank_account_id, field="bank_account_id", types={AccountType.ASSET.value}, currency=clean_currency)
    refund = {"family_id": family_id, "refunded_on": on, "currency": clean_currency, "amount": amount,
              "method": clean_method, "reference": clean_reference, "reason": clean_reason, "bank_account_id": bank,
              "idempotency_key": key, "refunded_by": actor.id or None}
    posting = await finance.plan_posting(
        session, date=on, lines=service.refund_lines(accounts, bank_account=bank, amount=amount),
        memo=_memo(f"Refund RF{{refund:06d}} to family {family.code}: ", clean_reason),
        source="fee_refund:{refund}", idempotency_key="refund:{refund}", ids={"refund": NewId("refund")},
        ref="entry")
    changes: list[Any] = [
        Effect(service.CREDIT_GUARD, {"family_id": family_id, "currency": clean_currency, "at_least": amount}),
        Effect(service.DOCUMENT, {"table": "fee_refunds", "values": refund}, ref="refund"),
        posting,
        Effect(service.ENTRY_LINK, {"table": "fee_refunds", "id": NewId("refund"), "entry_id": NewId("entry")}),
        Insert("family_credits", {"family_id": family_id, "currency": clean_currency, "kind": CreditKind.REFUND.value,
                                  "amount": -amount, "occurred_on": on, "refund_id": NewId("refund"),
                                  "entry_id": NewId("entry")})]
    movements = await repo.credit_movements(session, family_id, clean_currency)
    basis = [Read("family_credits", m.id or 0, m.version,
                  f"family {family.code}'s credit movement {m.id} ({m.kind} of {m.amount} on {m.occurred_on})")
             for m in movements]
    shown = money.format_money(amount, clean_currency)
    preview = {"family": family.code, "family_name": family.name, "currency": clean_currency, "amount_minor": amount,
               "method": clean_method, "reference": clean_reference, "reason": clean_reason, "date": on.isoformat(),
               "bank_account_id": bank,
               "before": {"family_credit_minor": before}, "after": {"family_credit_minor": before - amount}}
    return Plan(command="refund_family_credit",
                summary=f"Refund {shown} to family {family.code} {family.name} ({clean_method}): {clean_reason[:120]}",
                preview=preview, changes=changes, basis=basis,
                inputs={"family credit": f"{before} {clean_currency} minor units held for family {family.code}"})
