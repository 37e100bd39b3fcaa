"""merge issue 18's migrations into one head: pay calendars (e1a7c3b9d2f4), leave (f2b8d4c1e6a3), payment details
(a3c9e5d2f7b1), remittances (b4d1f6e3a8c2) and payroll rates (c5e2a7f4b9d3), written side by side from a7c3e9f1d2b4;
they touch different tables, so their order does not matter

Revision ID: f9d3b7a1c5e8
Revises: e1a7c3b9d2f4, f2b8d4c1e6a3, a3c9e5d2f7b1, b4d1f6e3a8c2, c5e2a7f4b9d3
Create Date: 2026-12-06 09:30:00.000000
"""

revision = 'f9d3b7a1c5e8'
down_revision = ('e1a7c3b9d2f4', 'f2b8d4c1e6a3', 'a3c9e5d2f7b1', 'b4d1f6e3a8c2', 'c5e2a7f4b9d3')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
