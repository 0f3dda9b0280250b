"""detkit's registries: children of mmengine's root registries.

Every object a config can name is looked up here by its ``type``. Each
registry is a child of the matching mmengine root registry, so mmengine's
own Runner, hooks, optimizers and schedulers are found through the same
configs, and ``locations`` imports detkit's modules lazily on first use.

An unknown type name raises :class:`UnknownTypeError`, which names the
registry and suggests close names ("FocalLos" -> "FocalLoss").
"""
import difflib
import inspect
import re
from contextvars import ContextVar
from typing import Any, Callable, Iterable, List, Optional, Tuple

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


class ConfigArgumentError(TypeError):
    """A component's config has a key its constructor does not accept, or lacks one."""


# (path, sub-config) of every dict in the config being built by the outermost build call
_BUILD_INDEX: ContextVar[Optional[List[Tuple[str, Any]]]] = ContextVar('_BUILD_INDEX', default=None)


def _index_config(cfg: Any, path: str, out: List[Tuple[str, Any]]) -> List[Tuple[str, Any]]:
    if isinstance(cfg, dict):
        out.append((path, cfg))
        for key, value in cfg.items():
            _index_config(value, f'{path}.{key}', out)
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            _index_config(value, f'{path}[{i}]', out)
    return out


def config_path(cfg: Any) -> Optional[str]:
    """Dotted path (e.g. ``model.bbox_head.loss_cls``) of ``cfg`` in the config being built.

    Found by identity, else as the first dict of the same ``type`` whose
    items all appear in ``cfg`` (components may copy a sub-config and add
    defaults before building it).
    """
    index = _BUILD_INDEX.get() or []
    for path, sub in index:
        if sub is cfg:
            return path
    for path, sub in index:
        if sub.get('type') == cfg.get('type') and all(
                k in cfg and cfg[k] == v for k, v in sub.items()):
            return path
    return None


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


def accepted_arguments(cls: Any) -> List[str]:
    """Keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up the MRO."""
    names: List[str] = []
    for klass in inspect.getmro(cls) if inspect.isclass(cls) else [cls]:
        init = klass.__init__ if inspect.isclass(cls) else klass
        if inspect.isclass(cls) and '__init__' not in vars(klass):
            continue
        params = inspect.signature(init).parameters.values()
        names += [p.name for p in params if p.name != 'self' and p.kind in (
            p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in names]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names


def _argument_error(err: TypeError, obj_type: str, cls: Any, path: Optional[str]) -> Optional[str]:
    """A sentence for a constructor's unexpected/missing keyword, or None."""
    where = f' (config "{path}")' if path else ''
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(err))
    missing = re.search(r'missing \d+ required (?:positional |keyword-only )?arguments?: (.+)$',
                        str(err))
    raiser = re.match(r'(\w+)\.__init__\(\)', str(err))
    own = [k.__name__ for k in inspect.getmro(cls)] if inspect.isclass(cls) else [cls.__name__]
    if not (unexpected or missing) or (raiser and raiser.group(1) not in own):
        return None
    accepted = accepted_arguments(cls)
    if unexpected:
        key = unexpected.group(1)
        msg = f'{obj_type}{where} does not accept the key "{key}".'
        hints = close_names(key, accepted)
        if hints:
            msg += ' Did you mean ' + ' or '.join(f'"{h}"' for h in hints) + '?'
    else:
        msg = f'{obj_type}{where} is missing required key(s) {missing.group(1)}.'
    return msg + f' {obj_type} accepts: {", ".join(accepted)}.'


def _with_hints(build: Callable) -> Callable:
    """Wrap an mmengine build function so config mistakes get useful errors."""

    def build_func(cfg: Any, registry: Registry, default_args: Any = None) -> Any:
        token = None
        if _BUILD_INDEX.get() is None and isinstance(cfg, dict):
            token = _BUILD_INDEX.set(_index_config(cfg, registry.name, []))
        try:
            obj_type = cfg.get('type') if isinstance(cfg, dict) else None
            if not isinstance(obj_type, str):
                return build(cfg, registry, default_args)
            path = config_path(cfg)
            with registry.switch_scope_and_registry(None) as scoped:
                cls = scoped.get(obj_type)
                if cls is None:
                    msg = unknown_type_message(obj_type, scoped)
                    raise UnknownTypeError(f'{msg} (config "{path}")' if path else msg)
            try:
                return build(cfg, registry, default_args)
            except ConfigArgumentError:
                raise
            except TypeError as err:
                msg = _argument_error(err, obj_type, cls, path)
                if msg is None:
                    raise
                raise ConfigArgumentError(msg) from err
        finally:
            if token is not None:
                _BUILD_INDEX.reset(token)

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
