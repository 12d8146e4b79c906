"""The study guide's exercises work: each "break this line" exercise of docs/README.md, applied to a
copy of the package, makes the test selection it names fail, and every selection passes unbroken.

The breaks (file, old text, new text, selection) are read from docs/README.md itself, so the guide
and this test cannot drift apart. The real tree is never modified: each break goes into its own
copy of scratchgen/ and tests/, and pytest runs in a subprocess that imports that copy (checked).

Compiling Numba kernels takes seconds each. Numba caches them in __pycache__ beside their module
and checks only the module's modification time and size, so the copies, which keep both and the
caches, load every kernel compiled in the real tree or by the unbroken run (which goes first);
only the module a break edits compiles again.
"""
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = open(os.path.join(ROOT, "docs", "README.md")).read()
COPIED = ("scratchgen", "tests", "pyproject.toml")   # pyproject.toml holds the pytest settings


class Break(NamedTuple):
    step: str
    path: str            # relative to the repository
    old: str
    new: str
    selection: tuple     # pytest arguments: a test file, then possibly -k and a keyword


STEP = re.compile(r"^## (.+?)\n(.*?)(?=^## |\Z)", re.M | re.S)
EXERCISE = re.compile(r"^- Exercise: (.*?)(?=^- |\Z)", re.M | re.S)
# "in `FILE`, ... change ... `OLD` to `NEW` ... run `python -m pytest SELECTION`"; code spans stay on one line.
BREAK = re.compile(r"in `(?P<path>scratchgen/[\w/]+\.py)`,.*?\bchange\b[^`]*"
                   r"`(?P<old>[^`\n]+)`\s+to\s+`(?P<new>[^`\n]*)`"
                   r".*?run\s+`python -m pytest (?P<selection>tests/[\w/]+\.py(?: -k \w+)?)`", re.S)


def exercises_by_step(guide):
    """{step title: [exercise text, ...]} for every "## " step of the guide."""
    return {title: EXERCISE.findall(body) for title, body in STEP.findall(guide)}


def breaks(guide):
    found = []
    for step, exercises in exercises_by_step(guide).items():
        for text in exercises:
            match = BREAK.search(text)
            if match:
                found.append(Break(step, match["path"], match["old"], match["new"], tuple(match["selection"].split())))
    return found


BREAKS = breaks(GUIDE)


def test_every_step_has_one_break_this_line_exercise_and_its_line_exists_once():
    steps = exercises_by_step(GUIDE)
    assert len(steps) >= 12
    for step, exercises in steps.items():
        broken = [text for text in exercises if BREAK.search(text)]
        assert len(broken) == 1, f"step {step!r} of docs/README.md has {len(broken)} break-this-line exercises"
        # Any other exercise runs something; one that breaks a line must be in the form BREAK reads.
        assert all(text.startswith("run ") for text in exercises if text not in broken), step
    for exercise in BREAKS:
        source = open(os.path.join(ROOT, exercise.path)).read()
        assert source.count(exercise.old) == 1, (
            f"step {exercise.step!r}: `{exercise.old}` occurs {source.count(exercise.old)} times in {exercise.path}")


def copy_of_the_package(source, destination):
    """Copy the package, its tests and their settings, keeping modification times and caches."""
    for name in COPIED:
        if os.path.isdir(os.path.join(source, name)):
            shutil.copytree(os.path.join(source, name), os.path.join(destination, name),
                            ignore=shutil.ignore_patterns(".pytest_cache"))
        else:
            shutil.copy2(os.path.join(source, name), destination)


# `python -m pytest ARGS` that first prints the scratchgen it imports. With "first-failure", the run
# stops at the first failing test and hypothesis reports the failing example it found as it is:
# shrinking and explaining it (most of the time of a failing run) cannot change whether it fails.
DRIVER = """
import sys
import pytest
import scratchgen
print("scratchgen:", scratchgen.__file__)


class FirstFailure:
    def pytest_collection_finish(self, session):
        from hypothesis import Phase, settings
        settings.register_profile("first_failure", settings(settings.default, phases=[Phase.explicit, Phase.generate]))
        settings.load_profile("first_failure")


first_failure = sys.argv[1] == "first-failure"
sys.exit(pytest.main([*(["-x"] if first_failure else []), *sys.argv[2:]], plugins=[FirstFailure()] if first_failure else []))
"""  # noqa: E501 (the text of a script, kept as written)


def run_pytest(copy, *args, first_failure=False):
    """Run pytest ARGS in ``copy`` importing the copy's scratchgen; return (exit code, output)."""
    # Compiled kernels and bytecode go into the copy (copies inherit them), not into NUMBA_CACHE_DIR.
    env = {name: value for name, value in os.environ.items()
           if name not in ("NUMBA_CACHE_DIR", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPATH"] = os.pathsep.join([copy] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    mode = "first-failure" if first_failure else "all"
    result = subprocess.run([sys.executable, "-c", DRIVER, mode, "-q", "-p", "no:cacheprovider", *args], cwd=copy,
                            env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    imported = re.search(r"^scratchgen: (.+)$", result.stdout, re.M)
    assert imported and imported[1] == os.path.join(copy, "scratchgen", "__init__.py"), output
    return result.returncode, output


def combined_selection(exercises):
    """One pytest invocation running exactly the union of the exercises' selections."""
    files = sorted({exercise.selection[0] for exercise in exercises})
    keywords = []
    for exercise in exercises:
        module = os.path.basename(exercise.selection[0])
        keywords.append(f"({module} and {exercise.selection[2]})" if len(exercise.selection) == 3 else module)
    return [*files, "-k", " or ".join(sorted(set(keywords)))]


@pytest.fixture(scope="module")
def unbroken_copy(tmp_path_factory):
    """A copy of the package, and the result of running every exercise's selection in it unbroken."""
    copy = str(tmp_path_factory.mktemp("study_guide") / "unbroken")
    copy_of_the_package(ROOT, copy)
    return copy, run_pytest(copy, *combined_selection(BREAKS))


@pytest.fixture(scope="module")
def broken_runs(unbroken_copy, tmp_path_factory):
    """{step: (exit code, output)} of each exercise's selection in its own copy with the break made.

    The runs start after the unbroken one, whose compiled kernels their copies inherit, and run
    two at a time: most of a run is starting Python and waiting for one compiler thread.
    """
    copies = tmp_path_factory.mktemp("study_guide_breaks")

    def run_with_the_break(exercise):
        copy = str(copies / f"step{BREAKS.index(exercise) + 1}")
        copy_of_the_package(unbroken_copy[0], copy)
        path = os.path.join(copy, exercise.path)
        source = open(path).read()
        assert source.count(exercise.old) == 1, f"`{exercise.old}` is not once in {exercise.path}"
        with open(path, "w") as f:
            f.write(source.replace(exercise.old, exercise.new))
        return run_pytest(copy, *exercise.selection, first_failure=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip([exercise.step for exercise in BREAKS], pool.map(run_with_the_break, BREAKS)))


def test_the_exercise_selections_pass_without_the_breaks(unbroken_copy):
    _, (code, output) = unbroken_copy
    assert code == pytest.ExitCode.OK, output


@pytest.mark.parametrize("exercise", BREAKS, ids=[exercise.step for exercise in BREAKS])
def test_the_break_makes_the_selection_fail(exercise, broken_runs):
    code, output = broken_runs[exercise.step]
    assert code == pytest.ExitCode.TESTS_FAILED, (
        f"`python -m pytest {' '.join(exercise.selection)}` did not fail with the break of step {exercise.step!r} "
        f"(exit code {code}):\n{output}")
