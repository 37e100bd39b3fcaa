"""timetable feeds: secret, revocable calendar URLs of a teacher's, section's or room's timetable (the token's
SHA-256; revoked = soft-deleted)

Revision ID: e7b3c1f9a2d5
Revises: b8f2d6a4c1e9
Create Date: 2026-12-06 14:40:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'e7b3c1f9a2d5'
down_revision = 'b8f2d6a4c1e9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('timetable_feeds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=90), nullable=False),
    sa.Column('problem_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['problem_id'], ['timetable_problems.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )


def downgrade() -> None:
    op.drop_table('timetable_feeds')
