"""The processors' pure part: what each statement changes in a projection, and the folds.

No I/O here and no Kafka, faust or MongoDB import (an import-linter contract checks it):
the runtimes (consumers.runtime) feed statements in and the store keeps the states.
"""
