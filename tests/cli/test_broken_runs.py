"""Broken run directories, unwritable outputs and Ctrl-C: one line on stderr, no traceback, nothing lost.

A tiny VAE run is trained once; each case breaks a copy of it the way an edit, a copy cut short
or a kill during a write would, and checks that every command reading the run says in one line
what is wrong and how to fix it, and leaves every file of the run as it was.
"""
import json
import os
import shutil

import numpy as np
import pytest

from helpers import files_below, run, trained_run
from scratchgen.cli import commands
from scratchgen.training import RunError, read_log, read_metrics


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    return trained_run(tmp_path_factory, "vae", "--data", data_dir, "--limit", "48", "--batch-size", "16",
                       "--epochs", "1", "--latent", "4", "--hidden", "16", "--no-progress")


@pytest.fixture
def copy(trained, tmp_path):
    """A fresh copy of the trained run, to break."""
    out = str(tmp_path / "run")
    shutil.copytree(trained, out)
    return out



def _edit_config(change):
    def breaker(run_dir):
        path = os.path.join(run_dir, "config.json")
        config = json.load(open(path))
        change(config)
        json.dump(config, open(path, "w"))
    return breaker


def _cut(name, keep):
    def breaker(run_dir):
        path = os.path.join(run_dir, name)
        data = open(path, "rb").read()
        open(path, "wb").write(data[:keep(len(data))])
    return breaker


def _pickled_checkpoint(run_dir):
    path = os.path.join(run_dir, "checkpoint.npz")
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    with open(path, "wb") as f:
        np.savez(f, **arrays, **{"model.extra": np.array([{"code": "run me"}], dtype=object)})


def _damaged_middle_of_log(run_dir):
    path = os.path.join(run_dir, "log.jsonl")
    lines = open(path).read().splitlines(keepends=True)
    open(path, "w").write(lines[0][:20] + "\n" + "".join(lines[1:]))


# case -> (how the copy is broken, a fragment of the message)
BROKEN = {
    "architecture changed": (_edit_config(lambda c: c.update(hidden=32)),
                             "does not match the architecture in config.json"),
    "config without model": (_edit_config(lambda c: c.pop("model")), "config.json has no entry 'model'"),
    "config without latent": (_edit_config(lambda c: c.pop("latent")), "config.json has no entry 'latent'"),
    "config not JSON": (lambda d: open(os.path.join(d, "config.json"), "w").write('{"model": "vae",'),
                        "config.json is not valid JSON"),
    "config a JSON list": (lambda d: open(os.path.join(d, "config.json"), "w").write("[1, 2]"),
                           "config.json holds a JSON list"),
    "checkpoint cut in half": (_cut("checkpoint.npz", lambda n: n // 2), "checkpoint.npz is cut short"),
    "checkpoint empty": (_cut("checkpoint.npz", lambda n: 0), "checkpoint.npz is cut short"),
    "checkpoint with pickled objects": (_pickled_checkpoint, "holds pickled Python objects"),
}
COMMANDS = {
    "sample": lambda d: ("sample", d, "--n", "4"),
    "evaluate": lambda d: ("evaluate", d, "--k", "2", "--limit", "4", "--n-samples", "0"),
    "reconstruct": lambda d: ("reconstruct", d, "--n", "2"),
    "restore": lambda d: ("restore", d, "--task", "inpaint", "--n", "2"),
    "resume": lambda d: ("train", "vae", "--out", d, "--resume", "--epochs", "2", "--no-progress"),
}


def _assert_one_line_error(r, *fragments):
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scratchgen: error: "), r.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("case,command", [(case, command) for case in BROKEN for command in COMMANDS])
def test_a_broken_run_gives_one_line_and_loses_nothing(case, command, copy):
    breaker, fragment = BROKEN[case]
    breaker(copy)
    before = files_below(copy)
    r = run(*COMMANDS[command](copy))
    # how to fix it: restore or edit the file, or train the run again
    _assert_one_line_error(r, fragment, f"--out {copy} --overwrite")
    assert files_below(copy) == before


def test_a_damaged_line_inside_the_log_is_an_error(copy):
    _damaged_middle_of_log(copy)
    before = files_below(copy)
    _assert_one_line_error(run(*COMMANDS["resume"](copy)), "line 1 of", "log.jsonl is not a JSON record")
    assert files_below(copy) == before


def test_a_cut_last_line_of_the_log_is_skipped_with_a_warning(copy, capsys):
    complete = read_log(copy)
    _cut("log.jsonl", lambda n: n - 20)(copy)
    assert read_log(copy) == complete[:-1]
    assert capsys.readouterr().err.strip().splitlines() == [
        f"scratchgen: warning: the last line of {os.path.join(copy, 'log.jsonl')} is cut short "
        "(the run was stopped while writing it); it is skipped"]
    checkpoint = open(os.path.join(copy, "checkpoint.npz"), "rb").read()
    r = run(*COMMANDS["resume"](copy))
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "warning: the last line of" in r.stderr
    records = [json.loads(line) for line in open(os.path.join(copy, "log.jsonl"))]   # the cut line is gone
    assert records[:len(complete) - 1] == complete[:-1] and records[-1]["epoch"] == 2
    assert open(os.path.join(copy, "checkpoint.npz"), "rb").read() != checkpoint   # it trained on


def test_a_missing_or_damaged_metrics_file_is_one_line_naming_the_fix(tmp_path):
    run_dir, path = str(tmp_path), str(tmp_path / "metrics.json")
    with pytest.raises(RunError) as missing:
        read_metrics(run_dir)
    assert str(missing.value) == f"{run_dir} has no metrics.json: run `scratchgen evaluate {run_dir}` first"
    evaluate_again = f"evaluate again with `scratchgen evaluate {run_dir} --overwrite`"
    for damaged, says in [(b'{"elbo": -1', f"{path} is not valid JSON ("),   # cut short
                          (b"\x80{}", f"{path} is not valid JSON ("),        # not text
                          (b"[1, 2]", f"{path} holds a JSON list, not an object of metrics: ")]:
        (tmp_path / "metrics.json").write_bytes(damaged)
        with pytest.raises(RunError) as error:
            read_metrics(run_dir)
        message = str(error.value)
        assert message.startswith(says) and message.endswith(evaluate_again) and len(message.splitlines()) == 1
    (tmp_path / "metrics.json").write_text('{"elbo": -1.5, "test_images": 4}')
    assert read_metrics(run_dir) == {"elbo": -1.5, "test_images": 4}


# ---- outputs that cannot be written ------------------------------------------------------------------
def test_an_output_under_a_file_names_the_path_and_the_option(trained, tmp_path):
    (tmp_path / "a_file").write_text("")
    before = files_below(trained)
    r = run("sample", trained, "--n", "4", "--output", str(tmp_path / "a_file" / "samples.png"))
    _assert_one_line_error(r, "a_file", "choose another --output")
    assert files_below(trained) == before


def test_an_output_that_is_a_folder_names_the_path_and_the_option(copy):
    os.makedirs(os.path.join(copy, "samples.png"))
    r = run("sample", copy, "--n", "4", "--overwrite")
    _assert_one_line_error(r, f"{os.path.join(copy, 'samples.png')}: Is a directory", "choose another --output")


def test_a_permission_error_says_how_to_fix_it(copy, monkeypatch):
    # as root no folder is read-only, so the error the command would meet is raised for it
    def sample(run_dir, **options):
        raise PermissionError(13, "Permission denied", os.path.join(run_dir, "samples.png"))
    monkeypatch.setattr(commands, "sample", sample)
    _assert_one_line_error(run("sample", copy), f"{os.path.join(copy, 'samples.png')}: Permission denied; ",
                           "permissions", "or choose another --output")


as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                             reason="root writes into read-only folders, so there is nothing to refuse")


@as_root
@pytest.mark.parametrize("command", ["sample", "evaluate", "reconstruct", "resume"])
def test_a_read_only_run_directory_gives_one_line_and_loses_nothing(command, copy):
    before = files_below(copy)
    os.chmod(copy, 0o555)
    try:
        r = run(*COMMANDS[command](copy))
    finally:
        os.chmod(copy, 0o755)
    _assert_one_line_error(r, "Permission denied")
    assert files_below(copy) == before


@as_root
def test_training_into_a_read_only_folder_gives_one_line_and_writes_nothing(data_dir, tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir(mode=0o555)
    r = run("train", "vae", "--data", data_dir, "--out", str(folder / "run"), "--epochs", "1", "--no-progress")
    _assert_one_line_error(r, "Permission denied")
    assert list(folder.iterdir()) == []


# ---- Ctrl-C, and the tracebacks still shown ----------------------------------------------------------
def _ctrl_c(*args, **options):
    raise KeyboardInterrupt


@pytest.mark.parametrize("command", ["sample", "evaluate", "reconstruct", "restore"])
def test_ctrl_c_exits_130_with_one_line(command, copy, monkeypatch):
    monkeypatch.setattr(commands, command, _ctrl_c)
    r = run(*COMMANDS[command](copy))
    assert r.returncode == 130 and r.stderr == "scratchgen: interrupted\n"


def test_scratchgen_debug_shows_the_traceback(copy, monkeypatch):
    _cut("checkpoint.npz", lambda n: n // 2)(copy)
    monkeypatch.setenv("SCRATCHGEN_DEBUG", "1")
    with pytest.raises(RunError, match="cut short"):
        run("sample", copy)
    monkeypatch.setattr(commands, "sample", _ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run("sample", copy)


def test_an_internal_bug_keeps_its_traceback(copy, monkeypatch):
    def broken(*args, **options):
        return 1 / 0
    monkeypatch.setattr(commands, "sample", broken)
    with pytest.raises(ZeroDivisionError):
        run("sample", copy)
