"""The xAPI data model: validation, canonical forms, identifiers. Pure functions, no I/O."""
