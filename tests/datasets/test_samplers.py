import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler, InfiniteSampler, pseudo_collate
from torch.utils.data import DataLoader

from detkit.datasets import AspectRatioBatchSampler
from detkit.registry import DATA_SAMPLERS


class Sizes:
    """A dataset stand-in: only image sizes."""

    def __init__(self, sizes):
        self.sizes = sizes

    def __len__(self):
        return len(self.sizes)

    def get_data_info(self, idx):
        w, h = self.sizes[idx]
        return dict(width=w, height=h)


class Ordered(torch.utils.data.Sampler):
    def __init__(self, dataset):
        self.dataset = dataset

    def __iter__(self):
        return iter(range(len(self.dataset)))

    def __len__(self):
        return len(self.dataset)


SIZES = [(40, 30), (30, 40), (40, 30), (30, 40), (30, 40), (40, 40), (30, 40)]


def test_batches_share_an_orientation_and_leftovers_come_last():
    batches = list(AspectRatioBatchSampler(Ordered(Sizes(SIZES)), batch_size=2))
    assert batches == [[0, 2], [1, 3], [4, 6], [5]]
    assert len(AspectRatioBatchSampler(Ordered(Sizes(SIZES)), batch_size=2)) == 4


def test_drop_last_and_mixed_leftovers():
    sampler = AspectRatioBatchSampler(Ordered(Sizes(SIZES)), batch_size=3, drop_last=True)
    assert list(sampler) == [[1, 3, 4], [0, 2, 5]]
    assert len(sampler) == 2
    sampler = AspectRatioBatchSampler(Ordered(Sizes(SIZES[:5])), batch_size=3)
    assert list(sampler) == [[1, 3, 4], [0, 2]]


def test_every_index_once_per_epoch():
    rng = np.random.RandomState(0)
    sizes = [tuple(rng.randint(10, 50, 2)) for _ in range(53)]
    sampler = AspectRatioBatchSampler(DefaultSampler(Sizes(sizes), shuffle=True, seed=1), 4)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 14
    assert sorted(i for b in batches for i in b) == list(range(53))
    portrait = [sizes[i][0] < sizes[i][1] for i in range(53)]
    assert sum(len({portrait[i] for i in b}) > 1 for b in batches) <= 1  # only the leftovers


def test_with_infinite_sampler():
    sampler = AspectRatioBatchSampler(InfiniteSampler(Sizes(SIZES), seed=0), batch_size=2)
    batches = [b for _, b in zip(range(20), sampler)]
    assert all(len(b) == 2 and len({SIZES[i][0] < SIZES[i][1] for i in b}) == 1 for b in batches)


def test_registered_and_checks_arguments():
    built = DATA_SAMPLERS.build(dict(type='AspectRatioBatchSampler'),
                                default_args=dict(sampler=Ordered(Sizes(SIZES)), batch_size=2))
    assert isinstance(built, AspectRatioBatchSampler)
    with pytest.raises(ValueError, match='positive int'):
        AspectRatioBatchSampler(Ordered(Sizes(SIZES)), batch_size=0)
    with pytest.raises(TypeError, match='has no `dataset`'):
        AspectRatioBatchSampler(range(3), batch_size=2)


def _dataset(make_coco, build_coco):
    images = [(i, 48 if i % 3 else 32, 32 if i % 3 else 48) for i in range(1, 10)]
    root = make_coco(images, [dict(image_id=i, category_id=1, bbox=[2, 2, 10, 10])
                              for i in range(1, 10)])
    return build_coco(root, pipeline=[dict(type='LoadImageFromFile'),
                                      dict(type='LoadAnnotations'),
                                      dict(type='RandomFlip', prob=0.5),
                                      dict(type='PackDetInputs')])


def test_dataloader_round_trip(make_coco, build_coco):
    ds = _dataset(make_coco, build_coco)
    loader = DataLoader(ds, batch_sampler=AspectRatioBatchSampler(
        DefaultSampler(ds, shuffle=True, seed=0), batch_size=2), collate_fn=pseudo_collate)
    seen = []
    for batch in loader:
        assert set(batch) == {'inputs', 'data_samples'}
        assert all(t.dtype == torch.uint8 and t.shape[0] == 3 for t in batch['inputs'])
        # 6 landscape + 3 portrait images: no batch needs to mix them
        assert len({tuple(t.shape[1:]) for t in batch['inputs']}) == 1
        for inputs, sample in zip(batch['inputs'], batch['data_samples']):
            assert tuple(inputs.shape[1:]) == sample.img_shape
            assert sample.gt_instances.bboxes.shape == (1, 4)
            seen.append(sample.img_id)
    assert sorted(seen) == list(range(1, 10))


def test_two_ranks_see_disjoint_halves(make_coco, build_coco, monkeypatch):
    import mmengine.dataset.sampler as sampler_module
    ds = _dataset(make_coco, build_coco)
    per_rank = []
    for rank in (0, 1):
        monkeypatch.setattr(sampler_module, 'get_dist_info', lambda rank=rank: (rank, 2))
        batch_sampler = AspectRatioBatchSampler(
            DefaultSampler(ds, shuffle=True, seed=3, round_up=False), batch_size=2)
        per_rank.append([i for b in batch_sampler for i in b])
    assert not set(per_rank[0]) & set(per_rank[1])
    assert sorted(per_rank[0] + per_rank[1]) == list(range(9))
    assert (len(per_rank[0]), len(per_rank[1])) == (5, 4)
