"""Batching images of like orientation together (MMDetection / Detectron2 style)."""
from typing import Iterator, List

from torch.utils.data import BatchSampler, Sampler

from detkit.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class AspectRatioBatchSampler(BatchSampler):
    """Group the indices of ``sampler`` into batches of one orientation.

    Landscape (``width >= height``) and portrait images fill separate
    buckets; a batch is yielded as soon as a bucket holds ``batch_size``
    indices, so batches need less padding. At the end of a finite sampler the
    leftovers of both buckets are yielded mixed (the last batch may be short
    unless ``drop_last``), so an epoch has ``len(sampler) / batch_size``
    batches (rounded per ``drop_last``), as with a plain batch sampler.

    Works with mmengine's ``DefaultSampler`` / ``InfiniteSampler``, which
    already split the indices between distributed ranks. The dataset must
    have ``get_data_info(idx)`` with ``width`` and ``height``.

    Args:
        sampler: yields dataset indices; its ``dataset`` attribute is read.
        batch_size: images per batch.
        drop_last: drop the last short batch.
    """

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool = False):
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f'batch_size must be a positive int, got {batch_size!r}')
        if not hasattr(sampler, 'dataset'):
            raise TypeError(f'{type(sampler).__name__} has no `dataset`; '
                            'AspectRatioBatchSampler needs it to read image sizes.')
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last
        self._portrait: List[bool] = []

    def _is_portrait(self, idx: int) -> bool:
        if not self._portrait:  # once: reading every data info each epoch is slow
            dataset = self.sampler.dataset
            infos = (dataset.get_data_info(i) for i in range(len(dataset)))
            self._portrait = [bool(info['width'] < info['height']) for info in infos]
        return self._portrait[idx]

    def __iter__(self) -> Iterator[List[int]]:
        buckets: List[List[int]] = [[], []]
        for idx in self.sampler:
            bucket = buckets[self._is_portrait(idx)]
            bucket.append(idx)
            if len(bucket) == self.batch_size:
                yield bucket[:]
                bucket.clear()
        left = buckets[0] + buckets[1]
        while left:
            batch, left = left[:self.batch_size], left[self.batch_size:]
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return -(-len(self.sampler) // self.batch_size)
