"""Mini-batches for training: float32 in [0, 1], seeded shuffling, optional binarization."""
import numpy as np

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
