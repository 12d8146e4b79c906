"""scratchgen.atomic_file: the one writer behind checkpoints and the data cache.

tests/nn/test_nn.py and tests/data/test_data.py check that checkpoints and cache files get its guarantees.
"""
import errno
import os
import stat

import pytest

from scratchgen.atomic_file import atomic_write

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and directory descriptors")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@posix_only
def test_the_file_gets_the_mode_open_gives_a_new_file(tmp_path):
    owner_only = tmp_path / "owner_only"
    os.close(os.open(owner_only, os.O_WRONLY | os.O_CREAT, 0o600))
    previous = os.umask(0o027)
    try:
        atomic_write(tmp_path / "new", lambda f: f.write(b"new"))
        atomic_write(owner_only, lambda f: f.write(b"replaced"))  # a new file: the old mode goes
        with open(tmp_path / "plain", "w"):
            pass
    finally:
        os.umask(previous)
    assert mode(tmp_path / "plain") == 0o640
    assert mode(tmp_path / "new") == 0o640 and (tmp_path / "new").read_bytes() == b"new"
    assert mode(owner_only) == 0o640 and owner_only.read_bytes() == b"replaced"


@pytest.mark.parametrize("failure", ["exception in write", "Ctrl-C in write", "fsync", "replace"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, failure):
    path = tmp_path / "target.bin"
    path.write_bytes(b"old content")
    crash = KeyboardInterrupt if failure == "Ctrl-C in write" else OSError

    def crash_now(*args):
        raise crash("simulated crash")

    def write(file):
        file.write(b"new content, of which only half arrives")
        if failure.endswith("in write"):
            crash_now()

    if not failure.endswith("in write"):
        monkeypatch.setattr(os, failure, crash_now)
    with pytest.raises(crash, match="simulated crash"):
        atomic_write(path, write)
    assert path.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["target.bin"]


def record_syncs_and_renames(monkeypatch):
    """[("file", inode, size) or ("directory", inode) per fsync, ("replace",) per rename]."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        info = os.fstat(descriptor)
        events.append(("directory", info.st_ino) if stat.S_ISDIR(info.st_mode) else ("file", info.st_ino, info.st_size))
        real_fsync(descriptor)

    def replace(source, destination):
        events.append(("replace",))
        real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


@posix_only
def test_the_flushed_file_is_synced_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    events = record_syncs_and_renames(monkeypatch)
    path = tmp_path / "target.bin"
    atomic_write(path, lambda f: f.write(b"12345"))  # stays in Python's buffer unless flushed
    assert events == [("file", path.stat().st_ino, 5), ("replace",), ("directory", tmp_path.stat().st_ino)]


def test_a_platform_that_cannot_open_a_directory_skips_its_sync(tmp_path, monkeypatch):
    real_open = os.open

    def open_files_only(name, flags, *mode):
        if os.path.isdir(name):
            raise PermissionError(errno.EACCES, "Permission denied", name)  # what Windows says
        return real_open(name, flags, *mode)

    monkeypatch.setattr(os, "open", open_files_only)
    atomic_write(tmp_path / "target.bin", lambda f: f.write(b"data"))
    assert (tmp_path / "target.bin").read_bytes() == b"data"


@posix_only
@pytest.mark.parametrize("error", [errno.EINVAL, errno.EIO], ids=["EINVAL", "EIO"])
def test_only_a_filesystem_that_cannot_sync_directories_is_excused(tmp_path, monkeypatch, error):
    real_fsync = os.fsync

    def fsync(descriptor):
        if stat.S_ISDIR(os.fstat(descriptor).st_mode):
            raise OSError(error, os.strerror(error))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "target.bin"
    if error == errno.EIO:  # the rename may not be on disk: the caller must hear of it
        with pytest.raises(OSError, match=os.strerror(errno.EIO)):
            atomic_write(path, lambda f: f.write(b"data"))
    else:
        atomic_write(path, lambda f: f.write(b"data"))
    assert path.read_bytes() == b"data"
