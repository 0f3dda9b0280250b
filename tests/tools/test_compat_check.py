"""tools/compat_check.sh: what CI can check without installing another torch.

The script itself downloads a torch release into a throw-away venv (minutes,
gigabytes), so CI does not run it; docs/compat.md records its runs. Here:
the smoke subset it runs names tests that exist, and a wrong call says how
to call it.
"""
import re
import subprocess

from .runner import REPO

SCRIPT = REPO / 'tools' / 'compat_check.sh'


def smoke_subset():
    """The test paths and node ids of the script's SMOKE=( ... ) list."""
    found = re.search(r'^SMOKE=\((.*?)^\)', SCRIPT.read_text(), re.MULTILINE | re.DOTALL)
    return found.group(1).split()


def test_the_smoke_subset_names_existing_tests():
    subset = smoke_subset()
    assert 'tests/tools/test_train.py' in subset and len(subset) >= 6
    for entry in subset:
        path, _, name = entry.partition('::')
        assert (REPO / path).is_file(), entry
        if name:
            assert re.search(rf'^def {name}\(', (REPO / path).read_text(), re.MULTILINE), entry


def test_without_a_version_it_says_how_to_call_it():
    proc = subprocess.run(['bash', str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert 'usage: bash tools/compat_check.sh TORCH_VERSION [MMENGINE_VERSION]' in proc.stderr
