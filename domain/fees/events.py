"""Fees' domain events (domain/kernel/outbox.py): recorded with the change, delivered to other contexts' handlers."""

from __future__ import annotations

from datetime import date

from domain.kernel.outbox import DomainEvent


class InvoiceIssued(DomainEvent):
    """An invoice was issued (issue_invoices, or generate_invoices with issue): its total in minor units of its
    ISO 4217 currency, and its issue date."""

    topic = "fees.InvoiceIssued"
    aggregate = "fees.invoice"
    aggregate_field = "invoice_id"
    schema_version = 1

    invoice_id: int
    invoice_number: str
    total: int
    currency: str
    issue_date: date
