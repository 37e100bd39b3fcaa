"""timetable problems and solutions

Revision ID: 4e8b2c6d1a70
Revises: 7c1f3a9d5e21
Create Date: 2026-11-22 03:00:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '4e8b2c6d1a70'
down_revision = '7c1f3a9d5e21'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('timetable_problems',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('periods_per_day', sa.Integer(), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('published_solution_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('timetable_solutions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('hard_violations', sa.Integer(), nullable=False),
    sa.Column('soft_cost', sa.Integer(), nullable=False),
    sa.Column('breakdown', sa.Text(), nullable=False),
    sa.Column('assignments', sa.Text(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ),
    sa.ForeignKeyConstraint(['problem_id'], ['timetable_problems.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_timetable_solutions_job_id'), 'timetable_solutions', ['job_id'], unique=False)
    op.create_index(op.f('ix_timetable_solutions_problem_id'), 'timetable_solutions', ['problem_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('timetable_solutions') as batch_op:
        batch_op.drop_index(batch_op.f('ix_timetable_solutions_problem_id'))
        batch_op.drop_index(batch_op.f('ix_timetable_solutions_job_id'))
    op.drop_table('timetable_solutions')
    op.drop_table('timetable_problems')
