"""One item, one code: issuing serials to batches, resolving scans, counting them, and the
signals a scan gives about copies. Storage is one row per issued range, never per code.

Modules: models (tables), keys (serial keys sealed under the master key), allocate (the
code-number counter), issue (issuance, voiding, reprints: ledger entries on the batch),
resolve (serial or URI -> range -> batch), scans (scan log, inbox and tallies), signals,
facts (what a scan page shows), export (URIs for print shops), throttle (enumeration limit).
See docs/codes.md.
"""
