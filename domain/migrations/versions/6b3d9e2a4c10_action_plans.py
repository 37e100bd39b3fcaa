"""pending_actions.plan, plan_hash: the canonical plan a gated call previewed and its SHA-256

The gate stores what the preview was derived from (domain.kernel.plan.Plan) and applies an action only when a
plan made again from the current state hashes the same. Actions proposed before this revision have no plan and
are refused as stale when released.

Revision ID: 6b3d9e2a4c10
Revises: 5a9c3e1f7b20
Create Date: 2026-12-06 12:00:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '6b3d9e2a4c10'
down_revision = '5a9c3e1f7b20'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pending_actions') as batch_op:
        batch_op.add_column(sa.Column('plan', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('plan_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pending_actions') as batch_op:
        batch_op.drop_column('plan_hash')
        batch_op.drop_column('plan')
