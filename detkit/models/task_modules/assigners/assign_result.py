"""What an assigner decided for every prior of every image in a batch."""
from dataclasses import dataclass

from torch import Tensor


@dataclass
class AssignResult:
    """Assignment of ``N`` priors to the gts of ``B`` images.

    Attributes:
        gt_inds: ``[B, N]`` int64; 0 negative, -1 ignored (no loss), ``k > 0``
            assigned to gt ``k - 1`` of that image.
        max_overlaps: ``[B, N]`` the prior's best IoU over the image's gts
            (0 for images without gts and for invalid priors, -1 for priors
            ignored by an ignore region). ATSSAssigner, as MMDetection's: the IoU
            with the assigned gt for positives, -1e8 for the other valid priors.
        labels: ``[B, N]`` int64 label of the assigned gt, -1 where not positive.
        num_gts: ``[B]`` int64 number of valid gts per image.
    """

    gt_inds: Tensor
    max_overlaps: Tensor
    labels: Tensor
    num_gts: Tensor
