"""guardians in the loop: guardian records linked to users, and one-time sign-in links (issue 21)

Revision ID: a7c4e1b9d2f3
Revises: e3b7d1a9c5f2
Create Date: 2026-12-06 17:20:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'a7c4e1b9d2f3'
down_revision = 'e3b7d1a9c5f2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('guardian_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('uq_guardian_accounts_live_guardian', 'guardian_accounts', ['guardian_id'], unique=True,
                    sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
    op.create_index(op.f('ix_guardian_accounts_user_id'), 'guardian_accounts', ['user_id'], unique=False)
    op.create_table('sign_in_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_sign_in_links_user_id'), 'sign_in_links', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sign_in_links_user_id'), table_name='sign_in_links')
    op.drop_table('sign_in_links')
    op.drop_index(op.f('ix_guardian_accounts_user_id'), table_name='guardian_accounts')
    op.drop_index('uq_guardian_accounts_live_guardian', table_name='guardian_accounts')
    op.drop_table('guardian_accounts')
