import numpy as np
import pytest

from cardioclarity.xray.evaluate import summarise


def _row(true_box, pred_box, w=200, h=100):
    return {"name": "f", "set": "s", "width": w, "height": h, "true_box": true_box,
            "pred_box": pred_box, "mask_ctr": None, "expert_ctr": None, "pred_ctr": None}


def test_box_metrics_and_edge_bias_from_known_boxes():
    # Prediction shifted 10 px down on a 100-px-high image: top and bottom +10 %, sides 0.
    rows = [_row([50, 20, 150, 80], [50, 30, 150, 90]),
            _row([50, 20, 150, 80], [50, 20, 150, 80])]
    m = summarise(rows)
    assert m["n"] == 2
    assert m["box_iou"] == pytest.approx((50 * 100 / (70 * 100) + 1) / 2)
    np.testing.assert_allclose(m["edge_bias_pct"], [0, 5, 0, 5])  # mean of +10 % and 0
    assert m["corner_err_px"] == pytest.approx(2.5)  # |dy| = 10 on 2 of 8 coordinates
    assert m["f1@50"] == 1.0 and m["recall@75"] == 0.5


def test_missed_heart_counts_as_zero_iou_and_is_left_out_of_the_bias():
    rows = [_row([0, 0, 100, 50], None), _row([0, 0, 100, 50], [20, 0, 120, 50])]
    m = summarise(rows)
    assert m["box_iou"] == pytest.approx((0 + 80 * 50 / (120 * 50)) / 2)
    np.testing.assert_allclose(m["edge_bias_pct"], [10, 0, 10, 0])  # +20 px of 200 on one film
    assert m["recall@50"] == 0.5
