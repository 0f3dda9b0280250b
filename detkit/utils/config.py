"""Loading configs with errors that name the file and line, and safe YAML.

Python configs are executed by mmengine when loaded: only load configs you
trust. YAML configs are parsed with PyYAML's *safe* loader (installed for
mmengine's file handlers when detkit is imported), so a YAML config cannot
construct Python objects or run code.
"""
import ast
import os.path as osp
from typing import List, Optional

import yaml
from mmengine.config import Config
from mmengine.fileio import register_handler
from mmengine.fileio.handlers import YamlHandler

try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader


class ConfigFileError(ValueError):
    """A config file is missing, or does not parse; the message names file and line."""


@register_handler(['yaml', 'yml'])
class SafeYamlHandler(YamlHandler):
    """mmengine's YAML handler with ``yaml.SafeLoader`` instead of the full loader."""

    def load_from_fileobj(self, file, **kwargs):
        kwargs['Loader'] = SafeLoader
        return yaml.load(file, **kwargs)


def _bases(path: str, text: str) -> List[str]:
    """The ``_base_`` files a config names, as paths."""
    if path.endswith('.py'):
        bases = None
        for node in ast.parse(text).body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
                bases = ast.literal_eval(node.value)
    else:
        bases = (yaml.load(text, Loader=SafeLoader) or {}).get('_base_')
    bases = [bases] if isinstance(bases, str) else list(bases or [])
    return [osp.join(osp.dirname(path), b) for b in bases]


def _locate_parse_error(path: str) -> Optional[str]:
    """``file:line:column: reason`` of the first config in the ``_base_`` chain that fails."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        if path.endswith('.py'):
            ast.parse(text, filename=path)
        elif path.endswith(('.yaml', '.yml')):
            yaml.load(text, Loader=SafeLoader)
    except SyntaxError as err:
        return f'{path}:{err.lineno}:{err.offset}: {err.msg}'
    except yaml.YAMLError as err:
        mark = getattr(err, 'problem_mark', None)
        where = f':{mark.line + 1}:{mark.column + 1}' if mark else ''
        return f'{path}{where}: {getattr(err, "problem", None) or err}'
    for base in _bases(path, text):
        if not osp.isfile(base):
            return f'{path}: _base_ file {base} does not exist'
        found = _locate_parse_error(base)
        if found:
            return found
    return None


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a .py/.yaml/.json config (with ``_base_``) and apply dotted overrides.

    Raises:
        ConfigFileError: the file or one of its bases is missing or does not
            parse; the message gives ``file:line:column``.
    """
    if not osp.isfile(path):
        raise ConfigFileError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except (SyntaxError, yaml.YAMLError, FileNotFoundError) as err:
        where = _locate_parse_error(path)
        raise ConfigFileError(f'cannot load config {path}: {where or err}') from err
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def dataset_metainfo(dataset: dict) -> dict:
    """A dataset config's ``metainfo`` when it sets ``classes``, else the default
    ``METAINFO`` of its ``type`` (``{}`` when the type is unknown)."""
    from detkit.registry import DATASETS
    metainfo = dict(dataset.get('metainfo') or {})
    if 'classes' in metainfo:
        return metainfo
    dataset_type = dataset.get('type')
    dataset_cls = DATASETS.get(dataset_type) if isinstance(dataset_type, str) else dataset_type
    return dict(getattr(dataset_cls, 'METAINFO', None) or {})


def check_num_classes(cfg: Config) -> None:
    """``model.bbox_head.num_classes`` must equal the number of dataset classes.

    The classes are those of the train (else test) dataset's config, see
    :func:`dataset_metainfo`. Silently skipped when either side is not known.
    """
    head = cfg.get('model', {}).get('bbox_head', {})
    num_classes = head.get('num_classes')
    for key in ('train_dataloader', 'test_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset')
        if dataset:
            break
    else:
        return
    classes = dataset_metainfo(dataset).get('classes')
    if num_classes is None or classes is None or num_classes == len(classes):
        return
    raise ValueError(
        f'model.bbox_head.num_classes={num_classes} but the dataset ({key}.dataset, '
        f'{dataset.get("type")}) has {len(classes)} classes: set '
        f'model.bbox_head.num_classes={len(classes)} or metainfo=dict(classes=...)')
