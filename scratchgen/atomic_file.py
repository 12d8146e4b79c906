"""Replace a file all at once: the one writer for checkpoints and for the data cache.

``atomic_write(path, write)`` guarantees that ``path`` holds either its previous content or
the complete new content, never a mixture, even across a crash or a power cut:

1. ``write(file)`` fills a new temporary file in the same directory as ``path`` (a rename is
   atomic only within one filesystem);
2. the file is flushed and ``fsync``-ed, so its bytes are on disk before its name is;
3. ``os.replace`` renames it over ``path`` (atomic on POSIX and Windows);
4. the directory is ``fsync``-ed, so the new name survives a power cut too.

An exception (Ctrl-C included) before the rename removes the temporary file and leaves
``path`` untouched; a crash leaves ``path`` whole as well, at worst with a stray hidden
``.<name>.<random>.part`` file beside it.

The finished file gets the permissions ``open(path, "w")`` gives a new file (0o666 minus the
umask, and a directory's default ACL where there is one): the temporary file is created with
mode 0o666 and the operating system applies the umask itself, as it does for ``open``. So the
umask is never read, and reading it (``os.umask`` can only be read by setting it) is not a
race with other threads creating files. ``tempfile.mkstemp`` is not used because it creates
owner-only (0o600) files.
"""
from __future__ import annotations

import errno
import os
import secrets
from typing import BinaryIO, Callable

# O_EXCL: never open a file someone else made; O_BINARY: no newline translation on Windows.
_CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def atomic_write(path, write: Callable[[BinaryIO], None]) -> None:
    """Make ``path`` hold exactly the bytes ``write(file)`` writes to the binary ``file``.

    ``path``'s directory must exist. The result is a new file: an existing file's permissions
    are not carried over. An exception from ``write`` (or from the flush, fsync or rename) is
    re-raised after the temporary file is removed; the previous ``path`` is left as it was.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.part")
    descriptor = os.open(temporary, _CREATE_NEW, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    _fsync_directory(directory)


# What fsync on a directory returns on filesystems that cannot sync one (some network and FUSE
# filesystems); any other error means the new name may not be on disk and is raised.
_CANNOT_SYNC_A_DIRECTORY = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


def _fsync_directory(directory: str) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # the platform cannot open a directory (Windows), so there is nothing to sync
        return
    try:
        os.fsync(descriptor)
    except OSError as err:
        if err.errno not in _CANNOT_SYNC_A_DIRECTORY:
            raise
    finally:
        os.close(descriptor)
