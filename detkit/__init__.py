"""detkit: a small, config-driven object-detection framework on mmengine."""
from .utils import config as _config  # noqa: F401  installs the safe YAML loader
from .utils.compat import check_versions

# An unsupported torch, torchvision or mmengine fails here, with both versions named,
# instead of later inside torch.
check_versions()

__version__ = '0.1.0'
