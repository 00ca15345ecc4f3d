"""posync: keep a shop's point-of-sale registers and its head office in step.

Import what you need from its module (`etl.store.open_store`, `etl.pipeline.import_day`, …): this package
re-exports nothing, so that `validators`, which reads `etl.schema`, imports without a cycle.
"""
