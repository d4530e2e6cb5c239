"""Bundled competency framework data files (JSON); read through importlib.resources."""
