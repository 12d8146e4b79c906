"""The IDX format MNIST ships in, gzipped or raw.

An IDX file is a 4-byte magic number -- two zero bytes, a dtype code, the number of
dimensions -- then each dimension as a big-endian uint32, then the array in C order,
big-endian. Readers here check every part of that and name the file in each error.
"""
import gzip
import zlib
from pathlib import Path

import numpy as np

from ..atomic_file import atomic_write

DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """A file is not a valid IDX file, or not the images or labels a dataset needs; the message
    names the file and the problem."""


def gunzip(data: bytes, source: str) -> bytes:
    """Decompress gzip ``data``; ``source`` names it if the data is damaged."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise IDXError(f"{source}: corrupt gzip data ({err}): the file is damaged or cut short; "
                       "copy or download it again") from None


def read_bytes(path) -> bytes:
    """The contents of ``path``, decompressed if it is gzip data (whatever its name)."""
    data = Path(path).read_bytes()
    return gunzip(data, str(path)) if data.startswith(_GZIP_MAGIC) else data


def decode(data: bytes, source: str) -> np.ndarray:
    """Parse IDX bytes into a native-endian array; ``source`` names them in errors."""
    if len(data) < 4:
        raise IDXError(f"{source}: header too short: {len(data)} bytes, an IDX file "
                       "starts with a 4-byte magic number")
    if data[:2] != b"\0\0":
        raise IDXError(f"{source}: bad magic number {data[:4].hex()}: an IDX file starts "
                       "with two zero bytes (is this an IDX file?)")
    code, ndim = data[2], data[3]
    if code not in DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in DTYPES)
        raise IDXError(f"{source}: unknown dtype code 0x{code:02x} (known: {known}): the file is "
                       "damaged or not an IDX file")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{source}: header too short: {ndim} dimensions need {header} "
                       f"bytes of header, the file has {len(data)}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = DTYPES[code]
    expected = header + dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "extra trailing bytes"
        raise IDXError(f"{source}: {problem}: shape {shape} of {dtype.name} needs "
                       f"{expected} bytes, the file has {len(data)}; copy or write it again")
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def encode(array: np.ndarray) -> bytes:
    """The IDX bytes of ``array`` (uint8, int8, int16, int32, float32 or float64)."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        names = ", ".join(d.name for d in DTYPES.values())
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of {names}")
    if array.ndim > 255 or any(d >= 2**32 for d in array.shape):
        raise ValueError(f"IDX cannot store shape {array.shape}: at most 255 dimensions, "
                         "each below 2**32")
    code = _CODES[native]
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array, DTYPES[code]).tobytes()


def read_idx(path) -> np.ndarray:
    """Read an IDX file, gzipped or raw, validating its header and length."""
    return decode(read_bytes(path), str(path))


def write_idx(path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzipped when ``path`` ends in ``.gz``."""
    data = encode(array)
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)  # mtime=0: same array, same bytes
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(data))
