"""TEMPORARY: lrs/erasure.py (being reworked by the storage split) falls back to importing
`reducers` from here when a caller passes none (none does now). The list lives in
consumers.reducers.enabled; delete this module once that fallback is gone."""

from consumers.reducers.enabled import reducers

__all__ = ["reducers"]
