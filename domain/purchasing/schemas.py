"""Read models of the purchasing context, as tools return them. Money is integer minor units of `currency` (ISO
4217), unit costs before GST; quantities are integer units of the product's unit of measure."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from domain.kernel.schemas import Contact, OutputModel
from domain.purchasing.models import GoodsReceipt, Supplier, SupplierPayment
from domain.purchasing.service import BillView, OpenOrder, OrderView, PayablesAging, ReceiptView, masked_account


class SupplierOut(OutputModel):
    code: str
    name: str
    abn: str
    email: Contact[str | None] = None
    currency: str
    payment_terms_days: int
    bsb: Contact[str | None] = None
    account_number_masked: Contact[str | None] = Field(default=None, description="All but the last 3 digits hidden.")
    account_name: Contact[str | None] = None
    active: bool


def supplier_out(row: Supplier) -> SupplierOut:
    return SupplierOut(code=row.code, name=row.name, abn=row.abn, email=row.email, currency=row.currency,
                       payment_terms_days=row.payment_terms_days, bsb=row.bsb,
                       account_number_masked=masked_account(row.account_number), account_name=row.account_name,
                       active=row.active)


class OrderLineOut(OutputModel):
    line_no: int
    sku: str
    description: str
    tax_code: str
    quantity_ordered: int
    unit_cost_minor: int = Field(description="Before GST.")
    quantity_received: int
    quantity_billed: int


class OrderOut(OutputModel):
    order_number: str
    supplier: str
    supplier_name: str
    status: str = Field(description="draft, sent, partly_received, received, billed, closed or cancelled.")
    order_date: date
    expected_date: date | None
    deliver_to: str = Field(description="The stock location's code.")
    currency: str
    total_minor: int = Field(description="Units ordered x unit cost, before GST.")
    notes: str
    lines: list[OrderLineOut]


def order_out(view: OrderView) -> OrderOut:
    order = view.order
    return OrderOut(order_number=order.number, supplier=view.supplier.code, supplier_name=view.supplier.name,
                    status=order.status, order_date=order.order_date, expected_date=order.expected_date,
                    deliver_to=order.deliver_to, currency=order.currency, total_minor=view.total_minor,
                    notes=order.notes,
                    lines=[OrderLineOut(line_no=ln.line_no, sku=ln.sku, description=ln.description,
                                        tax_code=ln.tax_code, quantity_ordered=ln.quantity_ordered,
                                        unit_cost_minor=ln.unit_cost_minor, quantity_received=ln.quantity_received,
                                        quantity_billed=ln.quantity_billed) for ln in view.lines])


class OpenOrderOut(OutputModel):
    order_number: str
    supplier: str
    supplier_name: str
    status: str
    order_date: date
    expected_date: date | None
    deliver_to: str
    currency: str
    units_to_receive: int
    value_to_receive_minor: int = Field(description="Before GST, at the order's unit costs.")
    units_to_bill: int = Field(description="Received, not yet billed.")
    value_to_bill_minor: int
    skus: list[str]


def open_order_out(row: OpenOrder) -> OpenOrderOut:
    order = row.view.order
    return OpenOrderOut(order_number=order.number, supplier=row.view.supplier.code,
                        supplier_name=row.view.supplier.name, status=order.status, order_date=order.order_date,
                        expected_date=order.expected_date, deliver_to=order.deliver_to, currency=order.currency,
                        units_to_receive=row.units_to_receive, value_to_receive_minor=row.value_to_receive,
                        units_to_bill=row.units_to_bill, value_to_bill_minor=row.value_to_bill,
                        skus=[ln.sku for ln in row.view.lines])


class ReceiptLineOut(OutputModel):
    sku: str
    quantity: int
    unit_cost_minor: int
    value_minor: int
    move_id: int


class ReceiptOut(OutputModel):
    receipt_number: str
    order_number: str
    order_status: str
    on_date: date
    location: str
    delivery_reference: str
    lines: list[ReceiptLineOut]


def receipt_out(view: ReceiptView) -> ReceiptOut:
    receipt: GoodsReceipt = view.receipt
    return ReceiptOut(receipt_number=receipt.number, order_number=view.order.number, order_status=view.order.status,
                      on_date=receipt.on_date, location=view.order.deliver_to,
                      delivery_reference=receipt.delivery_reference,
                      lines=[ReceiptLineOut(sku=line.sku, quantity=row.quantity, unit_cost_minor=line.unit_cost_minor,
                                            value_minor=move.value_minor, move_id=move.id or 0)
                             for line, row, move in view.lines])


class BillLineOut(OutputModel):
    sku: str
    quantity: int
    unit_cost_minor: int = Field(description="Billed, before GST.")
    ordered_unit_cost_minor: int
    amount_minor: int
    gst_minor: int


class BillOut(OutputModel):
    bill_number: str
    supplier: str
    supplier_name: str
    supplier_reference: str = Field(description="The supplier's invoice number.")
    order_number: str
    bill_date: date
    due_date: date
    currency: str
    subtotal_minor: int = Field(description="Before GST.")
    gst_minor: int = Field(description="Input tax credits claimed.")
    total_minor: int
    amount_paid_minor: int
    balance_minor: int
    status: str = Field(description="open or paid.")
    journal_entry_id: int | None = None
    journal_entry_number: str | None = None
    lines: list[BillLineOut] = []


def bill_out(view: BillView) -> BillOut:
    bill = view.bill
    return BillOut(bill_number=bill.number, supplier=view.supplier.code, supplier_name=view.supplier.name,
                   supplier_reference=bill.supplier_reference, order_number=view.order.number,
                   bill_date=bill.bill_date, due_date=bill.due_date, currency=bill.currency,
                   subtotal_minor=bill.subtotal_minor, gst_minor=bill.gst_minor, total_minor=bill.total_minor,
                   amount_paid_minor=bill.amount_paid_minor, balance_minor=view.balance_minor, status=bill.status,
                   journal_entry_id=bill.entry_id,
                   lines=[BillLineOut(sku=line.sku, quantity=row.quantity, unit_cost_minor=row.unit_cost_minor,
                                      ordered_unit_cost_minor=line.unit_cost_minor, amount_minor=row.amount_minor,
                                      gst_minor=row.gst_minor) for line, row in view.lines])


class PaymentOut(OutputModel):
    payment_number: str
    supplier: str
    bill_number: str
    amount_minor: int
    currency: str
    paid_on: date
    reference: str
    bill_balance_minor: int
    bill_status: str
    order_status: str
    journal_entry_id: int | None
    journal_entry_number: str | None = None


def payment_out(row: SupplierPayment, view: BillView) -> PaymentOut:
    return PaymentOut(payment_number=row.number, supplier=view.supplier.code, bill_number=view.bill.number,
                      amount_minor=row.amount_minor, currency=view.bill.currency, paid_on=row.paid_on,
                      reference=row.reference, bill_balance_minor=view.balance_minor, bill_status=view.bill.status,
                      order_status=view.order.status, journal_entry_id=row.entry_id)


class AgingBucketsOut(OutputModel):
    current: int
    days_1_30: int
    days_31_60: int
    days_61_90: int
    over_90: int


class SupplierAgingOut(OutputModel):
    supplier: str
    supplier_name: str
    currency: str
    open_bills: int
    oldest_due_date: date
    total_minor: int
    buckets: AgingBucketsOut


class CurrencyAgingOut(OutputModel):
    currency: str
    total_minor: int
    buckets: AgingBucketsOut


class PayablesAgingOut(OutputModel):
    as_of: date
    rows: list[SupplierAgingOut] = Field(description="Most owed first; this page only.")
    rows_total: int
    totals: list[CurrencyAgingOut] = Field(description="Over every row of the report, per currency.")
    next_cursor: str | None = None


def _buckets(values: dict[str, int]) -> AgingBucketsOut:
    return AgingBucketsOut(**{k: v for k, v in values.items() if k != "total"})


def payables_aging_out(report: PayablesAging, offset: int, limit: int, next_cursor: str | None) -> PayablesAgingOut:
    rows = report.rows[offset:offset + limit]
    return PayablesAgingOut(
        as_of=report.as_of, rows_total=len(report.rows), next_cursor=next_cursor,
        rows=[SupplierAgingOut(supplier=r.supplier.code, supplier_name=r.supplier.name, currency=r.currency,
                               open_bills=r.bills, oldest_due_date=r.oldest_due_date, total_minor=r.total,
                               buckets=_buckets(r.buckets)) for r in rows],
        totals=[CurrencyAgingOut(currency=cur, total_minor=t["total"], buckets=_buckets(t))
                for cur, t in sorted(report.totals.items())])
