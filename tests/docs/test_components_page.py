"""docs/components.md: its table names real files and registered parts; its configs build."""
import re

import pytest

from detkit.models.layers import build_norm_layer
from detkit.registry import MODELS, TASK_UTILS
from .doc_blocks import DOCS, REPO, code_blocks

PAGE = DOCS / 'components.md'


def _table_rows():
    rows = [line.split('|')[1:-1] for line in PAGE.read_text().splitlines()
            if line.startswith('| `')]
    return [[cell.strip() for cell in row] for row in rows]


def test_every_row_names_a_file_and_a_registered_part():
    rows = _table_rows()
    assert len(rows) == 10
    for part, registry, path, *_ in rows:
        name = part.strip('`')
        assert (REPO / 'detkit' / path.strip('`')).is_file(), path
        if registry == '`MODELS`':
            assert MODELS.get(name) is not None, name
        elif registry == '`TASK_UTILS`':
            assert TASK_UTILS.get(name) is not None, name
    assert [r[0] for r in rows if r[1] == 'function'] == ['`centerness_target`']


def _config_blocks():
    return [b for b in code_blocks(PAGE, 'python') if re.match(r'\w+ = dict\(', b)]


@pytest.mark.parametrize('block', _config_blocks())
def test_config_snippets_build(block):
    namespace = {}
    exec(block, namespace)  # the snippets are plain dict assignments
    (name, cfg), = [(k, v) for k, v in namespace.items() if not k.startswith('__')]
    if name == 'train_cfg':
        assert type(TASK_UTILS.build(cfg['assigner'])).__name__ == 'ATSSAssigner'
    elif name == 'norm_cfg':
        assert build_norm_layer(cfg, 256)[0] == 'gn'
    elif name in ('prior_generator', 'bbox_coder'):
        assert type(TASK_UTILS.build(cfg)).__name__ == cfg['type']
    else:
        assert type(MODELS.build(cfg)).__name__ == cfg['type']


def test_every_config_snippet_is_checked():
    names = [re.match(r'(\w+) = dict\(', b).group(1) for b in _config_blocks()]
    assert names == ['train_cfg', 'prior_generator', 'bbox_coder', 'loss_cls', 'loss_dfl',
                     'loss_bbox', 'norm_cfg']
