"""ResNetV1d backbone ("Bag of Tricks", He et al., 2019) with MMDetection's names."""
from detkit.registry import MODELS
from .resnet import ResNet


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNet with a deep stem and average-pool downsampling (ResNet-D).

    The 7×7 stem conv becomes three 3×3 convs (``stem.0``, ``stem.3``,
    ``stem.6``; norms ``stem.1``, ``stem.4``, ``stem.7``; the first conv has
    stride 2 and ``stem_channels // 2`` outputs), and every downsampling
    shortcut averages ``stride×stride`` pixels before its stride-1 1×1 conv
    (``downsample.1``, norm ``downsample.2``), as MMDetection's
    ``ResNetV1d``, so its ``resnet50_v1d`` checkpoints load unchanged.

    Args:
        depth: 18, 34, 50, 101 or 152.
        **kwargs: :class:`ResNet`'s other arguments; ``deep_stem`` and
            ``avg_down`` are always on.

    Shapes: as :class:`ResNet`.
    """

    def __init__(self, depth: int, **kwargs) -> None:
        fixed = sorted({'deep_stem', 'avg_down'} & set(kwargs))
        if fixed:
            raise TypeError(f'ResNetV1d always has deep_stem=True and avg_down=True; remove '
                            f'{", ".join(fixed)} from its config (or use type="ResNet")')
        super().__init__(depth, deep_stem=True, avg_down=True, **kwargs)
