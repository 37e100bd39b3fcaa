"""students, employees, guardians, families: name_folded, the name case-folded without accents, for search

Name search ignores case and accents on SQLite and PostgreSQL alike ("Hernandez" finds "Hernández") by comparing
a folded copy of the name (domain.kernel.text.fold, kept by the domain on every write) with a folded query.
Existing rows are backfilled here with the same folding (copied, so this revision never changes).

Revision ID: a7c3e9f1d2b4
Revises: 6b3d9e2a4c10
Create Date: 2026-12-06 06:15:00.000000
"""
import unicodedata

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'a7c3e9f1d2b4'
down_revision = '6b3d9e2a4c10'
branch_labels = None
depends_on = None

SOURCES = {"students": ("first_name", "last_name"), "employees": ("first_name", "last_name"),
           "guardians": ("name",), "families": ("name",)}


BASE_LETTERS = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ħ": "h", "ŧ": "t", "ı": "i", "æ": "ae", "œ": "oe",
                              "þ": "th", "ð": "d"})


def _fold(text: str) -> str:
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return " ".join(bare.casefold().translate(BASE_LETTERS).split())[:250]


def upgrade() -> None:
    bind = op.get_bind()
    for table, sources in SOURCES.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('name_folded', sqlmodel.sql.sqltypes.AutoString(length=250),
                                          server_default='', nullable=False))
            batch_op.create_index(f'ix_{table}_name_folded', ['name_folded'], unique=False)
        t = sa.table(table, sa.column('id', sa.Integer), sa.column('name_folded', sa.String),
                     *(sa.column(s, sa.String) for s in sources))
        rows = bind.execute(sa.select(t.c.id, *(t.c[s] for s in sources))).all()
        values = [{"row_id": row[0], "folded": _fold(" ".join(str(v or "") for v in row[1:]))} for row in rows]
        if values:
            bind.execute(t.update().where(t.c.id == sa.bindparam("row_id")).values(name_folded=sa.bindparam("folded")),
                         values)


def downgrade() -> None:
    for table in SOURCES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(f'ix_{table}_name_folded')
            batch_op.drop_column('name_folded')
