"""Where downloaded and generated data lives."""
import os
from pathlib import Path


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/scratchgen``, else ``~/.cache/scratchgen`` (not created here)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "scratchgen"
