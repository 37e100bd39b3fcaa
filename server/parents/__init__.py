"""The parent pages: a guardian signs in by a one-time link sent by email and reads their children's published
grades and attendance and their family's fees, served under /parents by the HTTP app (server/app.py)."""

from server.parents.routes import parents_app

__all__ = ["parents_app"]
