"""The pure core below every port: records the ports exchange and the rules they obey.

Nothing here does I/O. The xAPI rules themselves live in lrs.xapi (validation, statement
preparation, erasure of a statement); this package holds what is not xAPI: queries and
pages, credentials and organisations, documents' preconditions, the stored-time format.
"""
