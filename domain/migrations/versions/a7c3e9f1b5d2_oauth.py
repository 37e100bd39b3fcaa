"""oauth: registered clients, grants (a user's consent), authorization codes, access and refresh tokens (only the
SHA-256 of each value)

A grant names the API key its user signed in with (revoking the key ends the grant's tokens). Every tenant
gets the tables (one schema for all); only the default tenant's `oauth_clients` is used, since a
client registers before anyone signs in (domain/oauth/models.py).

Revision ID: a7c3e9f1b5d2
Revises: d5a9e2c7f1b4
Create Date: 2026-12-06 17:30:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'a7c3e9f1b5d2'
down_revision = 'd5a9e2c7f1b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oauth_clients',
    sa.Column('client_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('client_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('secret_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('metadata', sa.Text(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('client_id'),
    )
    op.create_table('oauth_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('client_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('scopes', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('resource', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('revoked_reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], ),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_oauth_grants_user_id'), 'oauth_grants', ['user_id'], unique=False)
    op.create_index(op.f('ix_oauth_grants_key_id'), 'oauth_grants', ['key_id'], unique=False)
    op.create_index(op.f('ix_oauth_grants_client_id'), 'oauth_grants', ['client_id'], unique=False)
    op.create_table('oauth_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('code_challenge', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('redirect_uri', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('redirect_uri_explicit', sa.Boolean(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['oauth_grants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code_hash'),
    )
    op.create_index(op.f('ix_oauth_codes_grant_id'), 'oauth_codes', ['grant_id'], unique=False)
    op.create_table('oauth_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('scopes', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('rotated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['oauth_grants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash'),
    )
    op.create_index(op.f('ix_oauth_tokens_grant_id'), 'oauth_tokens', ['grant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_oauth_tokens_grant_id'), table_name='oauth_tokens')
    op.drop_table('oauth_tokens')
    op.drop_index(op.f('ix_oauth_codes_grant_id'), table_name='oauth_codes')
    op.drop_table('oauth_codes')
    op.drop_index(op.f('ix_oauth_grants_client_id'), table_name='oauth_grants')
    op.drop_index(op.f('ix_oauth_grants_key_id'), table_name='oauth_grants')
    op.drop_index(op.f('ix_oauth_grants_user_id'), table_name='oauth_grants')
    op.drop_table('oauth_grants')
    op.drop_table('oauth_clients')
