"""The base of every output schema: the read models each context's tools return (domain/<context>/schemas.py).

Models are built from plain values or straight from rows (`from_attributes`); their class names and
docstrings are published as the titles and descriptions of the tools' output schemas: renaming one changes
the catalogue.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OutputModel(BaseModel):
    """Base of every tool's output."""

    model_config = ConfigDict(from_attributes=True)
