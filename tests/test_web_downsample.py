"""The min/max envelope the metric charts are downsampled with: every spike survives."""

from __future__ import annotations

import pytest

from stepstone.store.metrics import Series
from stepstone.web.downsample import envelope_indices
from stepstone.web.series import drawable


@pytest.mark.parametrize("use_numpy", [False, True])
def test_the_envelope_keeps_a_spike_up_and_down_in_one_bucket(use_numpy: bool) -> None:
    n = 20_000
    xs = list(range(n))
    ys = [1.0] * n
    ys[5_000], ys[5_001] = 90.0, -90.0  # both in one bucket: LTTB keeps only one of them
    keep = envelope_indices(xs, ys, 100, use_numpy=use_numpy)
    assert len(keep) <= 100
    assert keep[0] == 0 and keep[-1] == n - 1 and keep == sorted(keep)
    assert 5_000 in keep and 5_001 in keep


def test_the_envelope_paths_agree_and_small_series_pass_through() -> None:
    xs = list(range(5_000))
    ys = [((x * 7919) % 101) / 10.0 for x in xs]
    assert envelope_indices(xs, ys, 300, use_numpy=False) == envelope_indices(
        xs, ys, 300, use_numpy=True)
    assert envelope_indices([0, 1, 2], [1, 2, 3], 10) == [0, 1, 2]
    with pytest.raises(ValueError):
        envelope_indices([0, 1], [0], 10)


def test_a_million_point_series_keeps_its_spikes_when_drawn() -> None:
    n = 1_000_000
    steps = list(range(n))
    values = [2.0 - step * 1e-6 for step in steps]
    values[654_321], values[654_322] = 1e3, -1e3
    drawn = drawable(Series("loss", steps, values, [0.0] * n), 1500)
    assert len(drawn["x"]) <= 1500 and drawn["n"] == n
    assert max(drawn["y"]) == 1e3 and min(drawn["y"]) == -1e3
    assert drawn["x"][drawn["y"].index(1e3)] == 654_321
