"""GtBatch pads per-image gts into fixed shapes without reading device values."""
import pytest
import torch
from mmengine.structures import InstanceData

from detkit.structures import GtBatch
from detkit.utils.sync_recorder import SyncRecorder


def _gts(*counts):
    return [InstanceData(bboxes=torch.arange(4. * n).reshape(n, 4),
                         labels=torch.arange(n) + 10) for n in counts]


METAS = [dict(pad_shape=(64, 96, 3)), dict(pad_shape=(32, 96))]


def test_padding_mask_and_pad_shapes():
    with SyncRecorder() as rec:
        gts = GtBatch.from_instances(_gts(3, 0), METAS)
    assert rec.events == []
    assert gts.bboxes.shape == (2, 3, 4) and gts.labels.shape == (2, 3)
    assert gts.valid.tolist() == [[True] * 3, [False] * 3]
    assert torch.equal(gts.bboxes[0], torch.arange(12.).reshape(3, 4))
    assert gts.labels[0].tolist() == [10, 11, 12] and gts.bboxes[1].abs().sum() == 0
    assert gts.pad_shapes.tolist() == [[64, 96], [32, 96]]
    assert gts.ignore_bboxes is None and gts.num_dropped == 0


def test_fixed_capacity_pads_up_and_counts_what_it_drops():
    gts = GtBatch.from_instances(_gts(5, 1), METAS, capacity=4)
    assert gts.bboxes.shape == (2, 4, 4) and gts.num_dropped == 1
    assert gts.valid.sum(1).tolist() == [4, 1]
    roomy = GtBatch.from_instances(_gts(1, 2), METAS, capacity=6)
    assert roomy.bboxes.shape == (2, 6, 4) and roomy.valid.sum().item() == 3


def test_ignore_regions_and_passthrough():
    ignored = [None, InstanceData(bboxes=torch.ones(2, 4))]
    gts = GtBatch.from_instances(_gts(1, 1), METAS, ignored, ignore_capacity=3)
    assert gts.ignore_bboxes.shape == (2, 3, 4)
    assert gts.ignore_valid.tolist() == [[False] * 3, [True, True, False]]
    assert GtBatch.of(gts) is gts
    with pytest.raises(ValueError, match='batch_img_metas'):
        GtBatch.of(_gts(1))
