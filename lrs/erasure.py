"""Moved to lrs.ops.erasure (the operations layer); kept so imports still work."""

from __future__ import annotations

from lrs.ops.erasure import Erasure, erase, keys_to_erase

__all__ = ["Erasure", "erase", "keys_to_erase"]
