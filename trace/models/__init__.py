"""Tables of farmtrace.trace. Registry and account tables are the domain's own data; the
projection tables are derived from the ledger and can be rebuilt from it (trace.projections)."""
