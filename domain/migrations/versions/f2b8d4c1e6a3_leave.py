"""leave: leave types (seeded with the National Employment Standards' defaults and Victoria's long service leave),
leave requests, and the movements ledger of leave hours (issue 18)

The seeded types are a copy of domain.leave.rules.DEFAULT_TYPES (copied, so this revision never changes): ANNUAL
(1/13 h per ordinary hour, Fair Work Act 2009 s 87), PERSONAL (1/26, s 96), LSL (1/60, Long Service Leave Act 2018
(Vic) s 6, taken or paid out after 7 years) and UNPAID.

Revision ID: f2b8d4c1e6a3
Revises: a7c3e9f1d2b4
Create Date: 2026-12-06 09:00:00.000000
"""
from datetime import datetime, timezone

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'f2b8d4c1e6a3'
down_revision = 'a7c3e9f1d2b4'
branch_labels = None
depends_on = None

FWA = "Fair Work Act 2009 (Cth)"
LSL_VIC = "Long Service Leave Act 2018 (Vic)"
TYPES = [
    {"code": "ANNUAL", "name": "Annual leave", "paid": True, "accrual_numerator": 1, "accrual_denominator": 13,
     "loading": True, "payable_on_termination": True, "service_years": None, "stp_code": "O",
     "source": f"{FWA} s 87(1)(a), s 87(2) (4 weeks a year, accruing with ordinary hours), s 89, s 90(2)"},
    {"code": "PERSONAL", "name": "Personal/carer's leave", "paid": True, "accrual_numerator": 1,
     "accrual_denominator": 26, "loading": False, "payable_on_termination": False, "service_years": None,
     "stp_code": "O", "source": f"{FWA} s 96(1), s 96(2) (10 days a year, accruing with ordinary hours)"},
    {"code": "LSL", "name": "Long service leave (Victoria)", "paid": True, "accrual_numerator": 1,
     "accrual_denominator": 60, "loading": False, "payable_on_termination": True, "service_years": 7,
     "stp_code": "O", "source": f"{LSL_VIC} s 6 (1/60 of continuous employment, after 7 years), s 7, s 9 (paid on "
                                "termination after 7 years)"},
    {"code": "UNPAID", "name": "Unpaid leave", "paid": False, "accrual_numerator": None, "accrual_denominator": None,
     "loading": False, "payable_on_termination": False, "service_years": None, "stp_code": None,
     "source": "No entitlement: unpaid days reduce pay"},
]


def _entity_columns() -> list[sa.Column]:
    return [sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False),
            sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)]


def upgrade() -> None:
    leave_types = op.create_table(
        'leave_types', *_entity_columns(),
        sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('paid', sa.Boolean(), nullable=False),
        sa.Column('accrual_numerator', sa.Integer(), nullable=True),
        sa.Column('accrual_denominator', sa.Integer(), nullable=True),
        sa.Column('loading', sa.Boolean(), nullable=False),
        sa.Column('payable_on_termination', sa.Boolean(), nullable=False),
        sa.Column('service_years', sa.Integer(), nullable=True),
        sa.Column('stp_code', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_leave_types_code'), 'leave_types', ['code'], unique=True)
    op.create_table(
        'leave_requests', *_entity_columns(),
        sa.Column('employee_id', sa.Integer(), nullable=False),
        sa.Column('leave_type_id', sa.Integer(), nullable=False),
        sa.Column('start_date', sa.Date(), nullable=False),
        sa.Column('end_date', sa.Date(), nullable=False),
        sa.Column('hours_per_day_x100', sa.Integer(), nullable=False),
        sa.Column('hours_x100', sa.Integer(), nullable=False),
        sa.Column('working_days', sa.Integer(), nullable=False),
        sa.Column('explicit_hours', sa.Boolean(), nullable=False),
        sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column('subdivision', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('requested_by', sa.Integer(), nullable=True),
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('decision_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], ),
        sa.ForeignKeyConstraint(['leave_type_id'], ['leave_types.id'], ),
        sa.ForeignKeyConstraint(['requested_by'], ['users.id'], ),
        sa.ForeignKeyConstraint(['decided_by'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_leave_requests_status'), 'leave_requests', ['status'], unique=False)
    op.create_index('ix_leave_requests_employee_dates', 'leave_requests', ['employee_id', 'start_date', 'end_date'],
                    unique=False)
    op.create_table(
        'leave_movements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('employee_id', sa.Integer(), nullable=False),
        sa.Column('leave_type_id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('hours_x100', sa.BigInteger(), nullable=False),
        sa.Column('on_date', sa.Date(), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=True),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], ),
        sa.ForeignKeyConstraint(['leave_type_id'], ['leave_types.id'], ),
        sa.ForeignKeyConstraint(['request_id'], ['leave_requests.id'], ),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_leave_movements_employee_type', 'leave_movements', ['employee_id', 'leave_type_id'],
                    unique=False)
    op.create_index(op.f('ix_leave_movements_source'), 'leave_movements', ['source'], unique=False)
    op.create_index(op.f('ix_leave_movements_request_id'), 'leave_movements', ['request_id'], unique=False)
    now = datetime.now(timezone.utc)
    op.bulk_insert(leave_types, [dict(t, version=1, created_at=now, updated_at=now, deleted_at=None) for t in TYPES])


def downgrade() -> None:
    op.drop_index(op.f('ix_leave_movements_request_id'), table_name='leave_movements')
    op.drop_index(op.f('ix_leave_movements_source'), table_name='leave_movements')
    op.drop_index('ix_leave_movements_employee_type', table_name='leave_movements')
    op.drop_table('leave_movements')
    op.drop_index('ix_leave_requests_employee_dates', table_name='leave_requests')
    op.drop_index(op.f('ix_leave_requests_status'), table_name='leave_requests')
    op.drop_table('leave_requests')
    op.drop_index(op.f('ix_leave_types_code'), table_name='leave_types')
    op.drop_table('leave_types')
