"""Alembic migrations of the mcs-erp schema; they run on SQLite and PostgreSQL."""
