"""Multi-query associative recall (MQAR) examples, after the Zoology generator.

Arora, Eyuboglu et al., "Zoology: Measuring and improving recall in efficient language models"
(2023); generator: HazyResearch/zoology, ``zoology/data/multiquery_ar.py``. Written afresh here.

One example of length T with K key-value pairs::

    position:  0   1   2   3  ...  2K-2 2K-1 | 2K ...                               T-1
    input:     k1  v1  k2  v2 ...  kK   vK   | filler, and each key once more, as a query
    target:    -100 everywhere except at the K query positions, where it is the key's value

- keys are drawn without replacement from the lower half of the vocabulary ``[1, V/2)``, values
  from the upper half ``[V/2, V)``;
- the queries sit on the even offsets of the region after the pairs; the offset (in slots) of
  each is drawn without replacement from a power law ``p(g) ~ a (g + 1)^(a - 1)`` (``a`` =
  ``power_a``; small ``a`` puts most queries early, ``a = 1`` is uniform), and which key goes
  to which slot is a random permutation;
- every other position of the query region holds a random token from the whole vocabulary
  (``random_fillers``) or 0;
- the model reads the query key at position p and must predict the value *at* p (the value
  never appears after the query), so only the K query positions are supervised.

The query distance of a query is its position minus the position of its key in the pairs: a
sliding window of w tokens covers it in one layer when the distance is below w.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

IGNORE_INDEX = -100
DISTANCE_EDGES = (8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class MQARBatch:
    """``inputs``/``targets``: (N, T) int64. ``query_positions``, ``query_distances``: (N, K)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    query_positions: torch.Tensor
    query_distances: torch.Tensor
    num_kv_pairs: int


def check_shape(vocab_size: int, seq_len: int, num_kv_pairs: int) -> None:
    """Raise ValueError when K pairs and K queries do not fit, or the vocabulary is too small."""
    if num_kv_pairs < 1:
        raise ValueError(f"num_kv_pairs must be at least 1, not {num_kv_pairs}")
    if 4 * num_kv_pairs > seq_len:
        raise ValueError(
            f"seq_len {seq_len} is too short for {num_kv_pairs} pairs: it needs 4 * K tokens"
        )
    if vocab_size // 2 - 1 < num_kv_pairs or vocab_size - vocab_size // 2 < num_kv_pairs:
        raise ValueError(f"vocab_size {vocab_size} is too small for {num_kv_pairs} distinct keys")


def _sample_without_replacement(
    rng: np.random.Generator, n: int, low: int, high: int, k: int
) -> np.ndarray:
    """(n, k) draws from [low, high), distinct within each row, uniformly."""
    return np.argsort(rng.random((n, high - low)), axis=1)[:, :k] + low


def power_law_slots(
    rng: np.random.Generator, n: int, num_slots: int, k: int, power_a: float
) -> np.ndarray:
    """(n, k) distinct slot indices in [0, num_slots) drawn without replacement with
    probability proportional to ``(g + 1) ** (power_a - 1)`` (Gumbel top-k)."""
    log_p = (power_a - 1.0) * np.log(np.arange(1, num_slots + 1, dtype=np.float64))
    gumbel = -np.log(-np.log(rng.random((n, num_slots))))
    return np.argsort(-(log_p + gumbel), axis=1)[:, :k]


def generate_mqar(
    num_examples: int,
    num_kv_pairs: int,
    seq_len: int,
    vocab_size: int,
    seed: int | np.random.Generator,
    power_a: float = 0.01,
    random_fillers: bool = True,
) -> MQARBatch:
    """``num_examples`` MQAR examples with ``num_kv_pairs`` pairs each (see the module doc)."""
    check_shape(vocab_size, seq_len, num_kv_pairs)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n, k, half = num_examples, num_kv_pairs, vocab_size // 2
    keys = _sample_without_replacement(rng, n, 1, half, k)
    values = _sample_without_replacement(rng, n, half, vocab_size, k)

    if random_fillers:
        inputs = rng.integers(0, vocab_size, size=(n, seq_len))
    else:
        inputs = np.zeros((n, seq_len), dtype=np.int64)
    inputs[:, 0 : 2 * k : 2] = keys
    inputs[:, 1 : 2 * k : 2] = values

    context = 2 * k
    slots = power_law_slots(rng, n, (seq_len - context) // 2, k, power_a)  # for queries 1..K
    which_key = np.argsort(rng.random((n, k)), axis=1)  # query j asks for key which_key[:, j]
    query_pos = context + 2 * slots
    rows = np.arange(n)[:, None]
    inputs[rows, query_pos] = keys[rows, which_key]
    targets = np.full((n, seq_len), IGNORE_INDEX, dtype=np.int64)
    targets[rows, query_pos] = values[rows, which_key]
    distances = query_pos - 2 * which_key

    return MQARBatch(
        inputs=torch.from_numpy(inputs.astype(np.int64)),
        targets=torch.from_numpy(targets),
        query_positions=torch.from_numpy(query_pos.astype(np.int64)),
        query_distances=torch.from_numpy(distances.astype(np.int64)),
        num_kv_pairs=k,
    )


def distance_bucket(distance: int, edges: tuple[int, ...] = DISTANCE_EDGES) -> str:
    """A label for the power-of-two bucket holding ``distance``: ``"0-7"``, ``"8-15"``, ..."""
    lo = 0
    for hi in edges:
        if distance < hi:
            return f"{lo}-{hi - 1}"
        lo = hi
    return f">={edges[-1]}"
