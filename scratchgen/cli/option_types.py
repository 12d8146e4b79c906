"""argparse ``type=`` functions of the numeric options: each checks its range when the option is
parsed, so a bad value is a one-line usage error naming the option before anything runs."""
from __future__ import annotations

import argparse
import math


def number(integer: bool, accepts, what: str):
    """A type accepting the finite ints (or floats) for which ``accepts`` holds; ``what`` describes them."""
    def parse(text: str):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not accepts(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value
    parse.__name__ = what      # argparse names the type in some of its messages
    return parse


positive_int = number(True, lambda v: v > 0, "a positive integer")
count = number(True, lambda v: v >= 0, "0 or a positive integer")
positive = number(False, lambda v: v > 0, "a positive finite number")
non_negative = number(False, lambda v: v >= 0, "a finite number >= 0")
fraction = number(False, lambda v: 0 < v < 1, "a number in (0, 1)")
unit_interval = number(False, lambda v: 0 <= v <= 1, "a number in [0, 1]")
below_one = number(False, lambda v: 0 <= v < 1, "a number in [0, 1)")


def png_file(text: str) -> str:
    """A PNG to write: the name must say so (matplotlib would add .png to a name without it, and fail
    on another extension only after the work is done)."""
    if not text.lower().endswith(".png"):
        raise argparse.ArgumentTypeError(f"expected a file name ending in .png, got {text!r}")
    return text
