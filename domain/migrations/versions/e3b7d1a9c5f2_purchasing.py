"""purchasing (issue 22, part 4): suppliers, purchase orders and their lines, goods receipts, supplier bills and
their lines, supplier payments

Revision ID: e3b7d1a9c5f2
Revises: a7c3e9f1b5d2
Create Date: 2026-12-06 17:45:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'e3b7d1a9c5f2'
down_revision = 'a7c3e9f1b5d2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('purchasing_suppliers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('abn', sqlmodel.sql.sqltypes.AutoString(length=11), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('payment_terms_days', sa.Integer(), nullable=False),
    sa.Column('bsb', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('account_number', sqlmodel.sql.sqltypes.AutoString(length=9), nullable=False),
    sa.Column('account_name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_purchasing_suppliers_code'), 'purchasing_suppliers', ['code'], unique=True)
    op.create_table('purchasing_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('order_date', sa.Date(), nullable=False),
    sa.Column('expected_date', sa.Date(), nullable=True),
    sa.Column('deliver_to', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('cancelled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['supplier_id'], ['purchasing_suppliers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_purchasing_orders_number'), 'purchasing_orders', ['number'], unique=True)
    op.create_index(op.f('ix_purchasing_orders_status'), 'purchasing_orders', ['status'], unique=False)
    op.create_index(op.f('ix_purchasing_orders_supplier_id'), 'purchasing_orders', ['supplier_id'], unique=False)
    op.create_table('purchasing_bills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('supplier_reference', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('bill_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('subtotal_minor', sa.BigInteger(), nullable=False),
    sa.Column('gst_minor', sa.BigInteger(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('amount_paid_minor', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount_paid_minor >= 0 AND amount_paid_minor <= total_minor', name='ck_purchasing_bills_paid'),
    sa.ForeignKeyConstraint(['order_id'], ['purchasing_orders.id'], ),
    sa.ForeignKeyConstraint(['supplier_id'], ['purchasing_suppliers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('supplier_id', 'supplier_reference', name='uq_purchasing_bills_supplier_reference')
    )
    op.create_index(op.f('ix_purchasing_bills_number'), 'purchasing_bills', ['number'], unique=True)
    op.create_index(op.f('ix_purchasing_bills_order_id'), 'purchasing_bills', ['order_id'], unique=False)
    op.create_index(op.f('ix_purchasing_bills_status'), 'purchasing_bills', ['status'], unique=False)
    op.create_index(op.f('ix_purchasing_bills_supplier_id'), 'purchasing_bills', ['supplier_id'], unique=False)
    op.create_table('purchasing_order_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('tax_code', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('quantity_ordered', sa.Integer(), nullable=False),
    sa.Column('unit_cost_minor', sa.BigInteger(), nullable=False),
    sa.Column('quantity_received', sa.Integer(), nullable=False),
    sa.Column('quantity_billed', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity_billed <= quantity_received AND quantity_received <= quantity_ordered AND quantity_billed >= 0', name='ck_purchasing_order_lines_quantities'),
    sa.ForeignKeyConstraint(['order_id'], ['purchasing_orders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('order_id', 'line_no', name='uq_purchasing_order_lines_order_line')
    )
    op.create_index(op.f('ix_purchasing_order_lines_order_id'), 'purchasing_order_lines', ['order_id'], unique=False)
    op.create_table('purchasing_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('delivery_reference', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['purchasing_orders.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_purchasing_receipts_number'), 'purchasing_receipts', ['number'], unique=True)
    op.create_index(op.f('ix_purchasing_receipts_order_id'), 'purchasing_receipts', ['order_id'], unique=False)
    op.create_table('purchasing_bill_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bill_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_cost_minor', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('gst_minor', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('quantity > 0', name='ck_purchasing_bill_lines_quantity'),
    sa.ForeignKeyConstraint(['bill_id'], ['purchasing_bills.id'], ),
    sa.ForeignKeyConstraint(['order_line_id'], ['purchasing_order_lines.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_purchasing_bill_lines_bill_id'), 'purchasing_bill_lines', ['bill_id'], unique=False)
    op.create_index(op.f('ix_purchasing_bill_lines_order_line_id'), 'purchasing_bill_lines', ['order_line_id'], unique=False)
    op.create_table('purchasing_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('bill_id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name='ck_purchasing_payments_amount'),
    sa.ForeignKeyConstraint(['bill_id'], ['purchasing_bills.id'], ),
    sa.ForeignKeyConstraint(['supplier_id'], ['purchasing_suppliers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_purchasing_payments_bill_id'), 'purchasing_payments', ['bill_id'], unique=False)
    op.create_index(op.f('ix_purchasing_payments_number'), 'purchasing_payments', ['number'], unique=True)
    op.create_index(op.f('ix_purchasing_payments_supplier_id'), 'purchasing_payments', ['supplier_id'], unique=False)
    op.create_table('purchasing_receipt_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('receipt_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('move_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity > 0', name='ck_purchasing_receipt_lines_quantity'),
    sa.ForeignKeyConstraint(['order_line_id'], ['purchasing_order_lines.id'], ),
    sa.ForeignKeyConstraint(['receipt_id'], ['purchasing_receipts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_purchasing_receipt_lines_order_line_id'), 'purchasing_receipt_lines', ['order_line_id'], unique=False)
    op.create_index(op.f('ix_purchasing_receipt_lines_receipt_id'), 'purchasing_receipt_lines', ['receipt_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_purchasing_receipt_lines_order_line_id'), table_name='purchasing_receipt_lines')
    op.drop_index(op.f('ix_purchasing_receipt_lines_receipt_id'), table_name='purchasing_receipt_lines')
    op.drop_table('purchasing_receipt_lines')
    op.drop_index(op.f('ix_purchasing_payments_bill_id'), table_name='purchasing_payments')
    op.drop_index(op.f('ix_purchasing_payments_number'), table_name='purchasing_payments')
    op.drop_index(op.f('ix_purchasing_payments_supplier_id'), table_name='purchasing_payments')
    op.drop_table('purchasing_payments')
    op.drop_index(op.f('ix_purchasing_bill_lines_bill_id'), table_name='purchasing_bill_lines')
    op.drop_index(op.f('ix_purchasing_bill_lines_order_line_id'), table_name='purchasing_bill_lines')
    op.drop_table('purchasing_bill_lines')
    op.drop_index(op.f('ix_purchasing_receipts_number'), table_name='purchasing_receipts')
    op.drop_index(op.f('ix_purchasing_receipts_order_id'), table_name='purchasing_receipts')
    op.drop_table('purchasing_receipts')
    op.drop_index(op.f('ix_purchasing_order_lines_order_id'), table_name='purchasing_order_lines')
    op.drop_table('purchasing_order_lines')
    op.drop_index(op.f('ix_purchasing_bills_number'), table_name='purchasing_bills')
    op.drop_index(op.f('ix_purchasing_bills_order_id'), table_name='purchasing_bills')
    op.drop_index(op.f('ix_purchasing_bills_status'), table_name='purchasing_bills')
    op.drop_index(op.f('ix_purchasing_bills_supplier_id'), table_name='purchasing_bills')
    op.drop_table('purchasing_bills')
    op.drop_index(op.f('ix_purchasing_orders_number'), table_name='purchasing_orders')
    op.drop_index(op.f('ix_purchasing_orders_status'), table_name='purchasing_orders')
    op.drop_index(op.f('ix_purchasing_orders_supplier_id'), table_name='purchasing_orders')
    op.drop_table('purchasing_orders')
    op.drop_index(op.f('ix_purchasing_suppliers_code'), table_name='purchasing_suppliers')
    op.drop_table('purchasing_suppliers')
