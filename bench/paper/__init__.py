"""Paper claims as benchmarks: one module per table/figure, `run_all` for all of them (see docs/results.md)."""
