"""payroll_rates: dated payroll rates an admin adds (the super guarantee rate from a date), beside the bundled ones

Issue 18, item 8: the super guarantee rate is a dated setting of the payroll jurisdiction, not a constant inside a
salary structure. domain.payroll.jurisdiction bundles the rates known when mcs-erp was released; this table holds
the ones an admin adds later through the gated add_payroll_rate.

Revision ID: c5e2a7f4b9d3
Revises: a7c3e9f1d2b4
Create Date: 2026-12-06 08:50:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'c5e2a7f4b9d3'
down_revision = 'a7c3e9f1d2b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payroll_rates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('jurisdiction', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('rate', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('jurisdiction', 'name', 'effective_from')
    )


def downgrade() -> None:
    op.drop_table('payroll_rates')
