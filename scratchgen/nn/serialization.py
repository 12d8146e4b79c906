"""Saving and loading state dicts as ``.npz`` files, safely.

A state dict is a flat mapping from dotted names to NumPy arrays: a module's parameters and
buffers (``Module.state_dict``), an optimizer's moments and step counts, a schedule's position,
an EMA's averages. All of them are written the same way:

- **No pickle.** Arrays are written with ``allow_pickle=False`` and read back with
  ``np.load(..., allow_pickle=False)``, so opening a checkpoint can never run code, and an
  object array is refused when saving instead of being smuggled in.
- **Atomically**, by ``scratchgen.atomic_file.atomic_write``: a temporary file in the same
  directory, flushed and fsync-ed, moved over the destination with ``os.replace`` (atomic on
  POSIX and Windows), then the directory fsync-ed. A crash or an exception during a save
  leaves the existing checkpoint or the complete new one, never a mixture. The file gets the
  permissions ``open(path, "w")`` gives a new file (0o666 minus the umask).

``save_checkpoint(path, model=..., optimizer=...)`` puts several state dicts in one file (one
atomic write, so the model and its optimizer can never come from different steps);
``load_checkpoint(path)`` splits them again.
"""
from __future__ import annotations

import os
import zipfile
from collections import OrderedDict
from typing import Mapping, NamedTuple

import numpy as np

from ..atomic_file import atomic_write


class IncompatibleKeys(NamedTuple):
    """Names that a non-strict load skipped (as ``torch.nn.Module.load_state_dict`` returns)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def check_state_dict(owner: str, expected_shapes: Mapping[str, tuple], state: Mapping,
                     strict: bool = True) -> IncompatibleKeys:
    """Compare a state dict with the names and shapes its receiver expects.

    Raises one ValueError listing every problem at once: entries the receiver expects but the
    state lacks (missing), entries the receiver does not have (unexpected) and entries whose
    shapes differ (expected vs got). With ``strict=False`` missing and unexpected entries are
    tolerated and returned; shape mismatches are always errors, as in PyTorch.
    """
    missing = [name for name in expected_shapes if name not in state]
    unexpected = [name for name in state if name not in expected_shapes]
    mis_shaped = [(name, tuple(shape), np.shape(state[name])) for name, shape in expected_shapes.items()
                  if name in state and np.shape(state[name]) != tuple(shape)]
    problems = []
    if strict and missing:
        problems.append("missing (expected but absent from the state): " + ", ".join(missing))
    if strict and unexpected:
        problems.append("unexpected (in the state but not expected): " + ", ".join(unexpected))
    if mis_shaped:
        problems.append("wrong shape: " + "; ".join(f"{name} expected {shape}, got {got}"
                                                    for name, shape, got in mis_shaped))
    if problems:
        raise ValueError(
            f"cannot load the state into {owner}:\n  " + "\n  ".join(problems)
            + "\nBuild the receiver with the same configuration as the one that was saved"
            + (", or pass strict=False to skip missing and unexpected entries." if strict else ".")
        )
    return IncompatibleKeys(missing, unexpected)


def _as_state_dict(source) -> Mapping:
    """A state dict, or the state dict of anything that has one (module, optimizer, EMA...)."""
    return source.state_dict() if hasattr(source, "state_dict") else source


def save_state_dict(path, source) -> None:
    """Write a state dict (or ``source.state_dict()``) to ``path`` as an ``.npz`` file, atomically.

    ``path`` is used exactly as given (NumPy's habit of appending ".npz" is not copied).
    """
    state = _as_state_dict(source)
    arrays = []
    for name, value in state.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"state dict names must be non-empty strings, got {name!r}")
        array = np.asarray(value)
        if array.dtype.kind not in "biufU":  # fixed-width text (U) is stored as plain bytes, no pickle
            raise TypeError(
                f"state entry {name!r} has dtype {array.dtype}; only bool, integer, float and text arrays can be "
                "saved (checkpoints hold no pickled objects)"
            )
        arrays.append((name, array))

    def write_archive(file) -> None:
        # Written member by member (what np.savez does inside) so that allow_pickle=False is
        # enforced, and so that an entry named "file" cannot collide with savez's argument.
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in arrays:
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)

    atomic_write(path, write_archive)


def load_state_dict_file(path) -> "OrderedDict[str, np.ndarray]":
    """Read a state dict written by ``save_state_dict``: names to arrays, in the saved order.

    Pickled content is refused. Pass the result to ``module.load_state_dict`` (or an
    optimizer's, schedule's, EMA's), which reports any missing, unexpected or mis-shaped entry.
    A file that is cut short, damaged, not an ``.npz`` archive or holds pickled objects raises a
    one-line ValueError saying which.
    """
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (EOFError, zipfile.BadZipFile) as error:   # what a copy or a write that stopped early leaves
        raise ValueError(f"{path} is cut short or damaged ({error}): it is not a complete .npz archive") from None
    except ValueError as error:   # NumPy refusing pickled content, or a malformed array header
        raise ValueError(f"{path} is not a state dict scratchgen can read: {_unreadable(error)}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is not a state dict scratchgen can read: it holds one array, not named arrays")
    with archive:
        try:
            return OrderedDict((name, archive[name]) for name in archive.files)
        except zipfile.BadZipFile as error:   # a member whose bytes were damaged (bad CRC)
            raise ValueError(f"{path} is damaged ({error}): it is not a complete .npz archive") from None
        except ValueError as error:
            raise ValueError(f"{path} is not a state dict scratchgen can read: {_unreadable(error)}") from None


def _unreadable(error: ValueError) -> str:
    """Why NumPy refused a file, in words: its own messages suggest loading the file unsafely."""
    message = str(error)
    if message.startswith("Object arrays"):
        return "it holds pickled Python objects, which are never loaded (allow_pickle=False: they could run code)"
    if "pickle" in message:   # no .npz or .npy signature: NumPy could only try unpickling it
        return "it is not an .npz archive"
    return message.splitlines()[0]


def save_checkpoint(path, **parts) -> None:
    """Save several state dicts in one atomic file: ``save_checkpoint(p, model=m, optimizer=opt)``.

    Each part is a state dict or an object with ``state_dict()``; its entries are stored as
    "<part>.<name>", so part names must not contain dots.
    """
    if not parts:
        raise ValueError("save_checkpoint: name at least one part, e.g. save_checkpoint(path, model=model)")
    combined = OrderedDict()
    for part, source in parts.items():
        if "." in part:
            raise ValueError(f"save_checkpoint: part names cannot contain '.', got {part!r}")
        for name, value in _as_state_dict(source).items():
            combined[f"{part}.{name}"] = value
    save_state_dict(path, combined)


def load_checkpoint(path) -> "dict[str, OrderedDict[str, np.ndarray]]":
    """Read a file written by ``save_checkpoint``: part name to that part's state dict."""
    parts: dict[str, OrderedDict] = {}
    for key, array in load_state_dict_file(path).items():
        part, _, name = key.partition(".")
        parts.setdefault(part, OrderedDict())[name] = array
    return parts
