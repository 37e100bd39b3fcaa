"""Inventory's domain events (domain/kernel/outbox.py): recorded with the change, delivered to other contexts'
handlers (issue 22: low-stock alerts)."""

from __future__ import annotations

from domain.kernel.outbox import DomainEvent


class StockBelowReorderPoint(DomainEvent):
    """A stock move took a product's units at a location from its reorder point's minimum or more to below it:
    `on_hand` units are left; reordering `to_order` units brings it back to `reorder_to`. Recorded once per
    crossing (not again while it stays below)."""

    topic = "inventory.StockBelowReorderPoint"
    aggregate = "inventory.product"
    aggregate_field = "product_id"
    schema_version = 1

    product_id: int
    sku: str
    location: str
    on_hand: int
    minimum: int
    reorder_to: int
    to_order: int
