"""api_keys.demo: the keys `mcs-erp demo` issued, which the next demo run revokes

Keys named 'demo' that no `keys create` audit row created are the ones earlier demo runs issued (the demo did not
audit its keys); they are marked so the next demo run revokes them too. An operator's key named 'demo' was made
by `keys create`, which audits every key, so it stays unmarked.

Revision ID: 5a9c3e1f7b20
Revises: 09d01aa1262d
Create Date: 2026-12-06 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '5a9c3e1f7b20'
down_revision = '09d01aa1262d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys') as batch_op:
        batch_op.add_column(sa.Column('demo', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(sa.text("UPDATE api_keys SET demo = :yes WHERE name = 'demo' AND id NOT IN "
                       "(SELECT entity_id FROM audit_log WHERE entity = 'api_keys' AND tool = 'keys create' "
                       "AND entity_id IS NOT NULL)").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table('api_keys') as batch_op:
        batch_op.drop_column('demo')
