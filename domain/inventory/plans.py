"""Plans of inventory's gated commands (domain.kernel.plan): applying a stocktake's counts.

- `plan_record_stocktake`: one `inventory.stocktake` effect holding each counted product's change in units (counted
  less on the books at the stocktake's location), applied as adjustments at the weighted average cost
  (service.apply_counts). Its inputs are the units on the books and each product's valuation, so any stock move of
  a counted product since the preview makes the action stale. The level is approve (an admin who is not the
  requester) when the adjustments are worth more than MCS_ERP_STOCKTAKE_APPROVE_ABOVE_MINOR in total (losses and
  gains added as absolute values), else confirm.

Errors are the service's (service.count_lines): NotFound, InvalidInput, Conflict.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.inventory import service
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
