"""A rank that raises or hangs stops the others, with a message, in bounded time."""
import pytest

from tools.runner import torchrun


@pytest.mark.parametrize('hang', [False, True], ids=['raises', 'hangs'])
def test_a_failing_rank_stops_the_other_with_a_message(tmp_path, tiny, hook_config, hang):
    config = hook_config(dict(type='FailOnRankHook', rank=1, at=2, hang=hang))
    proc, seconds = torchrun(config, tmp_path, *tiny(max_epochs=1),
                             'env_cfg.dist_cfg.timeout=10')
    assert proc.returncode != 0
    if hang:  # rank 0 gives up after the process-group timeout
        assert 'rank 0: lost contact with another rank' in proc.stderr
        assert '10 s (env_cfg.dist_cfg.timeout)' in proc.stderr
    else:  # rank 0 sees the closed connection, or torchrun stops it first
        assert 'rank 1: error: deliberate failure on rank 1' in proc.stderr
        assert ('rank 0: stopped by the launcher (SIGTERM)' in proc.stderr
                or 'rank 0: lost contact with another rank' in proc.stderr)
    assert seconds < 90
