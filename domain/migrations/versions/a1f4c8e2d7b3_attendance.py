"""attendance records: each section's daily register (present, absent, late, excused)

Revision ID: a1f4c8e2d7b3
Revises: 9d2e5f7a3b14
Create Date: 2026-11-22 03:30:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'a1f4c8e2d7b3'
down_revision = '9d2e5f7a3b14'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('attendance_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('section_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['section_id'], ['sections.id'], ),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('student_id', 'on_date')
    )
    op.create_index('ix_attendance_records_section_id_on_date', 'attendance_records', ['section_id', 'on_date'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_attendance_records_section_id_on_date', table_name='attendance_records')
    op.drop_table('attendance_records')
