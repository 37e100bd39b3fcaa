"""timetable changes: a problem changed after publication names the problem it changed and the change (issue 24,
minimal perturbation)

Revision ID: c4f8a2e6d1b9
Revises: a7c4e1b9d2f3
Create Date: 2026-12-06 17:20:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = 'c4f8a2e6d1b9'
down_revision = 'a7c4e1b9d2f3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('timetable_problems') as batch:
        batch.add_column(sa.Column('based_on_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('change', sa.Text(), nullable=True))
        batch.create_foreign_key('fk_timetable_problems_based_on_id', 'timetable_problems', ['based_on_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('timetable_problems') as batch:
        batch.drop_constraint('fk_timetable_problems_based_on_id', type_='foreignkey')
        batch.drop_column('change')
        batch.drop_column('based_on_id')
