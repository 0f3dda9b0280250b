"""Import the packages of detkit's optional extras, or say which extra to install."""
import importlib
from types import ModuleType


def import_optional(module: str, extra: str, purpose: str) -> ModuleType:
    """``importlib.import_module(module)``; without it an ImportError naming the extra.

    Args:
        module: e.g. ``'onnxruntime'``.
        extra: the ``setup.cfg`` extra that installs it, e.g. ``'onnx'``.
        purpose: what needs it, for the message ("ONNX export").
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f'{purpose} needs the Python package "{module}", which is not '
                          f'installed: pip install "detkit[{extra}]" (or pip install '
                          f'{module})') from err


def pyplot(purpose: str) -> ModuleType:
    """``matplotlib.pyplot`` drawing to files (Agg backend), from the ``viz`` extra."""
    matplotlib = import_optional('matplotlib', 'viz', purpose)
    matplotlib.use('Agg')
    return import_optional('matplotlib.pyplot', 'viz', purpose)
