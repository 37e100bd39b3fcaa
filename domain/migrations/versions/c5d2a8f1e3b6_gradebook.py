"""gradebook: grading scales, assessment categories, missing/excused results, credits, exact term grades,
grade change history

Revision ID: c5d2a8f1e3b6
Revises: a1f4c8e2d7b3
Create Date: 2026-11-22 03:30:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'c5d2a8f1e3b6'
down_revision = 'a1f4c8e2d7b3'
branch_labels = None
depends_on = None


def _entity_columns() -> list[sa.Column]:
    return [sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False),
            sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)]


def upgrade() -> None:
    op.create_table('grading_scales', *_entity_columns(),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('rounding', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('decimals', sa.Integer(), nullable=False),
    sa.Column('bands', sa.Text(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('grading_categories', *_entity_columns(),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('weight_x100', sa.Integer(), nullable=False),
    sa.Column('drop_lowest', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('class_id', 'code')
    )
    op.create_index(op.f('ix_grading_categories_class_id'), 'grading_categories', ['class_id'], unique=False)
    op.create_table('grade_changes', *_entity_columns(),
    sa.Column('grade_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('before_score_x100', sa.Integer(), nullable=True),
    sa.Column('before_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('after_score_x100', sa.Integer(), nullable=True),
    sa.Column('after_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('term_percentage_before_x100', sa.Integer(), nullable=True),
    sa.Column('term_letter_before', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
    sa.Column('term_percentage_after_x100', sa.Integer(), nullable=True),
    sa.Column('term_letter_after', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('approved_by', sa.Integer(), nullable=True),
    sa.Column('action_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['pending_actions.id'], ),
    sa.ForeignKeyConstraint(['approved_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], ),
    sa.ForeignKeyConstraint(['grade_id'], ['grades.id'], ),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], ),
    sa.ForeignKeyConstraint(['term_id'], ['terms.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_grade_changes_class_id'), 'grade_changes', ['class_id'], unique=False)
    op.create_index(op.f('ix_grade_changes_grade_id'), 'grade_changes', ['grade_id'], unique=False)
    op.create_index(op.f('ix_grade_changes_student_id'), 'grade_changes', ['student_id'], unique=False)
    with op.batch_alter_table('subjects') as batch_op:
        batch_op.add_column(sa.Column('credits_x100', sa.Integer(), server_default='100', nullable=False))
    with op.batch_alter_table('classes') as batch_op:
        batch_op.add_column(sa.Column('grading_scale_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_classes_grading_scale_id', 'grading_scales', ['grading_scale_id'], ['id'])
    with op.batch_alter_table('grades') as batch_op:
        batch_op.alter_column('score_x100', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='scored',
                                      nullable=False))
    with op.batch_alter_table('term_grades') as batch_op:
        batch_op.add_column(sa.Column('percentage_exact', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
        batch_op.add_column(sa.Column('gpa_points_x100', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('passing', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('earns_credit', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('scale_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('term_grades') as batch_op:
        for name in ('scale_code', 'earns_credit', 'passing', 'gpa_points_x100', 'percentage_exact'):
            batch_op.drop_column(name)
    with op.batch_alter_table('grades') as batch_op:
        batch_op.drop_column('status')
        batch_op.alter_column('score_x100', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('classes') as batch_op:
        batch_op.drop_constraint('fk_classes_grading_scale_id', type_='foreignkey')
        batch_op.drop_column('grading_scale_id')
    with op.batch_alter_table('subjects') as batch_op:
        batch_op.drop_column('credits_x100')
    with op.batch_alter_table('grade_changes') as batch_op:
        for column in ('student_id', 'grade_id', 'class_id'):
            batch_op.drop_index(batch_op.f(f'ix_grade_changes_{column}'))
    op.drop_table('grade_changes')
    with op.batch_alter_table('grading_categories') as batch_op:
        batch_op.drop_index(batch_op.f('ix_grading_categories_class_id'))
    op.drop_table('grading_categories')
    op.drop_table('grading_scales')
