"""Benchmarks: print ratios against library baselines measured in the same run."""
