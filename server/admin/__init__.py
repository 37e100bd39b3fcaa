"""The admin pages: approvals, audit log and jobs, served under /admin by the HTTP app (server/app.py)."""

from server.admin.routes import admin_app

__all__ = ["admin_app"]
