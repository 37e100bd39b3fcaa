"""Plans of purchasing's gated commands (domain.kernel.plan): paying a supplier.

- `plan_pay_supplier_bill`: one `purchasing.payment` effect (service.pay_supplier_bill: the payment row, its
  journal entry Dr 2010 Accounts payable / Cr 1010 Bank, the bill's balance). It rests on the bill's row and
  version, so a payment or any change of the bill since the preview makes the action stale (nothing paid twice).
  The level is approve (an admin who is not the requester, four eyes) when the amount is above
  MCS_ERP_SUPPLIER_PAYMENT_APPROVE_ABOVE_MINOR, else confirm. The preview names the supplier, its bank account
  (masked), the bill, the amount and the balance left.

Errors are the service's (service.check_payment): NotFound, InvalidInput, Conflict.
"""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.actor import Actor
from domain.kernel.money import format_money
from domain.kernel.plan import Effect, Plan, Read
from domain.purchasing import service
from domain.purchasing.settings import PurchasingSettings

APPROVE = "approve"


async def plan_pay_supplier_bill(session: AsyncSession, actor: Actor, *, bill_number: str, amount_minor: int,
                                 paid_on: date, reference: str = "",
                                 approve_above_minor: int | None = None) -> Plan:
    """Plan paying `amount_minor` (minor units of the bill's currency) of a supplier bill on `paid_on`."""
    view = await service.get_supplier_bill(session, bill_number)
    service.check_payment(view, amount_minor=amount_minor, paid_on=paid_on)
    bill, vendor = view.bill, view.supplier
    threshold = (PurchasingSettings().supplier_payment_approve_above_minor if approve_above_minor is None
                 else approve_above_minor)
    clean_reference = (reference or "").strip()
    effect = Effect(service.PAYMENT, {"bill_number": bill.number, "amount_minor": amount_minor,
                                      "paid_on": paid_on.isoformat(), "reference": clean_reference},
                    ref="payment")
    preview = {"supplier": vendor.code, "supplier_name": vendor.name, "bsb": vendor.bsb,
               "account_number": service.masked_account(vendor.account_number), "account_name": vendor.account_name,
               "bill_number": bill.number, "supplier_reference": bill.supplier_reference,
               "order_number": view.order.number, "due_date": bill.due_date.isoformat(),
               "amount_minor": amount_minor, "balance_before_minor": view.balance_minor,
               "balance_after_minor": view.balance_minor - amount_minor, "currency": bill.currency,
               "paid_on": paid_on.isoformat(), "reference": clean_reference,
               "approval": f"needed above {format_money(threshold, bill.currency)}"}
    return Plan(command="pay_supplier_bill",
                summary=f"Pay {vendor.code} {format_money(amount_minor, bill.currency)} for {bill.number} "
                        f"({vendor.name}'s invoice {bill.supplier_reference})",
                preview=preview, changes=[effect],
                basis=[Read("purchasing_bills", bill.id or 0, bill.version, f"bill {bill.number}"),
                       Read("purchasing_suppliers", vendor.id or 0, vendor.version, f"supplier {vendor.code}")],
                inputs={f"{bill.number} balance": view.balance_minor,
                        f"{vendor.code} bank account": f"{vendor.bsb} {service.masked_account(vendor.account_number)}"},
                level=APPROVE if amount_minor > threshold else None)
