"""The copy-free level helpers agree with the plain permute / reshape / cat formulas."""
import pytest
import torch

from detkit.models.utils import level_maps as lm


def _plain_flatten(maps, channels):
    return torch.cat([m.permute(0, 2, 3, 1).reshape(m.shape[0], -1, channels) for m in maps], 1)


@pytest.mark.parametrize('fmt', [torch.contiguous_format, torch.channels_last])
def test_flatten_levels_matches_permute_reshape_cat(fmt):
    maps = [torch.randn(2, 3 * 5, h, w).contiguous(memory_format=fmt)
            for h, w in ((6, 5), (3, 3), (1, 2))]
    assert torch.equal(lm.flatten_levels(maps, 5), _plain_flatten(maps, 5))
    assert torch.equal(lm.flatten_levels(maps[:1], 5), _plain_flatten(maps[:1], 5))


@pytest.mark.parametrize('fmt', [torch.contiguous_format, torch.channels_last])
def test_topk_per_image_finds_the_flattened_topk(fmt):
    num_classes, num_base = 4, 3
    cls = torch.randn(2, num_base * num_classes, 5, 7).contiguous(memory_format=fmt)
    flat = _plain_flatten([cls], num_classes).reshape(2, -1)
    logits, anchors, labels = lm.topk_per_image(cls, num_classes, 20)
    expected = flat.topk(20, dim=1).values
    assert torch.equal(logits.sort(dim=1).values, expected.sort(dim=1).values)
    # each returned (anchor, label) points at its logit in the flattened order
    assert torch.equal(flat.gather(1, anchors * num_classes + labels), logits)


@pytest.mark.parametrize('fmt', [torch.contiguous_format, torch.channels_last])
def test_gather_priors_reads_the_prior_channels(fmt):
    reg = torch.randn(2, 3 * 4, 4, 6).contiguous(memory_format=fmt)
    anchors = torch.randint(0, 4 * 6 * 3, (2, 9))
    expected = _plain_flatten([reg], 4).gather(1, anchors[..., None].expand(-1, -1, 4))
    assert torch.equal(lm.gather_priors(reg, anchors, 4), expected)


@pytest.mark.parametrize('fmt', [torch.contiguous_format, torch.channels_last])
def test_topk_per_image_with_a_floor_keeps_the_same_entries_above_it(fmt):
    num_classes, k, floor = 20, 1000, 1.5  # ~7 % above the floor, large enough to pre-select
    gen = torch.Generator().manual_seed(0)
    cls = torch.randn(2, 9 * num_classes, 40, 40, generator=gen).contiguous(memory_format=fmt)
    cls[1] -= 2.5  # the second image has fewer than k entries above the floor
    plain = lm.topk_per_image(cls, num_classes, k)
    floored = lm.topk_per_image(cls, num_classes, k, min_logit=floor)
    for img in range(2):
        def above(result):
            logits, anchors, labels = (t[img] for t in result)
            keep = logits > floor
            return sorted(zip(logits[keep].tolist(), anchors[keep].tolist(),
                              labels[keep].tolist()))
        assert above(floored) == above(plain)
