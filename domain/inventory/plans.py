"""Plans of inventory's gated commands (domain.kernel.plan): applying a stocktake's counts; a sales return.

- `plan_record_stocktake`: one `inventory.stocktake` effect holding each counted product's change in units (counted
  less on the books at the stocktake's location), applied as adjustments at the weighted average cost
  (service.apply_counts). Its inputs are the units on the books and each product's valuation, so any stock move of
  a counted product since the preview makes the action stale. The level is approve (an admin who is not the
  requester) when the adjustments are worth more than MCS_ERP_STOCKTAKE_APPROVE_ABOVE_MINOR in total (losses and
  gains added as absolute values), else confirm.

- `plan_return_sales_order`: one `inventory.sales_return` effect (sales.apply_return) holding the units of each
  order line coming back, the refund (GST inside) and how it is paid (family_account: a credit note on the
  order's fees invoice; cash or card at the counter). The preview shows each line's units, refund, GST and the
  value the units come back into stock at; its inputs are those values and each product's valuation, and its
  basis the order's version, so a stock move of a returned product or a change to the order since the preview
  makes the action stale, and what is applied is what was previewed. Approve (an admin who is not the
  requester) when the refund is more than MCS_ERP_SHOP_REFUND_APPROVE_ABOVE_MINOR, else confirm.

Errors are the services' (service.count_lines, sales.check_return): NotFound, InvalidInput, Conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.inventory import sales, service
from domain.inventory.settings import InventorySettings
from domain.kernel.actor import Actor
from domain.kernel.money import format_money
from domain.kernel.plan import Effect, Plan, Read

APPROVE = "approve"


async def plan_record_stocktake(session: AsyncSession, actor: Actor, *, stocktake_id: int,
                                counts: Sequence[tuple[str, int]],
                                approve_above_minor: int | None = None) -> Plan:
    """Plan applying counted units to a stocktake: one adjustment per product whose count differs from the books,
    valued at the weighted average. The preview shows each line's books, count, change and value."""
    stocktake = await service.get_stocktake(session, stocktake_id)
    lines = await service.count_lines(session, stocktake=stocktake, counts=counts)
    threshold = (InventorySettings().stocktake_approve_above_minor if approve_above_minor is None
                 else approve_above_minor)
    total = sum(abs(line.value) for line in lines)
    currency = lines[0].product.currency
    # in product id order: concurrent writers lock products' rows in one order (repository)
    changes = [{"sku": line.product.sku, "change": line.change}
               for line in sorted(lines, key=lambda line: line.product.id or 0) if line.change]
    effect = Effect(service.STOCKTAKE, {"stocktake_id": stocktake_id, "changes": changes})
    preview = {"stocktake_id": stocktake_id, "on": stocktake.on_date.isoformat(),
               "lines": [{"sku": line.product.sku, "on_hand": line.on_hand, "counted": line.counted,
                          "change": line.change, "value_minor": line.value} for line in lines],
               "adjustments_value_minor": total, "currency": currency,
               "approval": f"needed above {format_money(threshold, currency)}"}
    inputs = {f"{line.product.sku} on the books": line.on_hand for line in lines}
    inputs |= {f"{line.product.sku} value of the change": line.value for line in lines}
    return Plan(command="record_stocktake",
                summary=f"Apply stocktake {stocktake_id}: {len(changes)} adjustment(s) worth "
                        f"{format_money(total, currency)}",
                preview=preview, changes=[effect], basis=[Read("inventory_stocktakes", stocktake_id,
                                                               stocktake.version, f"stocktake {stocktake_id}")],
                inputs=inputs, level=APPROVE if total > threshold else None)


async def plan_return_sales_order(session: AsyncSession, actor: Actor, *, order_id: int,
                                  lines: Sequence[tuple[str, int]], on: date, reason: str,
                                  refund_method: str | None = None, approve_above_minor: int | None = None) -> Plan:
    """Plan a return of units of a sales order (sales.check_return): the stock back at the weighted average, and
    the refund to the family's account or at the counter. The preview lists each line (units, refund, GST, stock
    value back) and the totals."""
    checked = await sales.check_return(session, order_id=order_id, on=on, refund_method=refund_method,
                                       lines=[sales.OrderLineSpec(sku=sku, quantity=units) for sku, units in lines])
    clean_reason = sales.check_reason(reason)
    threshold = (InventorySettings().shop_refund_approve_above_minor if approve_above_minor is None
                 else approve_above_minor)
    order, currency = checked.order, checked.order.currency
    payload_lines = [{"sku": item.product.sku, "quantity": item.quantity}
                     for item in sorted(checked.lines, key=lambda item: item.product.id or 0)]
    effect = Effect(sales.SALES_RETURN, {"order_id": order_id, "lines": payload_lines, "on": on.isoformat(),
                                         "reason": clean_reason, "refund_method": checked.refund_method})
    preview = {"order": order.order_number, "customer": order.customer_name, "on": on.isoformat(),
               "location": checked.location.code, "refund_method": checked.refund_method, "currency": currency,
               "lines": [{"sku": item.product.sku, "quantity": item.quantity, "refund_minor": item.amount,
                          "gst_minor": item.gst, "stock_value_back_minor": item.cost} for item in checked.lines],
               "refund_minor": checked.amount, "gst_minor": checked.gst, "stock_value_back_minor": checked.cost,
               "approval": f"needed above {format_money(threshold, currency)}"}
    inputs: dict[str, object] = {f"{item.product.sku} refund": item.amount for item in checked.lines}
    inputs |= {f"{item.product.sku} stock value back": item.cost for item in checked.lines}
    inputs |= {f"{item.product.sku} returned before": item.line.returned_quantity for item in checked.lines}
    to = "the family's account" if checked.refund_method == sales.FAMILY_ACCOUNT else checked.refund_method
    return Plan(command="return_sales_order",
                summary=f"Return {sum(item.quantity for item in checked.lines)} unit(s) of {order.order_number}; "
                        f"refund {format_money(checked.amount, currency)} to {to}",
                preview=preview, changes=[effect],
                basis=[Read("inventory_sales_orders", order_id, order.version, f"sales order {order.order_number}")],
                inputs=inputs, level=APPROVE if checked.amount > threshold else None)
