"""The ``scratchgen`` command (also ``python -m scratchgen``): parser.py reads the options, commands.py
and demo.py do the work through the Python API of ``scratchgen.training``."""
from __future__ import annotations

import sys

from ..allocator import keep_freed_memory
from ..training import RunError, TrainingDiverged
from .demo import DemoError
from .parser import build_parser

__all__ = ["build_parser", "main"]


def _fail(message: str) -> int:
    print(f"scratchgen: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    keep_freed_memory()
    run = args.pop("run")
    args.pop("command")
    try:
        result = run(**args)
    except (RunError, ValueError) as e:
        return _fail(str(e).splitlines()[0])
    except (TrainingDiverged, DemoError) as e:
        return _fail(str(e))
    return result if isinstance(result, int) else 0
