"""The small base class every detkit transform derives from."""
import inspect
from typing import Optional


class BaseTransform:
    """A pipeline step: takes the result dict, returns it (or ``None``).

    Subclasses implement :meth:`transform`. Returning ``None`` tells the
    dataset to draw another sample (training only). ``repr`` shows the
    constructor's arguments, so a printed pipeline reads like its config.
    """

    def transform(self, results: dict) -> Optional[dict]:
        raise NotImplementedError

    def __call__(self, results: dict) -> Optional[dict]:
        return self.transform(results)

    def __repr__(self) -> str:
        params = inspect.signature(type(self).__init__).parameters
        args = ', '.join(f'{name}={getattr(self, name)!r}' for name in params
                         if name != 'self' and hasattr(self, name))
        return f'{type(self).__name__}({args})'
