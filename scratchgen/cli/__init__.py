"""The ``scratchgen`` command (also ``python -m scratchgen``): parser.py reads the options, commands.py
and demo.py do the work through the Python API of ``scratchgen.training``."""
from __future__ import annotations

import sys

from ..allocator import keep_freed_memory
from ..training import RunError, TrainingDiverged
from .demo import DemoError
from .parser import build_parser, data_option

__all__ = ["build_parser", "data_option", "main"]


def _fail(message: str) -> int:
    print(f"scratchgen: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    keep_freed_memory()
    run = args.pop("run")
    args.pop("command")
    args.pop("what", None)
    try:
        result = run(**args)
    except (RunError, ValueError, OSError) as e:   # a bad input or a file that cannot be read or written
        return _fail(str(e).splitlines()[0])
    except (TrainingDiverged, DemoError) as e:
        return _fail(str(e))
    return result if isinstance(result, int) else 0
