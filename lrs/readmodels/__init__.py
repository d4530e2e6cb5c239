"""The projections' read models: their names, their shapes and how evidence folds into them.

Core code (pure): the stream processors (consumers/) fold statements into these shapes,
the query API reads them and folds a person's keys together, and the OpenAPI document is
generated from the same types, so a shape is written once. Nothing here imports the
processors, the HTTP app or the CLI.
"""

from __future__ import annotations

from lrs.readmodels.competencies import NAME as COMPETENCIES
from lrs.readmodels.memberships import NAME as MEMBERSHIPS
from lrs.readmodels.profiles import NAME as PROFILES

__all__ = ["COMPETENCIES", "MEMBERSHIPS", "PROFILES"]
