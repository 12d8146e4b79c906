"""End to end: a small conv classifier built from scratchgen's layers learns real-looking digits.

Uses the built-in glyph-digits (generated here, no download), so the whole stack — kernels,
layer ops, modules, Adam — is exercised on image data, not on random numbers.
"""
import numpy as np

import scratchgen as sg
import scratchgen.nn as nn
from scratchgen import optim
from scratchgen.data import DataLoader
from scratchgen.data.glyphs import generate


def small_convnet():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Dropout(0.1), nn.Linear(16 * 7 * 7, 10))


def test_conv_classifier_learns_glyph_digits():
    sg.manual_seed(0)
    train, test = generate(1200, seed=1), generate(300, seed=2)
    model = small_convnet()
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(3):
        for x, y in DataLoader(train, 64, seed=0):
            loss = sg.cross_entropy(model(x[:, None]), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])

    model.eval()
    with sg.no_grad():
        images, labels = test
        predictions = model(images[:, None].astype(np.float32) / 255).data.argmax(axis=1)
    assert np.mean(predictions == labels) > 0.6  # chance is 0.1
