"""The state_dict names and shapes of MMDetection 3.3's stock models (tests/data)."""
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

FAMILY_KEYS = Path(__file__).parents[2] / 'data' / 'family_state_dict_keys.txt'


def read_sections(path: Path) -> Dict[str, Tuple[Dict[str, str], List[Tuple[str, List[int]]]]]:
    """``{model name: (header fields, [(state_dict name, shape), ...])}`` of the keys file."""
    sections = {}
    for line in path.read_text().splitlines():
        if line.startswith('#'):
            continue
        if line.startswith('['):
            name, _, fields = line[1:].partition('] ')
            entries = []
            sections[name] = (dict(f.split('=', 1) for f in fields.split()), entries)
        else:
            key, shape = line.split('\t')
            entries.append((key, [int(d) for d in shape.strip('[]').split(',') if d.strip()]))
    return sections


@pytest.fixture(scope='session')
def mmdet_keys():
    """``mmdet_keys('retinanet_x101-64x4d_fpn_1x_coco')`` → (header, entries)."""
    sections = read_sections(FAMILY_KEYS)
    return sections.__getitem__
