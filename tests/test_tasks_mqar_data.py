"""The MQAR generator: layout, supervision, distances, power-law spacing, determinism."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")

from stepstone.tasks.mqar_data import (  # noqa: E402
    IGNORE_INDEX,
    check_shape,
    distance_bucket,
    generate_mqar,
    power_law_slots,
)


def test_layout_keys_values_and_queries() -> None:
    v, t, k = 64, 48, 6
    batch = generate_mqar(200, k, t, v, seed=0)
    x, y = batch.inputs, batch.targets
    assert x.shape == y.shape == (200, t) and x.dtype == torch.int64
    keys, values = x[:, 0 : 2 * k : 2], x[:, 1 : 2 * k : 2]
    assert ((keys >= 1) & (keys < v // 2)).all()
    assert ((values >= v // 2) & (values < v)).all()
    for row in range(200):
        assert len(set(keys[row].tolist())) == k  # distinct keys per example
    # exactly K supervised positions, all after the pairs, each at a query of its key
    supervised = y != IGNORE_INDEX
    assert (supervised.sum(1) == k).all()
    assert not supervised[:, : 2 * k].any()
    for row in range(200):
        lookup = dict(zip(keys[row].tolist(), values[row].tolist(), strict=True))
        for j, pos in enumerate(batch.query_positions[row].tolist()):
            query = int(x[row, pos])
            assert y[row, pos] == lookup[query]
            key_pos = 2 * keys[row].tolist().index(query)
            assert batch.query_distances[row, j] == pos - key_pos
        assert sorted(int(x[row, p]) for p in batch.query_positions[row]) == sorted(
            keys[row].tolist()
        )


def test_fillers_are_zero_or_random() -> None:
    quiet = generate_mqar(10, 4, 32, 64, seed=1, random_fillers=False)
    filler = quiet.targets == IGNORE_INDEX
    filler[:, :8] = False
    assert (quiet.inputs[filler] == 0).all()
    noisy = generate_mqar(10, 4, 32, 64, seed=1, random_fillers=True)
    assert (noisy.inputs[filler] != 0).any()


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = generate_mqar(8, 4, 32, 64, seed=3)
    b = generate_mqar(8, 4, 32, 64, seed=3)
    c = generate_mqar(8, 4, 32, 64, seed=4)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)


def test_power_law_puts_queries_early() -> None:
    rng = np.random.default_rng(0)
    skewed = power_law_slots(rng, 2000, 40, 4, power_a=0.01)
    uniform = power_law_slots(rng, 2000, 40, 4, power_a=1.0)
    assert all(len(set(row)) == 4 for row in skewed.tolist())
    assert skewed.min() >= 0 and skewed.max() < 40
    assert skewed.mean() < 0.7 * uniform.mean()
    assert abs(uniform.mean() - 19.5) < 1.0


def test_shapes_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        check_shape(64, 30, 8)
    with pytest.raises(ValueError, match="too small"):
        check_shape(8, 64, 8)
    check_shape(64, 32, 8)


def test_distance_buckets() -> None:
    assert distance_bucket(2) == "0-7"
    assert distance_bucket(8) == "8-15"
    assert distance_bucket(63) == "32-63"
    assert distance_bucket(5000) == ">=1024"
