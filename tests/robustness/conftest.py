"""The fault suite reuses the dataset fixtures (tool fixtures live in tests/conftest.py)."""
from datasets.conftest import build_coco, make_coco  # noqa: F401
