from . import layers, losses, task_modules  # noqa: F401
from . import backbones, necks  # noqa: F401
