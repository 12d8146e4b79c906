"""The ``scratchgen`` command (also ``python -m scratchgen``): parser.py reads the options, commands.py
and demo.py do the work through the Python API of ``scratchgen.training``.

Every error a user can cause (a bad input, a damaged run directory, a file that cannot be read or
written) and Ctrl-C end in one line on stderr; internal bugs keep their traceback. With the
environment variable SCRATCHGEN_DEBUG=1 every error shows its traceback.
"""
from __future__ import annotations

import errno
import os
import sys

from ..training import RunError, TrainingDiverged
from .demo import DemoError
from .parser import build_parser, data_option

__all__ = ["build_parser", "data_option", "main"]

INTERRUPTED = 130   # what a shell reports for a command stopped by Ctrl-C (128 + SIGINT)

# What to do about an operating-system error, by errno; {or_choose} offers the command's output option.
_OS_ERROR_ADVICE = {
    errno.EACCES: "check the permissions of the file and of its folder{or_choose}",
    errno.EPERM: "check the permissions of the file and of its folder{or_choose}",
    errno.EROFS: "work in a writable folder{or_choose}",
    errno.ENOSPC: "free some disk space{or_choose}",
    errno.EEXIST: "a file of that name is in the way: remove it{or_choose}",
    errno.ENOTDIR: "a part of the path is a file, not a folder: rename it{or_choose}",
    errno.EISDIR: "a folder of that name is in the way: remove it{or_choose}",
}


def _fail(message: str) -> int:
    print(f"scratchgen: error: {message}", file=sys.stderr)
    return 2


def _os_error_message(error: OSError, output_option: str | None) -> str:
    """``error`` as "PATH: what went wrong; what to do"."""
    if error.filename is None or error.strerror is None:
        return str(error)
    advice = _OS_ERROR_ADVICE.get(error.errno, "")
    or_choose = f", or choose another {output_option}" if output_option else ""
    return f"{error.filename}: {error.strerror}" + (f"; {advice.format(or_choose=or_choose)}" if advice else "")


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    run = args.pop("run")
    args.pop("command")
    args.pop("what", None)
    output_option = next((f"--{name}" for name in ("out", "output") if name in args), None)
    try:
        result = run(**args)
    # a bad input, a damaged run directory, a file that cannot be read or written, Ctrl-C
    except (RunError, ValueError, OSError, TrainingDiverged, DemoError, KeyboardInterrupt) as e:
        if os.environ.get("SCRATCHGEN_DEBUG") == "1":
            raise
        if isinstance(e, KeyboardInterrupt):
            print("scratchgen: interrupted", file=sys.stderr)
            return INTERRUPTED
        return _fail((_os_error_message(e, output_option) if isinstance(e, OSError) else str(e)).splitlines()[0])
    return result if isinstance(result, int) else 0
