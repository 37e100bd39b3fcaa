"""audit log v2: entries integrated into an RFC 9162 Merkle tree (leaf_index, leaf_hash, the audit_tree state row)
instead of the hash chain under one head row (prev_hash, hash, audit_head)

Existing entries keep their content and wait, without a position, for the sequencer, which integrates them in id
order. Downgrading brings the v1 columns back empty (the chain would need re-building): a downgraded log does not
verify.

Revision ID: a7e3f1c9d5b2
Revises: f9d3b7a1c5e8
Create Date: 2026-12-06 11:30:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'a7e3f1c9d5b2'
down_revision = 'f9d3b7a1c5e8'
branch_labels = None
depends_on = None

EMPTY_ROOT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'


def upgrade() -> None:
    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.add_column(sa.Column('leaf_index', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('leaf_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('hash')
    op.create_index('ix_audit_log_leaf_index', 'audit_log', ['leaf_index'], unique=True,
                    postgresql_where=sa.text('leaf_index IS NOT NULL'), sqlite_where=sa.text('leaf_index IS NOT NULL'))
    op.create_index('ix_audit_log_pending', 'audit_log', ['id'], unique=False,
                    postgresql_where=sa.text('leaf_index IS NULL'), sqlite_where=sa.text('leaf_index IS NULL'))
    op.drop_table('audit_head')
    op.create_table('audit_tree',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('root', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('frontier', sa.Text(), nullable=False),
    sa.Column('integrated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('checkpoint_size', sa.BigInteger(), nullable=False),
    sa.Column('checkpoint_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('checkpoint', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.execute(f"INSERT INTO audit_tree (id, size, root, frontier, checkpoint_size) VALUES (1, 0, '{EMPTY_ROOT}', "
               "'[]', 0)")


def downgrade() -> None:
    op.drop_table('audit_tree')
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=False),
    sa.Column('last_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.drop_index('ix_audit_log_pending', table_name='audit_log')
    op.drop_index('ix_audit_log_leaf_index', table_name='audit_log')
    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))
        batch_op.drop_column('leaf_hash')
        batch_op.drop_column('leaf_index')
