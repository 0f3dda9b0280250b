"""SyncRecorder catches the ops that synchronise with the host on CUDA, and only those."""
import torch

from detkit.utils.sync_recorder import SyncRecorder


def test_records_item_nonzero_bool_index_and_unique():
    x = torch.arange(6.)
    with SyncRecorder() as rec:
        x.sum().item()
        (x > 2).nonzero()
        x[x > 2]
        y = x.clone()
        y[x > 4] = 0
        torch.unique(x)
        torch.repeat_interleave(torch.tensor([1, 2]))
    ops = [op for op, _ in rec.events]
    assert ops[0] == '_local_scalar_dense' and 'nonzero' in ops and 'unique' in ''.join(ops)
    assert sum(op.startswith('index') for op in ops) == 2
    assert ops[-1] == 'repeat_interleave'
    assert 'test_sync_recorder.py' in rec.events[0][1]
    assert '_local_scalar_dense @' in rec.summary()


def test_fixed_shape_ops_are_not_recorded():
    x = torch.arange(6.)
    with SyncRecorder() as rec:
        torch.where(x > 2, x, 0).sum()
        x.gather(0, torch.tensor([1, 3]))
        x[torch.tensor([0, 2])]
        x.repeat_interleave(2)
        torch.repeat_interleave(torch.tensor([1, 2]), output_size=3)
        x.masked_fill(x > 4, 0)
    assert rec.events == [] and rec.summary() == 'none'
