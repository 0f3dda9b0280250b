import json
import pickle

import torch

from detkit.evaluation import DumpDetResults


def _sample(img_id):
    return dict(img_id=img_id, img_path=f'{img_id}.jpg', ori_shape=(10, 20),
                pred_instances=dict(bboxes=torch.tensor([[1., 2., 5., 6.]]),
                                    scores=torch.tensor([0.9]), labels=torch.tensor([0])))


def test_pickle_holds_numpy_predictions_per_image(tmp_path):
    out = tmp_path / 'res.pkl'
    metric = DumpDetResults(out_file=str(out))
    metric.dataset_meta = dict(classes=('a',))
    metric.process({}, [_sample(1), _sample(2)])
    metric.evaluate(size=2)
    results = pickle.loads(out.read_bytes())
    assert [r['img_id'] for r in results] == [1, 2]
    assert results[0]['bboxes'].tolist() == [[1.0, 2.0, 5.0, 6.0]]


def test_json_maps_labels_to_the_annotation_files_category_ids(tmp_path):
    ann = tmp_path / 'gt.json'
    ann.write_text(json.dumps(dict(images=[dict(id=1, width=20, height=10, file_name='1.jpg')],
                                   annotations=[], categories=[dict(id=5, name='a')])))
    out = tmp_path / 'res.json'
    metric = DumpDetResults(out_file=str(out))
    metric.dataset_meta = dict(classes=('a',), ann_file=str(ann))
    metric.process({}, [_sample(1)])
    metric.evaluate(size=1)
    assert json.loads(out.read_text()) == [
        dict(image_id=1, bbox=[1.0, 2.0, 4.0, 4.0], score=0.9, category_id=5)]
