"""fees: families, fee items, fee schedules and discounts, invoices and lines, payments, allocations, credit
notes, family credit, refunds

Revision ID: d4f8a2c6e1b9
Revises: c7a2e9f4b1d8
Create Date: 2026-12-04 13:30:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'd4f8a2c6e1b9'
down_revision = 'c7a2e9f4b1d8'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('families',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('billing_name', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=True),
    sa.Column('billing_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('billing_address', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_families_code'), 'families', ['code'], unique=True)
    op.create_index(op.f('ix_families_name'), 'families', ['name'], unique=False)
    op.create_table('fee_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('income_account_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['income_account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_fee_items_code'), 'fee_items', ['code'], unique=True)
    op.create_table('fee_discounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('percent_bp', sa.Integer(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
    sa.Column('fee_item_id', sa.Integer(), nullable=True),
    sa.Column('sibling_position', sa.Integer(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint("kind IN ('sibling', 'scholarship', 'other')", name='ck_fee_discounts_kind'),
    sa.CheckConstraint('(percent_bp IS NULL) != (amount IS NULL)', name='ck_fee_discounts_one_method'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['fee_item_id'], ['fee_items.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_fee_discounts_code'), 'fee_discounts', ['code'], unique=True)
    op.create_table('fee_schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['term_id'], ['terms.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_fee_schedules_code'), 'fee_schedules', ['code'], unique=True)
    op.create_index(op.f('ix_fee_schedules_term_id'), 'fee_schedules', ['term_id'], unique=False)
    op.create_table('fee_schedule_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('fee_schedule_id', sa.Integer(), nullable=False),
    sa.Column('fee_item_id', sa.Integer(), nullable=False),
    sa.Column('year_level_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount > 0', name='ck_fee_schedule_lines_amount'),
    sa.ForeignKeyConstraint(['fee_item_id'], ['fee_items.id'], ),
    sa.ForeignKeyConstraint(['fee_schedule_id'], ['fee_schedules.id'], ),
    sa.ForeignKeyConstraint(['year_level_id'], ['year_levels.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_fee_schedule_lines_fee_schedule_id'), 'fee_schedule_lines', ['fee_schedule_id'], unique=False)
    op.create_table('family_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_family_members_family_id'), 'family_members', ['family_id'], unique=False)
    op.create_index('uq_family_members_live_student', 'family_members', ['student_id'], unique=True, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
    op.create_table('fee_discount_awards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('discount_id', sa.Integer(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.ForeignKeyConstraint(['discount_id'], ['fee_discounts.id'], ),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_fee_discount_awards_student_id'), 'fee_discount_awards', ['student_id'], unique=False)
    op.create_index('uq_fee_discount_awards_live', 'fee_discount_awards', ['student_id', 'discount_id'], unique=True, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
    op.create_table('fee_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('payment_number', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('unallocated', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('deposit_account_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount > 0 AND unallocated >= 0 AND unallocated <= amount', name='ck_fee_payments_amounts'),
    sa.ForeignKeyConstraint(['deposit_account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], ),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ),
    sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key'),
    sa.UniqueConstraint('payment_number')
    )
    op.create_index(op.f('ix_fee_payments_family_id'), 'fee_payments', ['family_id'], unique=False)
    op.create_index(op.f('ix_fee_payments_received_on'), 'fee_payments', ['received_on'], unique=False)
    op.create_table('fee_refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('refund_number', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('refunded_on', sa.Date(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('bank_account_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('refunded_by', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount > 0', name='ck_fee_refunds_amount'),
    sa.ForeignKeyConstraint(['bank_account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], ),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ),
    sa.ForeignKeyConstraint(['refunded_by'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key', name='uq_fee_refunds_key'),
    sa.UniqueConstraint('refund_number')
    )
    op.create_index(op.f('ix_fee_refunds_family_id'), 'fee_refunds', ['family_id'], unique=False)
    op.create_table('invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('invoice_number', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('fee_schedule_id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('amount_paid', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('amount_credited', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('voided_on', sa.Date(), nullable=True),
    sa.Column('void_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('void_entry_id', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'issued', 'partially_paid', 'paid', 'void')", name='ck_invoices_status'),
    sa.CheckConstraint('total >= 0 AND amount_paid >= 0 AND amount_credited >= 0 AND amount_paid + amount_credited <= total', name='ck_invoices_amounts'),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], ),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ),
    sa.ForeignKeyConstraint(['fee_schedule_id'], ['fee_schedules.id'], ),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], ),
    sa.ForeignKeyConstraint(['term_id'], ['terms.id'], ),
    sa.ForeignKeyConstraint(['void_entry_id'], ['journal_entries.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_number')
    )
    op.create_index(op.f('ix_invoices_due_date'), 'invoices', ['due_date'], unique=False)
    op.create_index(op.f('ix_invoices_family_id'), 'invoices', ['family_id'], unique=False)
    op.create_index(op.f('ix_invoices_fee_schedule_id'), 'invoices', ['fee_schedule_id'], unique=False)
    op.create_index(op.f('ix_invoices_status'), 'invoices', ['status'], unique=False)
    op.create_index(op.f('ix_invoices_student_id'), 'invoices', ['student_id'], unique=False)
    op.create_index('uq_invoices_live_student_schedule', 'invoices', ['student_id', 'fee_schedule_id'], unique=True, sqlite_where=sa.text("status != 'void'"), postgresql_where=sa.text("status != 'void'"))
    op.create_table('fee_credit_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('credit_note_number', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('applied', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('issued_by', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount > 0 AND applied >= 0 AND applied <= amount', name='ck_fee_credit_notes_amounts'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], ),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.ForeignKeyConstraint(['issued_by'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('credit_note_number')
    )
    op.create_index(op.f('ix_fee_credit_notes_family_id'), 'fee_credit_notes', ['family_id'], unique=False)
    op.create_index(op.f('ix_fee_credit_notes_invoice_id'), 'fee_credit_notes', ['invoice_id'], unique=False)
    op.create_table('invoice_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('fee_item_id', sa.Integer(), nullable=True),
    sa.Column('discount_id', sa.Integer(), nullable=True),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IN ('fee', 'discount')", name='ck_invoice_lines_kind'),
    sa.CheckConstraint('amount > 0', name='ck_invoice_lines_amount'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['discount_id'], ['fee_discounts.id'], ),
    sa.ForeignKeyConstraint(['fee_item_id'], ['fee_items.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_invoice_lines_invoice_id'), 'invoice_lines', ['invoice_id'], unique=False)
    op.create_table('family_credits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('credit_note_id', sa.Integer(), nullable=True),
    sa.Column('refund_id', sa.Integer(), nullable=True),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.CheckConstraint("kind IN ('overpayment', 'credit_note', 'applied', 'refund')", name='ck_family_credits_kind'),
    sa.CheckConstraint('amount != 0', name='ck_family_credits_amount'),
    sa.ForeignKeyConstraint(['credit_note_id'], ['fee_credit_notes.id'], ),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], ),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['fee_payments.id'], ),
    sa.ForeignKeyConstraint(['refund_id'], ['fee_refunds.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_index(op.f('ix_family_credits_family_id'), 'family_credits', ['family_id'], unique=False)
    op.create_table('fee_allocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('credit_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('allocated_on', sa.Date(), nullable=False),
    sa.CheckConstraint('(payment_id IS NULL) != (credit_id IS NULL)', name='ck_fee_allocations_source'),
    sa.CheckConstraint('amount > 0', name='ck_fee_allocations_amount'),
    sa.ForeignKeyConstraint(['credit_id'], ['family_credits.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['fee_payments.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_fee_allocations_invoice_id'), 'fee_allocations', ['invoice_id'], unique=False)
    op.create_index(op.f('ix_fee_allocations_payment_id'), 'fee_allocations', ['payment_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_fee_allocations_payment_id'), table_name='fee_allocations')
    op.drop_index(op.f('ix_fee_allocations_invoice_id'), table_name='fee_allocations')
    op.drop_table('fee_allocations')
    op.drop_index(op.f('ix_family_credits_family_id'), table_name='family_credits')
    op.drop_table('family_credits')
    op.drop_index(op.f('ix_invoice_lines_invoice_id'), table_name='invoice_lines')
    op.drop_table('invoice_lines')
    op.drop_index(op.f('ix_fee_credit_notes_invoice_id'), table_name='fee_credit_notes')
    op.drop_index(op.f('ix_fee_credit_notes_family_id'), table_name='fee_credit_notes')
    op.drop_table('fee_credit_notes')
    op.drop_index('uq_invoices_live_student_schedule', table_name='invoices', sqlite_where=sa.text("status != 'void'"), postgresql_where=sa.text("status != 'void'"))
    op.drop_index(op.f('ix_invoices_student_id'), table_name='invoices')
    op.drop_index(op.f('ix_invoices_status'), table_name='invoices')
    op.drop_index(op.f('ix_invoices_fee_schedule_id'), table_name='invoices')
    op.drop_index(op.f('ix_invoices_family_id'), table_name='invoices')
    op.drop_index(op.f('ix_invoices_due_date'), table_name='invoices')
    op.drop_table('invoices')
    op.drop_index(op.f('ix_fee_refunds_family_id'), table_name='fee_refunds')
    op.drop_table('fee_refunds')
    op.drop_index(op.f('ix_fee_payments_received_on'), table_name='fee_payments')
    op.drop_index(op.f('ix_fee_payments_family_id'), table_name='fee_payments')
    op.drop_table('fee_payments')
    op.drop_index('uq_fee_discount_awards_live', table_name='fee_discount_awards', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
    op.drop_index(op.f('ix_fee_discount_awards_student_id'), table_name='fee_discount_awards')
    op.drop_table('fee_discount_awards')
    op.drop_index('uq_family_members_live_student', table_name='family_members', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
    op.drop_index(op.f('ix_family_members_family_id'), table_name='family_members')
    op.drop_table('family_members')
    op.drop_index(op.f('ix_fee_schedule_lines_fee_schedule_id'), table_name='fee_schedule_lines')
    op.drop_table('fee_schedule_lines')
    op.drop_index(op.f('ix_fee_schedules_term_id'), table_name='fee_schedules')
    op.drop_index(op.f('ix_fee_schedules_code'), table_name='fee_schedules')
    op.drop_table('fee_schedules')
    op.drop_index(op.f('ix_fee_discounts_code'), table_name='fee_discounts')
    op.drop_table('fee_discounts')
    op.drop_index(op.f('ix_fee_items_code'), table_name='fee_items')
    op.drop_table('fee_items')
    op.drop_index(op.f('ix_families_name'), table_name='families')
    op.drop_index(op.f('ix_families_code'), table_name='families')
    op.drop_table('families')
