"""detkit's registries: children of mmengine's root registries.

Every object a config can name is looked up here by its ``type``. Each
registry is a child of the matching mmengine root registry, so mmengine's
own Runner, hooks, optimizers and schedulers are found through the same
configs, and ``locations`` imports detkit's modules lazily on first use.

An unknown type name raises :class:`UnknownTypeError`, which names the
registry and suggests close names ("FocalLos" -> "FocalLoss").
"""
import difflib
from typing import Any, Callable, Iterable, List

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry, build_from_cfg, build_model_from_cfg


class UnknownTypeError(KeyError):
    """A config named a ``type`` that no registry in scope knows."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


def _all_names(registry: Registry) -> List[str]:
    """Names registered in ``registry``, its ancestors and their children."""
    root = registry
    while root.parent is not None:
        root = root.parent
    names: List[str] = []
    stack = [root]
    while stack:
        reg = stack.pop()
        reg.import_from_location()
        names.extend(reg.module_dict)
        stack.extend(reg.children.values())
    return sorted(set(names))


def close_names(name: str, candidates: Iterable[str], n: int = 3) -> List[str]:
    """Up to ``n`` names from ``candidates`` that look like ``name``."""
    candidates = list(candidates)
    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in candidates}
        found = [lowered[c] for c in difflib.get_close_matches(
            name.lower(), list(lowered), n=n, cutoff=0.6)]
    return found


def unknown_type_message(name: str, registry: Registry) -> str:
    """The sentence shown for an unknown ``type`` name."""
    short = name.split('.')[-1]
    hints = close_names(short, _all_names(registry))
    msg = (f'"{name}" is not registered in detkit\'s "{registry.name}" registry '
           f'(nor in its parent, mmengine\'s).')
    if hints:
        msg += ' Did you mean ' + ' or '.join(f'"{h}"' for h in hints) + '?'
    else:
        msg += (' Register it with @' + registry.name.upper() + '.register_module() '
                'in a module listed in detkit.registry, or fix the spelling.')
    return msg


def _with_hints(build: Callable) -> Callable:
    """Wrap an mmengine build function so unknown types get a useful error."""

    def build_func(cfg: Any, registry: Registry, default_args: Any = None) -> Any:
        obj_type = cfg.get('type') if hasattr(cfg, 'get') else None
        if isinstance(obj_type, str):
            with registry.switch_scope_and_registry(None) as scoped:
                if scoped.get(obj_type) is None:
                    raise UnknownTypeError(unknown_type_message(obj_type, scoped))
        return build(cfg, registry, default_args)

    return build_func


def _child(name: str, parent: Registry, locations: List[str],
           build=build_from_cfg) -> Registry:
    return Registry(name, parent=parent, locations=locations,
                    build_func=_with_hints(build), scope='detkit')


RUNNERS = _child('runner', MMENGINE_RUNNERS, ['detkit.engine', 'mmengine.runner'])
RUNNER_CONSTRUCTORS = _child('runner constructor', MMENGINE_RUNNER_CONSTRUCTORS, ['detkit.engine'])
LOOPS = _child('loop', MMENGINE_LOOPS, ['detkit.engine', 'mmengine.runner'])
HOOKS = _child('hook', MMENGINE_HOOKS, ['detkit.engine', 'mmengine.hooks'])
LOG_PROCESSORS = _child('log processor', MMENGINE_LOG_PROCESSORS,
                        ['detkit.engine', 'mmengine.runner'])
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS, ['detkit.engine', 'mmengine.optim'])
OPTIM_WRAPPERS = _child('optim_wrapper', MMENGINE_OPTIM_WRAPPERS,
                        ['detkit.engine', 'mmengine.optim'])
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    'optimizer wrapper constructor', MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    ['detkit.engine', 'mmengine.optim'])
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS,
                          ['detkit.engine', 'mmengine.optim'])
DATASETS = _child('dataset', MMENGINE_DATASETS, ['detkit.datasets'])
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS,
                       ['detkit.datasets', 'mmengine.dataset'])
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, ['detkit.datasets.transforms'])
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS, ['detkit.datasets', 'mmengine.dataset'])
MODELS = _child('model', MMENGINE_MODELS, ['detkit.models'], build=build_model_from_cfg)
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS,
                        ['detkit.models', 'mmengine.model'])
WEIGHT_INITIALIZERS = _child('weight initializer', MMENGINE_WEIGHT_INITIALIZERS,
                             ['detkit.models', 'mmengine.model'])
TASK_UTILS = _child('task util', MMENGINE_TASK_UTILS, ['detkit.models'])
METRICS = _child('metric', MMENGINE_METRICS, ['detkit.evaluation'])
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR, ['detkit.evaluation', 'mmengine.evaluator'])
VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS,
                     ['detkit.visualization', 'mmengine.visualization'])
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS,
                     ['detkit.visualization', 'mmengine.visualization'])
