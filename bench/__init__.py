"""scanbridge benchmarks: each figure measured next to its ceiling in the same run (`make bench`)."""
