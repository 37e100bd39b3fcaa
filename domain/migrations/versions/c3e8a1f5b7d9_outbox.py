"""domain events: the outbox (events recorded with the change that caused them) and the inbox (each handler's
record of each event: handled, failed or dead)

Revision ID: c3e8a1f5b7d9
Revises: a7e3f1c9d5b2
Create Date: 2026-12-06 14:30:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'c3e8a1f5b7d9'
down_revision = 'a7e3f1c9d5b2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('aggregate', sqlmodel.sql.sqltypes.AutoString(length=81), nullable=False),
    sa.Column('aggregate_id', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('schema_version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('occurred_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('done_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('aggregate', 'aggregate_id', 'sequence', name='uq_outbox_aggregate_sequence')
    )
    op.create_index('ix_outbox_pending', 'outbox', ['id'], unique=False,
                    postgresql_where=sa.text('done_at IS NULL'), sqlite_where=sa.text('done_at IS NULL'))
    op.create_index('ix_outbox_unpublished', 'outbox', ['id'], unique=False,
                    postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))
    op.create_table('inbox',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('handler', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['outbox.id'], ),
    sa.PrimaryKeyConstraint('event_id', 'handler')
    )
    op.create_index(op.f('ix_inbox_status'), 'inbox', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_inbox_status'), table_name='inbox')
    op.drop_table('inbox')
    op.drop_index('ix_outbox_unpublished', table_name='outbox')
    op.drop_index('ix_outbox_pending', table_name='outbox')
    op.drop_table('outbox')
