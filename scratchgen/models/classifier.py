"""A LeNet-style digit classifier: the judge that the sample metrics are computed with.

Two 5x5 convolutions with max pooling, then a 128-unit hidden layer whose activations are the
*features* for the Fréchet and kernel distances, and a linear layer to the 10 class logits
(LeCun et al. 1998, with ReLU and max pooling in place of the original squashing and
subsampling). Trained with softmax cross-entropy.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd.tensor import Tensor, no_grad

FEATURE_DIM = 128


class DigitClassifier(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(1, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),          # width x 14 x 14
            nn.Conv2d(width, 2 * width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 2 width x 7 x 7
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, FEATURE_DIM), nn.ReLU())
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, images) -> Tensor:
        """Class logits for images (N, 1, 28, 28) or (N, 28, 28) in [0, 1]."""
        return self.head(self.dropout(self.trunk(_with_channel(images))))

    def features_and_probabilities(self, images: np.ndarray, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """Penultimate-layer features (N, 128) and class probabilities (N, 10), in eval mode."""
        was_training = self.training
        self.eval()
        features, probabilities = [], []
        with no_grad():
            for start in range(0, len(images), batch_size):
                batch = np.asarray(images[start:start + batch_size], dtype=np.float32)
                hidden = self.trunk(_with_channel(batch))
                logits = self.head(hidden).data
                features.append(hidden.data)
                exps = np.exp(logits - logits.max(axis=1, keepdims=True))
                probabilities.append(exps / exps.sum(axis=1, keepdims=True))
        self.train(was_training)
        return np.concatenate(features), np.concatenate(probabilities)


def _with_channel(images):
    return images if images.ndim == 4 else images.reshape(images.shape[0], 1, *images.shape[1:])
