import torch

from .runner import torchrun


def test_two_gloo_ranks_train_the_same_parameters(tmp_path, tiny, hook_config):
    proc, _ = torchrun(hook_config(dict(type='RecordParamsHook')), tmp_path,
                       *tiny(max_epochs=1), f'val_evaluator.outfile_prefix={tmp_path}/val')
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0 = torch.load(tmp_path / 'rank0_params.pt')
    rank1 = torch.load(tmp_path / 'rank1_params.pt')
    assert rank0['calls'] == rank1['calls'] == 4  # 16 images / (2 ranks x batch 2)
    for name, value in rank0['params'].items():
        assert torch.equal(value, rank1['params'][name]), name
    assert [p.name for p in tmp_path.glob('epoch_*.pth')] == ['epoch_1.pth']
    assert 'COCO results of 8 images' in proc.stdout + proc.stderr  # each val image once
