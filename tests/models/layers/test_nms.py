"""The chunked CPU NMS keeps what one offset NMS call keeps."""
import torch
from torchvision.ops import nms

from detkit.models.layers import nms as nms_mod


def test_chunked_cpu_nms_keeps_what_one_offset_call_keeps():
    gen = torch.Generator().manual_seed(0)
    num = 4 * nms_mod.CPU_NMS_CHUNK
    xy = torch.rand(num, 2, generator=gen) * 200
    boxes = torch.cat([xy, xy + 5 + torch.rand(num, 2, generator=gen) * 40], 1)
    scores = torch.rand(num, generator=gen)
    groups = torch.randint(0, 37, (num,), generator=gen)
    expected = nms(nms_mod._offset_boxes(boxes, groups), scores.double(), 0.5)
    kept = nms_mod.batched_class_nms(boxes, scores, groups, 0.5)
    assert torch.equal(kept, expected)
