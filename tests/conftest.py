"""Shared test fixtures: offline, seeded, no CRDS."""

import os

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _offline_environment(monkeypatch, tmp_path_factory):
    """No CRDS look-ups and no user caches in any test."""
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "true")
    monkeypatch.setenv("CRDS_PATH", str(tmp_path_factory.getbasetemp() / "crds"))
    monkeypatch.setenv("SPELUNKER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def three_segment_visit(tmp_path_factory):
    """A seeded 3-segment visit of one guide star (read-only: copy before editing)."""
    from spelunker import datasets

    directory = tmp_path_factory.mktemp("three_segment_visit")
    return datasets.make_guidestar_files(
        directory,
        visits=[datasets.VisitSpec(n_frames=1500, n_segments=3)],
        signals=[datasets.NanFrames(indices=[10, 700])],
        seed=11,
    )


@pytest.fixture(scope="session")
def reference_dir():
    """The real guider headers in ../shared/reference (optional; set SPELUNKER_REFERENCE_DIR)."""
    path = os.environ.get("SPELUNKER_REFERENCE_DIR")
    if not path or not os.path.isdir(path):
        pytest.skip("SPELUNKER_REFERENCE_DIR not set: real reference headers unavailable")
    return path
