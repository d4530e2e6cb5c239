"""TEMPORARY: lrs/api/xapi/statements.py (being reworked by the storage split) imports
`authority_key` from here. It lives in lrs.readmodels.memberships; the memberships reducer
is consumers.reducers.memberships. Delete this module once that import is changed."""

from lrs.readmodels.memberships import authority_key

__all__ = ["authority_key"]
