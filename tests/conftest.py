"""Shared test fixtures: offline, seeded, no CRDS."""

import os
import socket

import matplotlib
import pytest
from stpipe import crds_client

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


@pytest.fixture
def no_network_no_crds(monkeypatch, tmp_path):
    """Fail loudly on any connection attempt or CRDS query; work inside tmp_path.

    Use it (``pytestmark = pytest.mark.usefixtures("no_network_no_crds")``)
    in modules that must prove a code path is offline.
    """
    monkeypatch.chdir(tmp_path)

    def refuse(*args, **kwargs):
        msg = "network access or CRDS query attempted in an offline test"
        raise AssertionError(msg)

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for name in ("get_reference_file", "get_multiple_reference_paths", "get_context_used",
                 "get_svn_version"):
        monkeypatch.setattr(crds_client, name, refuse)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
