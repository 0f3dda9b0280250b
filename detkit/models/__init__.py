from . import layers, losses, task_modules  # noqa: F401
from . import backbones, necks  # noqa: F401
from . import data_preprocessors, dense_heads, detectors  # noqa: F401
