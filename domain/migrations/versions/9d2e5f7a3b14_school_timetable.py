"""rooms, lessons per week on subjects and classes (school timetables), job heartbeats

Revision ID: 9d2e5f7a3b14
Revises: 4e8b2c6d1a70
Create Date: 2026-11-22 03:00:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '9d2e5f7a3b14'
down_revision = '4e8b2c6d1a70'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rooms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('subjects') as batch_op:
        batch_op.add_column(sa.Column('weekly_lessons', sa.Integer(), server_default='4', nullable=False))
    with op.batch_alter_table('classes') as batch_op:
        batch_op.add_column(sa.Column('weekly_lessons', sa.Integer(), nullable=True))
    with op.batch_alter_table('jobs') as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch_op:
        batch_op.drop_column('heartbeat_at')
    with op.batch_alter_table('classes') as batch_op:
        batch_op.drop_column('weekly_lessons')
    with op.batch_alter_table('subjects') as batch_op:
        batch_op.drop_column('weekly_lessons')
    op.drop_table('rooms')
