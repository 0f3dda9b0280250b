"""Shared fixtures: the MMDetection reference data in tests/data; the tool runners."""
from pathlib import Path

import pytest
import torch

from tools.runner import hook_config, run_tool, straight, synthetic_root, tiny  # noqa: F401

DATA = Path(__file__).parent / 'data'


@pytest.fixture(scope='session')
def load_ref():
    """``load_ref('head_small')`` → the ``dict(meta, inputs, outputs)`` of that file."""
    cache = {}

    def load(name: str) -> dict:
        if name not in cache:
            cache[name] = torch.load(DATA / f'{name}.pt', weights_only=True)
        return cache[name]

    return load


@pytest.fixture(scope='session')
def dense():
    """Expand the reference files' sparse ``dict(shape, fill, index, value)`` tensors."""

    def expand(sparse: dict) -> torch.Tensor:
        out = torch.full(tuple(sparse['shape']), float(sparse.get('fill', 0.0)))
        out.view(-1)[sparse['index']] = sparse['value'].float()
        return out

    return expand


@pytest.fixture
def log_messages():
    """The messages mmengine's current logger emits during the test."""
    import logging

    from mmengine.logging import MMLogger

    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Collect(level=logging.DEBUG)
    level = logger.level
    logger.setLevel(logging.DEBUG)  # an earlier test may have left a WARNING-level logger current
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)
