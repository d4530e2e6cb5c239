"""Adapters: one package per backend, one module per capability (lrs.ports names them).

They execute primitives; lrs.ops decides. lrs.storage.open_store picks a backend for a
store URL.
"""
