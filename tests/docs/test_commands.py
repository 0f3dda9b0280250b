"""Every command in the docs pages of this suite is valid, and a test runs its tool.

A command's arguments must be accepted by the tool's own ``parse_args`` (so
the docs cannot drift from the command line), and the tool must be run by
the test file listed in RUN_BY. Commands that need data or downloads (COCO,
published checkpoints) are checked this way only; the others run in those
tests on tiny inputs.
"""
import configparser
import importlib.util
import shlex
from pathlib import Path

import pytest

from .doc_blocks import DOCS, REPO, commands

PAGES = ['getting_started.md', 'configs.md', 'datasets.md', 'training.md', 'testing.md',
         'add_component.md', 'converters.md', 'benchmarks.md', 'migration.md', 'faq.md',
         'compat.md',
         '../README.md']
RUN_BY = {
    'tools/infer.py': 'tests/apis/test_det_inferencer.py',
    'tools/train.py': 'tests/tools/test_train.py',
    'tools/test.py': 'tests/tools/test_test.py',
    'tools/analysis_tools/analyze_logs.py': 'tests/tools/test_analysis_tools.py',
    'tools/analysis_tools/get_flops.py': 'tests/tools/test_analysis_tools.py',
    'tools/analysis_tools/print_config.py': 'tests/tools/test_analysis_tools.py',
    'tools/analysis_tools/confusion_matrix.py': 'tests/tools/test_analysis_tools.py',
    'tools/model_converters/from_mmdet.py': 'tests/tools/test_converters.py',
    'tools/model_converters/from_torchvision.py': 'tests/tools/test_converters.py',
    'tools/model_converters/publish_model.py': 'tests/tools/test_converters.py',
    'tools/deployment/export_onnx.py': 'tests/tools/test_export_onnx.py',
    'tools/browse_dataset.py': 'tests/datasets/test_tools.py',
    'tools/misc/download_dataset.py': 'tests/tools/test_download_dataset.py',
    'tools/benchmark.py': 'tests/benchmarks/test_benchmark_smoke.py',
    'benchmarks/train_parity.py': 'tests/benchmarks/test_train_parity.py',
    'benchmarks/parity_same_weights.py': 'tests/benchmarks/test_train_parity.py',
    'tools/dist_train.sh': 'tests/tools/test_dist_train.py',
    'tools/dist_test.sh': 'tests/tools/test_dist_train.py',
    'tools/slurm_train.sh': 'tests/tools/test_dist_train.py',
    # demo.sh = train.py + test.py on the demo config (~11 min): run shrunk by those tests
    'tools/demo.sh': 'tests/tools/test_train.py',
    'tools/run_tests.sh': '.ci/run',       # CI's command
    # downloads a torch release (GBs): its smoke list and usage are tested, docs/compat.md
    # records its runs
    'tools/compat_check.sh': 'tests/tools/test_compat_check.py',
    # needs a GPU machine: its syntax and the tests it runs are checked
    'tools/gpu_selfcheck.sh': 'tests/tools/test_gpu_selfcheck.py',
}


def all_commands():
    return [(page, line) for page in PAGES for line in commands(DOCS / page)]


def parse(script: str, args):
    """``parse_args(args)`` of a tool script; argparse errors raise SystemExit."""
    spec = importlib.util.spec_from_file_location(Path(script).stem, REPO / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parse_args(args)


def check_python_tool(page: str, script: str, tool_args):
    assert (REPO / script).is_file(), f'{page}: {script} does not exist'
    assert script in RUN_BY, f'{page}: no test runs {script}; add it to RUN_BY'
    runner = (REPO / RUN_BY[script]).read_text()
    assert Path(script).name in runner or Path(script).stem in runner
    parse(script, tool_args)


def test_the_pages_have_commands():
    assert len(all_commands()) >= 15


@pytest.mark.parametrize('page, line', all_commands())
def test_command_is_valid(page, line):
    words = shlex.split(line)
    while words and '=' in words[0] and not words[0].startswith('-'):
        words.pop(0)                                      # VAR=value prefixes
    program, args = words[0], words[1:]
    if program == 'wget':
        assert args[-1].startswith('https://'), line
    elif program == 'pip':
        extra = args[-1].split('[')[1].rstrip(']')
        setup = configparser.ConfigParser()
        setup.read(REPO / 'setup.cfg')
        assert extra in setup['options.extras_require'], f'{page}: no extra {extra!r}'
    elif program == 'bash':
        assert (REPO / args[0]).is_file(), f'{page}: {args[0]} does not exist'
        assert args[0] in RUN_BY, f'{page}: no test runs {args[0]}'
    elif program == 'python':
        check_python_tool(page, args[0], args[1:])
    elif program == 'torchrun':  # torchrun's own options, then the script and its own
        script = next(a for a in args if a.endswith('.py'))
        check_python_tool(page, script, args[args.index(script) + 1:])
    else:
        pytest.fail(f'{page}: unexpected command {line!r}')


def test_the_migration_example_runs(capsys):
    (line,) = [c for c in commands(DOCS / 'migration.md') if 'get_flops.py' in c]
    script, *args = shlex.split(line)[1:]
    spec = importlib.util.spec_from_file_location('get_flops', REPO / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.run_tool(module.main, [str(REPO / args[0])] + args[1:]) == 0
    assert 'Params: ' in capsys.readouterr().out


def test_the_index_lists_every_page():
    index = (DOCS / 'index.md').read_text()
    linked = {part.split(')')[0] for part in index.split('](')[1:]}
    on_disk = {p.name for p in DOCS.glob('*.md')} - {'index.md'}
    assert on_disk <= linked, f'pages missing from docs/index.md: {on_disk - linked}'
    assert linked <= on_disk, f'broken links: {linked - on_disk}'


def test_configs_page_says_how_configs_are_loaded():
    text = ' '.join((DOCS / 'configs.md').read_text().split())
    assert ('YAML is loaded with a safe loader only; Python configs execute code and docs/ '
            'says so.') in text
