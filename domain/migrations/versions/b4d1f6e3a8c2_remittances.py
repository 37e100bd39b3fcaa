"""remittances (super and PAYG withholding payments) and the payslips each carried (issue 18)

Revision ID: b4d1f6e3a8c2
Revises: a7c3e9f1d2b4
Create Date: 2026-12-06 08:50:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'b4d1f6e3a8c2'
down_revision = 'a7c3e9f1d2b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'remittances',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('pay_date_from', sa.Date(), nullable=False),
        sa.Column('pay_date_to', sa.Date(), nullable=False),
        sa.Column('paid_on', sa.Date(), nullable=False),
        sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column('total_minor', sa.BigInteger(), nullable=False),
        sa.Column('payslips', sa.Integer(), nullable=False),
        sa.Column('journal_entry_id', sa.Integer(), nullable=True),
        sa.Column('csv_document_id', sa.Integer(), nullable=True),
        sa.Column('json_document_id', sa.Integer(), nullable=True),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['journal_entry_id'], ['journal_entries.id'], ),
        sa.ForeignKeyConstraint(['csv_document_id'], ['documents.id'], ),
        sa.ForeignKeyConstraint(['json_document_id'], ['documents.id'], ),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('number'),
    )
    op.create_index('ix_remittances_kind', 'remittances', ['kind'], unique=False)
    op.create_index('ix_remittances_paid_on', 'remittances', ['paid_on'], unique=False)
    op.create_table(
        'remittance_payslips',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('remittance_id', sa.Integer(), nullable=False),
        sa.Column('payslip_id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['remittance_id'], ['remittances.id'], ),
        sa.ForeignKeyConstraint(['payslip_id'], ['payslips.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('payslip_id', 'kind'),
    )
    op.create_index('ix_remittance_payslips_remittance_id', 'remittance_payslips', ['remittance_id'], unique=False)
    op.create_index('ix_remittance_payslips_payslip_id', 'remittance_payslips', ['payslip_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_remittance_payslips_payslip_id', table_name='remittance_payslips')
    op.drop_index('ix_remittance_payslips_remittance_id', table_name='remittance_payslips')
    op.drop_table('remittance_payslips')
    op.drop_index('ix_remittances_paid_on', table_name='remittances')
    op.drop_index('ix_remittances_kind', table_name='remittances')
    op.drop_table('remittances')
