"""pay calendars (weekly, fortnightly, monthly), contracts' ordinary hours, leave loading and cessation, payslips'
dates and leave, payslip lines' reporting category and hours (issue 18)

Every existing contract and run is put on a MONTHLY calendar (calendar months, jurisdiction AU, national public
holidays), which is what they were paid by; existing payslips get their run's pay date and period.

Revision ID: e1a7c3b9d2f4
Revises: a7c3e9f1d2b4
Create Date: 2026-12-06 08:45:00.000000
"""
from datetime import date, datetime, timezone

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'e1a7c3b9d2f4'
down_revision = 'a7c3e9f1d2b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pay_calendars',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('frequency', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('anchor_date', sa.Date(), nullable=False),
        sa.Column('pay_day_offset', sa.Integer(), nullable=False),
        sa.Column('jurisdiction', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column('subdivision', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_pay_calendars_code', 'pay_calendars', ['code'], unique=True)
    calendars = sa.table('pay_calendars', sa.column('created_at', sqlmodel.sql.sqltypes.UTCDateTime()),
                         sa.column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime()),
                         sa.column('anchor_date', sa.Date()), *(sa.column(c) for c in (
                             'version', 'code', 'name', 'frequency', 'pay_day_offset', 'jurisdiction',
                             'subdivision')))
    now = datetime.now(timezone.utc)
    op.bulk_insert(calendars, [{"version": 1, "created_at": now, "updated_at": now, "code": "MONTHLY",
                                "name": "Monthly (calendar months)", "frequency": "monthly",
                                "anchor_date": date(2000, 1, 1), "pay_day_offset": 0, "jurisdiction": "AU",
                                "subdivision": None}])
    bind = op.get_bind()
    monthly = bind.execute(sa.text("SELECT id FROM pay_calendars WHERE code = 'MONTHLY'")).scalar_one()

    with op.batch_alter_table('employment_contracts') as batch_op:
        batch_op.add_column(sa.Column('pay_calendar_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('hours_per_week_x100', sa.Integer(), server_default='3800', nullable=False))
        batch_op.add_column(sa.Column('leave_loading_x100', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cessation_type', sqlmodel.sql.sqltypes.AutoString(length=1), nullable=True))
        batch_op.create_foreign_key('fk_employment_contracts_pay_calendar_id', 'pay_calendars', ['pay_calendar_id'],
                                    ['id'])
    with op.batch_alter_table('payroll_runs') as batch_op:
        batch_op.add_column(sa.Column('pay_calendar_id', sa.Integer(), nullable=True))
        batch_op.alter_column('period', existing_type=sqlmodel.sql.sqltypes.AutoString(length=7),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=10), existing_nullable=False)
        batch_op.create_foreign_key('fk_payroll_runs_pay_calendar_id', 'pay_calendars', ['pay_calendar_id'], ['id'])
    with op.batch_alter_table('payslips') as batch_op:
        batch_op.alter_column('period', existing_type=sqlmodel.sql.sqltypes.AutoString(length=7),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=10), existing_nullable=False)
        batch_op.alter_column('number', existing_type=sqlmodel.sql.sqltypes.AutoString(length=30),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=40), existing_nullable=False)
        batch_op.add_column(sa.Column('pay_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('period_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('period_end', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('leave', sa.Text(), server_default='{}', nullable=False))
        batch_op.create_index('ix_payslips_pay_date', ['pay_date'], unique=False)
    with op.batch_alter_table('payslip_lines') as batch_op:
        batch_op.add_column(sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True))
        batch_op.add_column(sa.Column('hours_x100', sa.Integer(), nullable=True))

    bind.execute(sa.text("UPDATE employment_contracts SET pay_calendar_id = :c"), {"c": monthly})
    bind.execute(sa.text("UPDATE payroll_runs SET pay_calendar_id = :c"), {"c": monthly})
    bind.execute(sa.text(
        "UPDATE payslips SET pay_date = (SELECT r.pay_date FROM payroll_runs r WHERE r.id = payslips.run_id), "
        "period_start = (SELECT r.period_start FROM payroll_runs r WHERE r.id = payslips.run_id), "
        "period_end = (SELECT r.period_end FROM payroll_runs r WHERE r.id = payslips.run_id)"))
    bind.execute(sa.text(
        "UPDATE payslip_lines SET category = CASE kind WHEN 'tax' THEN 'payg' WHEN 'deduction' THEN 'deduction' "
        "WHEN 'employer_contribution' THEN 'employer' ELSE 'gross' END"))


def downgrade() -> None:
    with op.batch_alter_table('payslip_lines') as batch_op:
        batch_op.drop_column('hours_x100')
        batch_op.drop_column('category')
    with op.batch_alter_table('payslips') as batch_op:
        batch_op.drop_index('ix_payslips_pay_date')
        batch_op.drop_column('leave')
        batch_op.drop_column('period_end')
        batch_op.drop_column('period_start')
        batch_op.drop_column('pay_date')
        batch_op.alter_column('number', existing_type=sqlmodel.sql.sqltypes.AutoString(length=40),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=30), existing_nullable=False)
        batch_op.alter_column('period', existing_type=sqlmodel.sql.sqltypes.AutoString(length=10),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=7), existing_nullable=False)
    with op.batch_alter_table('payroll_runs') as batch_op:
        batch_op.drop_constraint('fk_payroll_runs_pay_calendar_id', type_='foreignkey')
        batch_op.alter_column('period', existing_type=sqlmodel.sql.sqltypes.AutoString(length=10),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=7), existing_nullable=False)
        batch_op.drop_column('pay_calendar_id')
    with op.batch_alter_table('employment_contracts') as batch_op:
        batch_op.drop_constraint('fk_employment_contracts_pay_calendar_id', type_='foreignkey')
        batch_op.drop_column('cessation_type')
        batch_op.drop_column('leave_loading_x100')
        batch_op.drop_column('hours_per_week_x100')
        batch_op.drop_column('pay_calendar_id')
    op.drop_index('ix_pay_calendars_code', table_name='pay_calendars')
    op.drop_table('pay_calendars')
