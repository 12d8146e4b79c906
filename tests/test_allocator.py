"""`import scratchgen` keeps freed memory for reuse (scratchgen/allocator.py) unless the user opts out."""
import os
import subprocess
import sys

import pytest

from scratchgen import allocator

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt only")

DESCRIBE_AFTER_IMPORT = "import scratchgen, scratchgen.allocator as a; print(a.describe())"


def _describe_in_a_fresh_process(**variables):
    env = {key: value for key, value in os.environ.items() if key != allocator.OPT_OUT_VARIABLE}
    result = subprocess.run([sys.executable, "-c", DESCRIBE_AFTER_IMPORT], env={**env, **variables},
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_import_keeps_freed_memory_for_the_python_api():
    assert _describe_in_a_fresh_process().startswith("freed memory kept")


def test_scratchgen_keep_freed_memory_0_leaves_glibc_alone():
    assert _describe_in_a_fresh_process(**{allocator.OPT_OUT_VARIABLE: "0"}) == "glibc default"


def test_keep_freed_memory_turns_glibc_mallopt_on():
    assert allocator.keep_freed_memory() and allocator.keep_freed_memory()   # idempotent
    assert allocator.describe().startswith("freed memory kept")
