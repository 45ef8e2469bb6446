"""The loader of the compiled core: disabling, failed builds reported once, the build lock."""

from __future__ import annotations

import platform
import subprocess
import sys
import warnings

import pytest

import nbskit_cuda


@pytest.fixture
def fresh_loader(monkeypatch, tmp_path):
    """A loader with an empty per-process cache and its build cache under tmp_path."""
    monkeypatch.setattr(nbskit_cuda, "_LOADED", {})
    monkeypatch.setenv(nbskit_cuda.CACHE_ENV, str(tmp_path))
    return tmp_path


def test_disabled_by_environment(fresh_loader, monkeypatch):
    monkeypatch.setenv(nbskit_cuda.DISABLE_ENV, "1")
    assert nbskit_cuda.load_extension("cpu") is None
    status = nbskit_cuda.extension_status("cpu")
    assert not status.available and nbskit_cuda.DISABLE_ENV in status.reason and status.log_path is None


def test_failed_build_warns_once_with_log_and_falls_back(fresh_loader, monkeypatch):
    if nbskit_cuda.missing_prerequisite("cpu"):
        pytest.skip(nbskit_cuda.missing_prerequisite("cpu"))

    def broken_compile(kind, directory):
        raise RuntimeError("error: simulated compiler failure")

    monkeypatch.setattr(nbskit_cuda, "_compile", broken_compile)
    with pytest.warns(UserWarning, match="build.log") as caught:
        assert nbskit_cuda.load_extension("cpu") is None
    assert "simulated compiler failure" in str(caught[0].message)  # the log's end, not only its path
    status = nbskit_cuda.extension_status("cpu")
    assert not status.available and status.log_path is not None
    assert status.log_path.is_relative_to(fresh_loader)
    assert "simulated compiler failure" in status.log_path.read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second request must stay silent
        assert nbskit_cuda.load_extension("cpu") is None


def test_build_command_prints_the_compiler_errors_and_copies_the_log(fresh_loader, monkeypatch, tmp_path, capsys):
    if nbskit_cuda.missing_prerequisite("cpu"):
        pytest.skip(nbskit_cuda.missing_prerequisite("cpu"))
    from nbskit_cuda import build

    def broken_compile(kind, directory):
        raise RuntimeError("ninja: build stopped\nhash_encode_cpu.cpp:12: error: simulated compiler failure")

    monkeypatch.setattr(nbskit_cuda, "_compile", broken_compile)
    copies = tmp_path / "out"
    with pytest.warns(UserWarning):
        assert build.main(["--kinds", "cpu", "--copy-failed-logs-to", str(copies)]) == 1
    assert "hash_encode_cpu.cpp:12: error: simulated compiler failure" in capsys.readouterr().out
    assert "simulated compiler failure" in (copies / "build_cpu.log").read_text()


def test_build_directory_depends_on_sources_and_cache(fresh_loader):
    directory = nbskit_cuda.build_directory("cpu")
    assert directory.is_relative_to(fresh_loader)
    assert nbskit_cuda.source_hash("cpu") in directory.name
    assert nbskit_cuda.source_hash("cpu") != nbskit_cuda.source_hash("cuda")


def test_extra_compiler_flags_are_used_and_make_another_build(fresh_loader, monkeypatch):
    plain = nbskit_cuda.build_directory("cpu")
    monkeypatch.setenv(nbskit_cuda.EXTRA_CXX_FLAGS_ENV, "-mno-avx512f -DNBSKIT_TEST")
    assert nbskit_cuda.cxx_flags()[-2:] == ("-mno-avx512f", "-DNBSKIT_TEST")
    assert nbskit_cuda.build_directory("cpu") != plain


def test_build_lock_excludes_a_second_process(tmp_path):
    pytest.importorskip("fcntl")
    lock = tmp_path / "lock"
    probe = (
        "import fcntl, sys\n"
        f"handle = open({str(lock)!r}, 'a')\n"
        "try:\n    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n"
    )
    with nbskit_cuda._exclusive_lock(lock):
        assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 3
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown compiled extension kind"):
        nbskit_cuda.load_extension("tpu")


def test_two_checkouts_share_one_build(fresh_loader, monkeypatch, tmp_path):
    """Sources are compiled from a copy inside the content-keyed build folder, so a second
    checkout with the same sources finds the same paths (and mtimes) and ninja rebuilds nothing."""
    import shutil

    checkouts = []
    for name in ("first", "second"):
        csrc = tmp_path / name / "csrc"
        shutil.copytree(nbskit_cuda.CSRC, csrc)
        checkouts.append(csrc)
    snapshots = []
    for csrc in checkouts:
        monkeypatch.setattr(nbskit_cuda, "CSRC", csrc)
        directory = nbskit_cuda.build_directory("cpu")
        directory.mkdir(parents=True, exist_ok=True)
        snapshot = nbskit_cuda._snapshot_sources("cpu", directory)
        snapshots.append((directory, {p.name: p.stat().st_mtime_ns for p in snapshot.iterdir()}))
    (first_dir, first_times), (second_dir, second_times) = snapshots
    assert first_dir == second_dir and first_dir.is_relative_to(fresh_loader)
    assert first_times == second_times  # nothing rewritten: the build stays up to date
    assert set(first_times) == {p.name for p in nbskit_cuda.source_files("cpu")}
    (checkouts[1] / "render_cpu.cpp").write_text("// changed\n")
    assert nbskit_cuda.build_directory("cpu") != first_dir  # other sources, another build


def test_freed_memory_is_kept_unless_the_user_set_glibc_malloc_options(monkeypatch):
    """The settings themselves (their effect on a training run is measured: see MALLOC_SETTINGS)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    monkeypatch.setenv(nbskit_cuda.MALLOC_ENV[0], str(1 << 30))
    assert nbskit_cuda.keep_freed_memory() is False  # the user's own setting wins
    for name in nbskit_cuda.MALLOC_ENV:
        monkeypatch.delenv(name, raising=False)
    assert nbskit_cuda.keep_freed_memory() is True  # glibc accepted every value
