"""What every head of the RetinaNet family must match in its MMDetection 3.3 reference file:
forward, gradients, detections (a) and (b), a loss path without host reads, empty images.

Each head's own file (test_atss_head.py …) checks its layout, defaults, targets and
per-level losses.
"""
import pytest

HEADS = {
    'atss_head': (['cls_scores', 'bbox_preds', 'centernesses'], [100, 100]),
    'gfl_head': (['cls_scores', 'bbox_preds'], [82, 81]),
}


@pytest.fixture(params=list(HEADS), scope='module')
def case(request, head_case):
    return head_case(request.param, HEADS[request.param][0])


def test_forward_matches_reference(case):
    case.assert_forward(case.build())


def test_gradients_match_reference(case):
    case.assert_gradients(case.build())


def test_predict_on_head_outputs_matches_reference(case):
    preds = case.build().predict_by_feat(*case.head_outputs(), batch_img_metas=case.metas)
    assert [len(p) for p in preds] == HEADS[case.name][1]
    case.assert_detections(preds, 'a')


def test_predict_on_synthetic_outputs_matches_reference(case):
    preds = case.build().predict_by_feat(*case.synthetic_outputs(), batch_img_metas=case.metas)
    assert [len(p) for p in preds] == [100, 100]
    case.assert_detections(preds, 'b')


def test_loss_path_reads_nothing_back_to_the_host(case):
    case.assert_loss_path_sync_free(case.build())


def test_images_without_gts_give_only_a_classification_loss(case):
    case.assert_no_gts_gives_only_a_classification_loss(case.build())
