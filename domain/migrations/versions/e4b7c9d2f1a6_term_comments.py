"""term comments: a teacher's comment on a student's term in a class (report cards)

Revision ID: e4b7c9d2f1a6
Revises: d8e3f5a1c2b9
Create Date: 2026-11-22 04:00:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'e4b7c9d2f1a6'
down_revision = 'd8e3f5a1c2b9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('term_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('written_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], ),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], ),
    sa.ForeignKeyConstraint(['term_id'], ['terms.id'], ),
    sa.ForeignKeyConstraint(['written_by'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('class_id', 'term_id', 'student_id')
    )
    op.create_index(op.f('ix_term_comments_class_id'), 'term_comments', ['class_id'], unique=False)
    op.create_index(op.f('ix_term_comments_student_id'), 'term_comments', ['student_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('term_comments') as batch_op:
        batch_op.drop_index(batch_op.f('ix_term_comments_student_id'))
        batch_op.drop_index(batch_op.f('ix_term_comments_class_id'))
    op.drop_table('term_comments')
