"""The study guide (docs/README.md) names only files that exist and tests that pytest finds; every
image README.md and docs/ show is in the repository; no file points at a place outside it."""
import os
import re
import subprocess
import sys
from glob import glob

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = open(os.path.join(ROOT, "docs", "README.md")).read()


def test_every_file_the_study_guide_names_exists():
    paths = set(re.findall(r"`((?:scratchgen|tests|docs|examples)/[\w/.]+\.(?:py|md))`", GUIDE))
    assert len(paths) > 20
    missing = sorted(p for p in paths if not os.path.exists(os.path.join(ROOT, p)))
    assert not missing, f"docs/README.md names files that do not exist: {missing}"


def test_every_test_selection_the_exercises_run_collects_tests():
    selections = sorted(set(re.findall(r"pytest (tests/[\w/]+\.py)(?: -k (\w+))?", GUIDE)))
    assert len(selections) >= 7
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                *sorted({path for path, _ in selections})],
                               capture_output=True, text=True, cwd=ROOT, timeout=300).stdout.splitlines()
    for path, keyword in selections:
        ids = [line for line in collected if line.startswith(path + "::") and keyword in line]
        assert ids, f"`pytest {path}{' -k ' + keyword if keyword else ''}` in docs/README.md selects no test"


def test_every_image_the_readme_and_docs_show_exists():
    pages = [os.path.join(ROOT, "README.md"), *glob(os.path.join(ROOT, "docs", "*.md"))]
    shown = [(page, link) for page in pages for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", open(page).read())]
    assert len(shown) > 10
    missing = [f"{os.path.relpath(page, ROOT)}: {link}" for page, link in shown
               if not os.path.exists(os.path.join(os.path.dirname(page), link))]
    assert not missing, f"images shown but not in the repository: {missing}"


# What a clone of the repository does not have: the development machines' folders (their data,
# their shared notes) and the workload file those notes held; benchmarks/README.md replaces it.
MACHINE_REFERENCES = re.compile(r"\.\./shared|(?<![\w.~-])/(?:work|home|root|Users)/|BENCHMARKS\.md")
NOT_IN_THE_REPOSITORY = {".git", ".venv", "__pycache__", ".hypothesis", ".pytest_cache", "build", "runs"}


def test_no_file_points_outside_the_repository():
    found, read = [], 0
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in NOT_IN_THE_REPOSITORY and not d.endswith(".egg-info")]
        for name in files:
            path = os.path.join(folder, name)
            try:
                text = open(path, encoding="utf-8").read()
            except UnicodeDecodeError:  # images, checkpoints
                continue
            read += 1
            found += [f"{os.path.relpath(path, ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()}"
                      for m in MACHINE_REFERENCES.finditer(text)]
    assert read > 100, f"only {read} text files found under {ROOT}"
    assert not found, f"references to files a clone does not have: {found}"
