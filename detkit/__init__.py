"""detkit: a small, config-driven object-detection framework on mmengine."""
from .utils import config as _config  # noqa: F401  installs the safe YAML loader

__version__ = '0.1.0'
