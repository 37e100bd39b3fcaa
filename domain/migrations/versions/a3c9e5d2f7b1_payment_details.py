"""employee payment details: bank account and tax file number encrypted at rest, address, super fund, STP codes
(issue 18 item 6)

Revision ID: a3c9e5d2f7b1
Revises: a7c3e9f1d2b4
Create Date: 2026-12-06 09:00:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'a3c9e5d2f7b1'
down_revision = 'a7c3e9f1d2b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        'employee_payment_details',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('employee_id', sa.Integer(), nullable=False),
        sa.Column('bank_bsb_enc', text(length=200), nullable=False),
        sa.Column('bank_account_number_enc', text(length=200), nullable=False),
        sa.Column('bank_account_name', text(length=32), nullable=False),
        sa.Column('tfn_enc', text(length=200), nullable=True),
        sa.Column('date_of_birth', sa.Date(), nullable=True),
        sa.Column('address_line', text(length=200), nullable=True),
        sa.Column('address_suburb', text(length=60), nullable=True),
        sa.Column('address_state', text(length=3), nullable=True),
        sa.Column('address_postcode', text(length=4), nullable=True),
        sa.Column('super_fund_name', text(length=200), nullable=True),
        sa.Column('super_fund_abn', text(length=11), nullable=True),
        sa.Column('super_fund_usi', text(length=20), nullable=True),
        sa.Column('super_member_number', text(length=20), nullable=True),
        sa.Column('employment_basis', text(length=1), nullable=True),
        sa.Column('tax_treatment', text(length=6), nullable=True),
        sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_employee_payment_details_employee_id'), 'employee_payment_details', ['employee_id'],
                    unique=True)


def downgrade() -> None:
    with op.batch_alter_table('employee_payment_details') as batch_op:
        batch_op.drop_index(batch_op.f('ix_employee_payment_details_employee_id'))
    op.drop_table('employee_payment_details')
