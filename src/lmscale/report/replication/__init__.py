"""The replication's figures, one module per study: each function takes a study's tables and fits
and returns a matplotlib Figure. The studies in lmscale.replicate choose what to draw and judge it."""
