"""Running spelunker's command-line tools offline in tests (strun, stpipe)."""

import os
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
STRUN = VENV_BIN / "strun"
STPIPE = VENV_BIN / "stpipe"

# Loaded into every strun subprocess (PYTHONPATH): any socket connection or
# name look-up raises and leaves a marker file behind.
NETWORK_GUARD = '''
import os
import socket

_MARKER = os.environ["SPELUNKER_TEST_NETWORK_MARKER"]


def _refuse(*args, **kwargs):
    with open(_MARKER, "a") as marker:
        marker.write(repr(args[1:] if args else kwargs) + "\\n")
    raise OSError("network access attempted in an offline test")


socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.getaddrinfo = _refuse
socket.create_connection = _refuse
'''


def offline_env(tmp_path, *, steppars_disabled=False):
    """Environment for a subprocess: no CRDS server, an empty CRDS cache, a network guard."""
    guard_dir = tmp_path / "network_guard"
    guard_dir.mkdir(exist_ok=True)
    (guard_dir / "sitecustomize.py").write_text(NETWORK_GUARD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.pop("STPIPE_DISABLE_CRDS_STEPPARS", None)
    if steppars_disabled:
        env["STPIPE_DISABLE_CRDS_STEPPARS"] = "true"
    env["CRDS_PATH"] = str(tmp_path / "empty_crds_cache")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(guard_dir)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["SPELUNKER_TEST_NETWORK_MARKER"] = str(tmp_path / "network_attempts.txt")
    return env


def run_cli(tmp_path, *args, steppars_disabled=False, timeout=300):
    result = subprocess.run(
        [str(a) for a in args], cwd=tmp_path, env=offline_env(tmp_path,
                                                              steppars_disabled=steppars_disabled),
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    marker = tmp_path / "network_attempts.txt"
    assert not marker.exists(), f"network access attempted: {marker.read_text()}"
    return result
