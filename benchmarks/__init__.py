"""Speed benchmarks: detkit's RetinaNet side by side with torchvision's.

Entry point: ``tools/benchmark.py``. See ``docs/benchmarks.md``.
"""
