"""Speed and memory of our kernel layers against escnn, e3nn and plain convolutions, measured
side by side in one process: ``python -m benchmarks.speed``."""
