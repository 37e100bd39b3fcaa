"""inventory (issue 22, first slice): products and their prices, locations, stock moves, stock levels, valuations,
reorder points, stocktakes

Revision ID: d4a7e2c9b1f6
Revises: e7b3c1f9a2d5
Create Date: 2026-12-06 15:00:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'd4a7e2c9b1f6'
down_revision = 'e7b3c1f9a2d5'
branch_labels = None
depends_on = None


def _entity() -> list[sa.Column]:
    return [sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False),
            sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)]


def _text(name: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


IMMUTABLE = "inventory_moves rows are immutable: a stock move is corrected by another move"


def _immutable_moves() -> None:
    """Refuse UPDATE and DELETE of stock moves in the database itself (the summaries are derived from them)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION inventory_moves_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   f"RAISE EXCEPTION '{IMMUTABLE}'; END $$")
        op.execute("CREATE TRIGGER inventory_moves_immutable BEFORE UPDATE OR DELETE ON inventory_moves "
                   "FOR EACH ROW EXECUTE FUNCTION inventory_moves_immutable()")
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER inventory_moves_no_{event.lower()} BEFORE {event} ON inventory_moves "
                   f"BEGIN SELECT RAISE(ABORT, '{IMMUTABLE}'); END")


def upgrade() -> None:
    op.create_table('inventory_products', *_entity(),
    _text('sku', 32), _text('name', 120), _text('category', 60), _text('unit', 20), _text('tax_code', 10),
    _text('currency', 3),
    sa.Column('is_template', sa.Boolean(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=True),
    _text('attributes', 500),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['inventory_products.id'], ),
    sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_inventory_products_sku'), 'inventory_products', ['sku'], unique=True)
    op.create_index(op.f('ix_inventory_products_category'), 'inventory_products', ['category'], unique=False)
    op.create_index(op.f('ix_inventory_products_template_id'), 'inventory_products', ['template_id'], unique=False)
    op.create_table('inventory_prices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    _text('price_list', 20),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['inventory_products.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('product_id', 'price_list', name='uq_inventory_prices_product_list'))
    op.create_table('inventory_locations', *_entity(),
    _text('code', 20), _text('name', 120), _text('kind', 12),
    sa.Column('allow_backorders', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_inventory_locations_code'), 'inventory_locations', ['code'], unique=True)
    op.create_table('inventory_moves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    _text('kind', 12),
    sa.Column('from_location_id', sa.Integer(), nullable=True),
    sa.Column('to_location_id', sa.Integer(), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_cost_minor', sa.BigInteger(), nullable=False),
    sa.Column('value_minor', sa.BigInteger(), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    _text('reason', 200), _text('source', 80),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint('quantity > 0', name='ck_inventory_moves_quantity'),
    sa.ForeignKeyConstraint(['from_location_id'], ['inventory_locations.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['inventory_products.id'], ),
    sa.ForeignKeyConstraint(['to_location_id'], ['inventory_locations.id'], ),
    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_inventory_moves_product', 'inventory_moves', ['product_id', 'id'], unique=False)
    op.create_index(op.f('ix_inventory_moves_source'), 'inventory_moves', ['source'], unique=False)
    _immutable_moves()
    op.create_table('inventory_levels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('on_hand', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['inventory_locations.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['inventory_products.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('product_id', 'location_id', name='uq_inventory_levels_product_location'))
    op.create_index(op.f('ix_inventory_levels_location_id'), 'inventory_levels', ['location_id'], unique=False)
    op.create_table('inventory_valuations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('value_minor', sa.BigInteger(), nullable=False),
    sa.Column('last_unit_cost_minor', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['inventory_products.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('product_id'))
    op.create_table('inventory_reorder_points', *_entity(),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('minimum', sa.Integer(), nullable=False),
    sa.Column('reorder_to', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['inventory_locations.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['inventory_products.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('product_id', 'location_id', name='uq_inventory_reorder_product_location'))
    op.create_table('inventory_stocktakes', *_entity(),
    sa.Column('location_id', sa.Integer(), nullable=False),
    _text('status', 10),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('applied_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['location_id'], ['inventory_locations.id'], ),
    sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_inventory_stocktakes_location_id'), 'inventory_stocktakes', ['location_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_inventory_stocktakes_location_id'), table_name='inventory_stocktakes')
    op.drop_table('inventory_stocktakes')
    op.drop_table('inventory_reorder_points')
    op.drop_table('inventory_valuations')
    op.drop_index(op.f('ix_inventory_levels_location_id'), table_name='inventory_levels')
    op.drop_table('inventory_levels')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER inventory_moves_immutable ON inventory_moves")
        op.execute("DROP FUNCTION inventory_moves_immutable()")
    op.drop_index(op.f('ix_inventory_moves_source'), table_name='inventory_moves')
    op.drop_index('ix_inventory_moves_product', table_name='inventory_moves')
    op.drop_table('inventory_moves')
    op.drop_index(op.f('ix_inventory_locations_code'), table_name='inventory_locations')
    op.drop_table('inventory_locations')
    op.drop_table('inventory_prices')
    op.drop_index(op.f('ix_inventory_products_template_id'), table_name='inventory_products')
    op.drop_index(op.f('ix_inventory_products_category'), table_name='inventory_products')
    op.drop_index(op.f('ix_inventory_products_sku'), table_name='inventory_products')
    op.drop_table('inventory_products')
