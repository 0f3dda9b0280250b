"""detkit: a small, config-driven object-detection framework on mmengine."""
__version__ = '0.1.0'
