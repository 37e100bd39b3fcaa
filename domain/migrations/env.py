"""Alembic environment: runs on the connection that `domain.migrations.schema.migrate` hands over."""

from __future__ import annotations

from alembic import context

from domain.migrations.schema import target_metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for `alembic` run by hand without our wrapper
    raise RuntimeError("run migrations through `mcs-erp init` (domain.migrations.schema.migrate)")

context.configure(connection=connection, target_metadata=target_metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()
