"""Mini-batches for training: float32 in [0, 1], seeded shuffling, optional binarization."""
import copy
from typing import Mapping

import numpy as np

from ..autograd.random import generator_state_array, set_generator_state

BINARIZE = (None, "threshold", "bernoulli")


class DataLoader:
    """Batches ``(x, y)`` of a dataset; each ``for`` loop over the loader is one epoch.

    ``data`` is a Dataset or any pair (uint8 images (N, ...), labels (N,)). Batches are
    ``x`` float32 (B, ...) in [0, 1] and ``y`` int64 (B,).

    - ``shuffle``: a new order every epoch, from a generator seeded by ``seed``, so the
      sequence of epochs is reproducible.
    - ``drop_last``: skip the final batch when it is smaller than ``batch_size``.
    - ``binarize`` for likelihood models of binary pixels: ``"threshold"`` gives
      ``x > threshold`` (fixed across epochs); ``"bernoulli"`` samples each pixel as 1 with
      probability equal to its intensity, afresh every epoch (dynamic binarization).

    ``state_dict()`` holds the two random streams (``"order"`` for shuffling, ``"bits"`` for
    Bernoulli binarization) as uint8 arrays. After ``load_state_dict(state)``, the next epoch is
    the one the saved loader would have started when ``state_dict()`` was called (the data and
    the options come from the constructor, as a module's structure does). Taken during an epoch,
    the state gives the next epoch, not the rest of this one: to resume mid-epoch, save between
    epochs and skip the batches already done.
    """

    def __init__(self, data, batch_size: int = 128, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, binarize=None, threshold: float = 0.5):
        images, labels = data
        if images.dtype != np.uint8 or len(images) != len(labels):
            raise ValueError(f"expected uint8 images and one label per image, got "
                             f"{images.dtype} images {images.shape}, labels {labels.shape}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if binarize not in BINARIZE:
            raise ValueError(f"unknown binarize={binarize!r}: use one of {BINARIZE}")
        self.images, self.labels = images, labels
        self.batch_size = int(batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.binarize, self.threshold = binarize, threshold
        # Separate streams, so that turning binarization on does not change the order.
        order, bits = np.random.SeedSequence(seed).spawn(2)
        self._order_rng = np.random.default_rng(order)
        self._bits_rng = np.random.default_rng(bits)

    def _generators(self) -> dict:
        return {"order": self._order_rng, "bits": self._bits_rng}

    def state_dict(self) -> dict:
        """The random streams' states as uint8 JSON bytes (storable in an .npz without pickle)."""
        return {name: generator_state_array(rng) for name, rng in self._generators().items()}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore ``state_dict()``'s streams; on a bad state, ValueError and nothing changes."""
        expected = self._generators()
        missing = [name for name in expected if name not in state]
        unexpected = [name for name in state if name not in expected]
        problems = []
        if missing:
            problems.append(f"missing (expected but absent from the state): {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected (in the state but not expected): {', '.join(map(str, unexpected))}")
        if problems:
            raise ValueError("cannot load the state into DataLoader: " + "; ".join(problems))
        restored = {}
        for name, rng in expected.items():
            restored[name] = copy.deepcopy(rng)
            try:
                set_generator_state(restored[name], state[name])
            except ValueError as error:
                raise ValueError(f"cannot load the state into DataLoader: {name}: {error}") from error
        self._order_rng, self._bits_rng = restored["order"], restored["bits"]

    def __len__(self) -> int:
        """Batches per epoch."""
        n, b = len(self.labels), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n = len(self.labels)
        order = self._order_rng.permutation(n) if self.shuffle else np.arange(n)
        for k in range(len(self)):
            index = order[k * self.batch_size:(k + 1) * self.batch_size]
            x = self.images[index].astype(np.float32) / np.float32(255)
            if self.binarize == "threshold":
                x = (x > self.threshold).astype(np.float32)
            elif self.binarize == "bernoulli":
                x = (self._bits_rng.random(x.shape, np.float32) < x).astype(np.float32)
            yield x, self.labels[index].astype(np.int64)
