"""shop sales (issue 22, part 3): sales orders and their lines, returns and their lines; a fees invoice may be a
charge from another context (no fee schedule or term, a memo)

Revision ID: b8e4d2a6c9f3
Revises: c4f8a2e6d1b9
Create Date: 2026-12-06 17:30:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'b8e4d2a6c9f3'
down_revision = 'c4f8a2e6d1b9'
branch_labels = None
depends_on = None


def _entity() -> list[sa.Column]:
    return [sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False),
            sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)]


def _text(name: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def _money(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False)


NOT_NULL = ("fee_schedule_id INTEGER NOT NULL", "term_id INTEGER NOT NULL")


def _sqlite_nullable(columns: tuple[str, ...], *, nullable: bool) -> None:
    """Drop (or put back) NOT NULL on invoices' columns by editing the table's SQL in sqlite_master, the way SQLite's
    documentation gives for changes that leave the stored rows as they are ("Making Other Kinds Of Table Schema
    Changes", sqlite.org/lang_altertable.html section 7: removing NOT NULL is one). Alembic's batch mode would copy
    the table and drop the old one, which the migration's connection (foreign keys on, inside a transaction) refuses
    once invoice lines, allocations or credit notes point at invoices: every school that has billed."""
    bind = op.get_bind()
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'invoices'").scalar_one()
    for column in columns:
        loose = column.removesuffix(" NOT NULL")
        before, after = (column, loose) if nullable else (loose + ",", column + ",")
        if before not in sql:
            raise RuntimeError(f"invoices' SQL has no {before!r}: {sql}")
        sql = sql.replace(before, after, 1)
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'invoices'", (sql,))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_nullable(NOT_NULL, nullable=True)
        op.execute("ALTER TABLE invoices ADD COLUMN memo VARCHAR(200)")
    else:
        op.alter_column('invoices', 'fee_schedule_id', existing_type=sa.Integer(), nullable=True)
        op.alter_column('invoices', 'term_id', existing_type=sa.Integer(), nullable=True)
        op.add_column('invoices', _text('memo', 200, nullable=True))
    op.create_table('inventory_sales_orders', *_entity(),
    _text('order_number', 24), _text('customer_kind', 10),
    sa.Column('family_id', sa.Integer(), nullable=True),
    sa.Column('student_id', sa.Integer(), nullable=True),
    _text('customer_name', 120), _text('price_list', 20),
    sa.Column('location_id', sa.Integer(), nullable=False),
    _text('currency', 3), _text('status', 10),
    sa.Column('order_date', sa.Date(), nullable=False),
    _money('total_minor'), _money('gst_minor'),
    sa.Column('confirmed_on', sa.Date(), nullable=True),
    sa.Column('fulfilled_on', sa.Date(), nullable=True),
    sa.Column('invoiced_on', sa.Date(), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('cancelled_on', sa.Date(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('invoice_entry_id', sa.Integer(), nullable=True),
    _text('payment_method', 10, nullable=True),
    sa.Column('payment_entry_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'confirmed', 'fulfilled', 'invoiced', 'paid', 'cancelled')",
                       name='ck_inventory_sales_orders_status'),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], ),
    sa.ForeignKeyConstraint(['location_id'], ['inventory_locations.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.ForeignKeyConstraint(['invoice_entry_id'], ['journal_entries.id'], ),
    sa.ForeignKeyConstraint(['payment_entry_id'], ['journal_entries.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('order_number'))
    op.create_index(op.f('ix_inventory_sales_orders_family_id'), 'inventory_sales_orders', ['family_id'])
    op.create_index(op.f('ix_inventory_sales_orders_order_date'), 'inventory_sales_orders', ['order_date'])
    op.create_index(op.f('ix_inventory_sales_orders_fulfilled_on'), 'inventory_sales_orders', ['fulfilled_on'])
    op.create_index('ix_inventory_sales_orders_status_location', 'inventory_sales_orders',
                    ['status', 'location_id'])
    op.create_table('inventory_sales_order_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    _money('unit_price_minor'), _money('amount_minor'), _money('gst_minor'),
    sa.Column('cost_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('returned_quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity > 0 AND returned_quantity >= 0 AND returned_quantity <= quantity',
                       name='ck_inventory_sales_order_lines_quantity'),
    sa.ForeignKeyConstraint(['order_id'], ['inventory_sales_orders.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['inventory_products.id'], ),
    sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_inventory_sales_order_lines_order_id'), 'inventory_sales_order_lines', ['order_id'])
    op.create_index('ix_inventory_sales_order_lines_product', 'inventory_sales_order_lines',
                    ['product_id', 'order_id'])
    op.create_table('inventory_sales_returns',
    sa.Column('id', sa.Integer(), nullable=False),
    _text('return_number', 24),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    _text('reason', 200),
    _money('amount_minor'), _money('gst_minor'), _money('cost_minor'),
    _text('refund_method', 14),
    sa.Column('credit_note_id', sa.Integer(), nullable=True),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['inventory_sales_orders.id'], ),
    sa.ForeignKeyConstraint(['location_id'], ['inventory_locations.id'], ),
    sa.ForeignKeyConstraint(['credit_note_id'], ['fee_credit_notes.id'], ),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('return_number'))
    op.create_index(op.f('ix_inventory_sales_returns_order_id'), 'inventory_sales_returns', ['order_id'])
    op.create_index(op.f('ix_inventory_sales_returns_on_date'), 'inventory_sales_returns', ['on_date'])
    op.create_table('inventory_sales_return_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('return_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    _money('amount_minor'), _money('gst_minor'), _money('cost_minor'),
    sa.ForeignKeyConstraint(['return_id'], ['inventory_sales_returns.id'], ),
    sa.ForeignKeyConstraint(['order_line_id'], ['inventory_sales_order_lines.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['inventory_products.id'], ),
    sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_inventory_sales_return_lines_return_id'), 'inventory_sales_return_lines',
                    ['return_id'])
    op.create_index(op.f('ix_inventory_sales_return_lines_order_line_id'), 'inventory_sales_return_lines',
                    ['order_line_id'])


def downgrade() -> None:
    for table in ('inventory_sales_return_lines', 'inventory_sales_returns', 'inventory_sales_order_lines',
                  'inventory_sales_orders'):
        op.drop_table(table)
    charges = op.get_bind().exec_driver_sql("SELECT count(*) FROM invoices WHERE fee_schedule_id IS NULL").scalar_one()
    if charges:
        raise RuntimeError(f"{charges} invoice(s) charge shop orders (no fee schedule): the schema before "
                           "b8e4d2a6c9f3 cannot hold them")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE invoices DROP COLUMN memo")
        _sqlite_nullable(NOT_NULL, nullable=False)
    else:
        op.drop_column('invoices', 'memo')
        op.alter_column('invoices', 'term_id', existing_type=sa.Integer(), nullable=False)
        op.alter_column('invoices', 'fee_schedule_id', existing_type=sa.Integer(), nullable=False)
