"""Running the `scratchgen` command from tests: in process (fast) or as a real subprocess."""
import contextlib
import io
import os
import subprocess
import sys
import urllib.error

from scratchgen.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args):
    """In-process `scratchgen ARGS` (fast); `run_subprocess` checks the real `python -m scratchgen`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:
            code = e.code
    return Result(code, out.getvalue(), err.getvalue())


def run_subprocess(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("SCRATCHGEN_DATA", None)
    return subprocess.run([sys.executable, "-m", "scratchgen", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def trained_run(tmp_path_factory, model, *args):
    """The run directory of `scratchgen train MODEL ARGS --out <fresh temporary directory>`."""
    out = str(tmp_path_factory.mktemp("runs") / model)
    r = run("train", model, "--out", out, *args)
    assert r.returncode == 0, r.stderr
    return out


def offline_fetch(url):
    """A stand-in for the data layer's download: tests never reach the network."""
    raise urllib.error.URLError("no network in tests")


def files_below(folder) -> dict:
    """Every file below ``folder`` by relative path, with its bytes: compare two of these to show
    that nothing was lost or changed."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found
