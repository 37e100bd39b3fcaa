"""timetable covers: who takes an absent teacher's lessons (timetable_covers), and the academic year a school
timetable problem was built from (timetable_problems.academic_year_id, None for problems stored before)

Revision ID: c8f2a6d4e1b3
Revises: c3e8a1f5b7d9
Create Date: 2026-12-06 14:30:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'c8f2a6d4e1b3'
down_revision = 'c3e8a1f5b7d9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('timetable_problems') as batch_op:
        batch_op.add_column(sa.Column('academic_year_id', sa.Integer(), nullable=True))
    op.create_table('timetable_covers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('period', sa.Integer(), nullable=False),
    sa.Column('course_id', sqlmodel.sql.sqltypes.AutoString(length=90), nullable=False),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('absent_teacher', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('cover_teacher', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
    sa.Column('study_room', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('action_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['problem_id'], ['timetable_problems.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_timetable_covers_on_date'), 'timetable_covers', ['on_date'], unique=False)
    op.create_index(op.f('ix_timetable_covers_cover_teacher'), 'timetable_covers', ['cover_teacher'], unique=False)
    op.create_index('ix_timetable_covers_lesson', 'timetable_covers', ['problem_id', 'on_date', 'period', 'course_id'],
                    unique=True, postgresql_where=sa.text('deleted_at IS NULL'),
                    sqlite_where=sa.text('deleted_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_timetable_covers_lesson', table_name='timetable_covers')
    op.drop_index(op.f('ix_timetable_covers_cover_teacher'), table_name='timetable_covers')
    op.drop_index(op.f('ix_timetable_covers_on_date'), table_name='timetable_covers')
    op.drop_table('timetable_covers')
    with op.batch_alter_table('timetable_problems') as batch_op:
        batch_op.drop_column('academic_year_id')
