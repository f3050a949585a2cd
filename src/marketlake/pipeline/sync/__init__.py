"""`marketlake sync`: keep every covered table current within the plan's credits (once, or `--watch`)."""
