"""Competency frameworks: data, loading and import (see lrs.competency.framework)."""
