"""tools/gpu_selfcheck.sh (run on GPU machines only): valid bash, and what it runs exists."""
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'gpu_selfcheck.sh'


def test_script_parses_and_names_existing_tests_and_configs():
    subprocess.run(['bash', '-n', str(SCRIPT)], check=True)
    text = SCRIPT.read_text()
    paths = set(re.findall(r'\b((?:tests|configs|tools|benchmarks)/[\w/.-]+\.(?:py|sh))\b',
                           text))
    paths |= set(re.findall(r'\b(tests/[\w/]+)(?=\s)', text))  # test folders
    assert {'tests/engine/test_graph_train_step.py', 'tools/benchmark.py',
            'configs/retinanet_r18_fpn_synthetic.py'} <= paths
    missing = [p for p in paths if not (REPO / p).exists()]
    assert not missing, missing
    assert '--cuda-graph' in text and '--mode throughput' in text
    assert 'benchmarks/train_parity.py' in paths and '--preset full' in text
