"""docs/add_component.md's ATSS walkthrough: its excerpts are the real code, its config is
the real file, its first check runs, its error message is the one users see."""
import re
import runpy

import pytest
from mmengine.config import Config

from detkit.registry import MODELS, UnknownTypeError
from .doc_blocks import REPO, code_blocks

PAGE = REPO / 'docs' / 'add_component.md'
STEPS = ['The assigner', 'The head', 'The detector', 'The config', 'The tests']


def excerpts():
    """``(path, lines)`` of the page's python blocks whose first line names a repo file."""
    found = []
    for block in code_blocks(PAGE, 'python'):
        first, *lines = block.splitlines()
        path = REPO / first.lstrip('# ').strip()
        if path.is_file():
            found.append((path, lines))
    return found


def test_the_walkthrough_goes_from_assigner_to_tests():
    headings = re.findall(r'^### \d\. (.+?)(?: \(|$)', PAGE.read_text(), re.MULTILINE)
    assert headings == STEPS
    shown = {path.relative_to(REPO).as_posix() for path, _ in excerpts()}
    assert shown == {'detkit/models/task_modules/assigners/atss_assigner.py',
                     'detkit/models/dense_heads/atss_head.py',
                     'detkit/models/detectors/atss.py',
                     'configs/atss/atss_r18_fpn_synthetic.py',
                     'tests/models/dense_heads/test_atss_head.py'}


@pytest.mark.parametrize('path, lines', excerpts(), ids=lambda v: getattr(v, 'name', ''))
def test_every_excerpt_line_stands_in_its_file_in_order(path, lines):
    source = [line.rstrip() for line in path.read_text().splitlines()]
    position = 0
    for line in lines:
        if line.strip() == '...':
            continue
        assert line.rstrip() in source[position:], (
            f'{PAGE.name}: "{line.strip()}" is not (or no longer in this order) in '
            f'{path.relative_to(REPO)}')
        position = source.index(line.rstrip(), position) + 1


def test_the_config_is_shown_whole_and_builds_atss():
    (config,) = [lines for path, lines in excerpts() if path.suffix == '.py'
                 and path.parts[-3] == 'configs']
    path = REPO / 'configs' / 'atss' / 'atss_r18_fpn_synthetic.py'
    # the file's header comments aside, the block is the file
    body = [line for line in path.read_text().splitlines() if not line.startswith('#')]
    assert config == body
    model = MODELS.build(Config.fromfile(path).model)
    assert type(model).__name__ == 'ATSS'
    assert type(model.bbox_head.assigner).__name__ == 'ATSSAssigner'


def test_the_first_check_runs(tmp_path, monkeypatch):
    (check,) = [b for b in code_blocks(PAGE, 'python') if b.startswith('# a first check')]
    script = tmp_path / 'first_check.py'
    script.write_text(check)
    monkeypatch.chdir(REPO)  # it names the config by its path from the repository root
    runpy.run_path(str(script))


def test_the_misspelt_type_message_is_the_one_shown():
    text = ' '.join(PAGE.read_text().split())
    (shown,) = re.findall(r'`("ATSSHaed" is not registered .*?)`', text)
    cfg = Config.fromfile(REPO / 'configs' / 'atss' / 'atss_r18_fpn_synthetic.py')
    cfg.model.bbox_head.type = 'ATSSHaed'
    with pytest.raises(UnknownTypeError) as error:
        MODELS.build(cfg.model)
    message = ' '.join(str(error.value).split())
    for part in shown.split(' ... '):
        assert part in message
