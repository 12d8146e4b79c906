"""Where downloaded and generated data lives, and how files get there safely."""
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

# mkstemp makes owner-only files; finished files should get the usual permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/scratchgen``, else ``~/.cache/scratchgen`` (not created here)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "scratchgen"


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Create ``path`` with the bytes ``write(f)`` produces, all or nothing.

    The data goes to a temporary file in the same folder and is renamed over ``path``
    only once complete, so an interrupted run or a concurrent reader never sees a
    partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
