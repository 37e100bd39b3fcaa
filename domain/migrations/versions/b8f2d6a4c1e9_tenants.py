"""tenants: the registry of the schools of a deployment (public.tenants on PostgreSQL, the default SQLite file)

Created only where the registry lives: a tenant's own schema or file (migrated with the `tenant` attribute set,
domain.migrations.schema.migrate) has no registry of its own.

Revision ID: b8f2d6a4c1e9
Revises: c8f2a6d4e1b3
Create Date: 2026-12-06 14:45:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'b8f2d6a4c1e9'
down_revision = 'c8f2a6d4e1b3'
branch_labels = None
depends_on = None


def _is_tenant() -> bool:
    return op.get_context().config.attributes.get("tenant") is not None


def upgrade() -> None:
    if _is_tenant():
        return
    op.create_table('tenants',
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=31), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('schema', sa.String(length=63), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('database_url', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('code'),
    sa.UniqueConstraint('schema'),
    )


def downgrade() -> None:
    if _is_tenant():
        return
    op.drop_table('tenants')
