import json
import os

import pytest

from detkit.datasets import VOCDataset
from .conftest import write_image


def obj(name, box, difficult=0):
    x1, y1, x2, y2 = box
    return (f'<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>'
            f'<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>'
            '</bndbox></object>')


def make_voc(tmp_path, images, size_in_xml=True):
    """``images``: ``{name: (width, height, [object xml, ...])}`` -> data_root."""
    sub = tmp_path / 'VOCdevkit' / 'VOC2007'
    (sub / 'Annotations').mkdir(parents=True)
    (sub / 'ImageSets' / 'Main').mkdir(parents=True)
    for name, (width, height, objects) in images.items():
        write_image(str(sub / 'JPEGImages' / f'{name}.jpg'), width, height)
        size = (f'<size><width>{width}</width><height>{height}</height><depth>3</depth></size>'
                if size_in_xml else '')
        (sub / 'Annotations' / f'{name}.xml').write_text(
            f'<annotation><filename>{name}.jpg</filename>{size}{"".join(objects)}</annotation>')
    (sub / 'ImageSets' / 'Main' / 'test.txt').write_text('\n'.join(images) + '\n')
    return str(tmp_path / 'VOCdevkit')


def build(root, **kwargs):
    return VOCDataset(data_root=root, ann_file='VOC2007/ImageSets/Main/test.txt',
                      data_prefix=dict(sub_data_root='VOC2007/'), **kwargs)


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv('DETKIT_DATA', str(tmp_path / 'cache'))


def test_boxes_labels_difficult_as_ignore(tmp_path):
    root = make_voc(tmp_path, {'000001': (64, 48, [obj('dog', (11, 6, 30, 15)),
                                                   obj('person', (1, 1, 8, 8), difficult=1)]),
                               '000002': (32, 32, [obj('cat', (5, 5, 10, 10))])})
    ds = build(root)
    first = ds.get_data_info(0)
    assert first['img_path'] == os.path.join(root, 'VOC2007', 'JPEGImages', '000001.jpg')
    assert (first['img_id'], first['voc_name'], first['width'], first['height']) == \
        (1, '000001', 64, 48)
    # VOC's 1-based inclusive pixels -> xyxy pixel edges
    assert first['instances'] == [dict(bbox=[10.0, 5.0, 30.0, 15.0], bbox_label=11, ignore_flag=0),
                                  dict(bbox=[0.0, 0.0, 8.0, 8.0], bbox_label=14, ignore_flag=1)]
    assert ds.metainfo['classes'][7] == 'cat'
    assert 'ann_file' not in ds.metainfo  # only test_mode writes the COCO ground truth


def test_test_mode_writes_coco_ground_truth_for_the_metric(tmp_path):
    root = make_voc(tmp_path, {'000001': (64, 48, [obj('dog', (11, 6, 30, 15)),
                                                   obj('person', (1, 1, 8, 8), difficult=1)])})
    ds = build(root, test_mode=True)
    gt_file = ds.metainfo['ann_file']
    assert gt_file.startswith(str(tmp_path / 'cache' / 'voc_coco_gt'))
    gt = json.load(open(gt_file))
    assert gt['images'] == [dict(id=1, file_name='000001.jpg', width=64, height=48)]
    assert [a['bbox'] for a in gt['annotations']] == [[10.0, 5.0, 20.0, 10.0], [0.0, 0.0, 8.0, 8.0]]
    assert [a['iscrowd'] for a in gt['annotations']] == [0, 1]
    assert [a['category_id'] for a in gt['annotations']] == [12, 15]
    assert gt['categories'][11] == dict(id=12, name='dog')
    assert ds.metainfo['cat_ids'] == list(range(1, 21))


def test_size_read_from_the_image_when_the_xml_lacks_it(tmp_path):
    root = make_voc(tmp_path, {'a': (40, 30, [obj('cat', (5, 5, 60, 10))])}, size_in_xml=False)
    info = build(root).get_data_info(0)
    assert (info['width'], info['height']) == (40, 30)
    assert info['instances'][0]['bbox'] == [4.0, 4.0, 40.0, 10.0]  # clipped to the image


def test_unknown_names_and_bad_boxes_counted(tmp_path, log_messages):
    root = make_voc(tmp_path, {'a': (40, 30, [obj('cat', (5, 5, 10, 10)),
                                              obj('unicorn', (1, 1, 5, 5)),
                                              obj('cat', (10, 10, 9, 20))])})
    ds = build(root)
    assert len(ds.get_data_info(0)['instances']) == 1
    warning = [m for m in log_messages if m.startswith('VOCDataset(')][0]
    assert "ignored 1 annotation(s) whose category is not in `classes` (names ['unicorn'])" \
        in warning
    assert 'dropped 1 box(es) narrower or shorter than 1 px' in warning


def test_empty_after_filtering(tmp_path):
    root = make_voc(tmp_path, {'a': (40, 30, [obj('cat', (1, 1, 5, 5), difficult=1)])})
    with pytest.raises(ValueError, match='filter_empty_gt=True .* removed 1'):
        build(root, filter_cfg=dict(filter_empty_gt=True))


def test_missing_split_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='VOC split file not found: .*test.txt'):
        build(str(tmp_path))


def test_missing_xml_names_it_and_the_split_file(tmp_path):
    root = make_voc(tmp_path, {'a': (40, 30, [])})
    os.remove(os.path.join(root, 'VOC2007', 'Annotations', 'a.xml'))
    with pytest.raises(FileNotFoundError, match=r'Annotations/a\.xml not found.*test\.txt'):
        build(root)


def test_malformed_xml_names_file_line_and_column(tmp_path):
    root = make_voc(tmp_path, {'a': (40, 30, [])})
    path = os.path.join(root, 'VOC2007', 'Annotations', 'a.xml')
    with open(path, 'w') as f:
        f.write('<annotation>\n  <object>\n</annotation>\n')
    with pytest.raises(ValueError, match=r'a\.xml is not valid XML: .* at line 3, column 2'):
        build(root)


def test_missing_image_names_it_and_the_split_file(tmp_path):
    root = make_voc(tmp_path, {'a': (40, 30, []), 'b': (40, 30, [])})
    os.remove(os.path.join(root, 'VOC2007', 'JPEGImages', 'b.jpg'))
    with pytest.raises(FileNotFoundError, match=r'1 of 2 image files .*test\.txt.*b\.jpg'):
        build(root)
