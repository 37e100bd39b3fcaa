"""jobs: the worker that ran a job's latest attempt ("worker:HOST:PID" or "server:HOST:PID")

Revision ID: 09d01aa1262d
Revises: d4f8a2c6e1b9
Create Date: 2026-12-05 10:00:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '09d01aa1262d'
down_revision = 'd4f8a2c6e1b9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch_op:
        batch_op.add_column(sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch_op:
        batch_op.drop_column('worker')
