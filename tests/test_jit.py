"""Compiled kernels load anywhere: deferred numba, and a cache folder where numba has none.

As user ``nobody`` over this (root-owned) install, with no writable home:
``import spelunker``, a Gaussian fit and a detrend work, numba's cache
goes to a private folder of that user under the temporary directory, and one
INFO line says so.  Skipped unless the tests run as root and a ``nobody``
user exists.
"""

import os
import pwd
import shutil
import site
import stat
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

import spelunker
from spelunker import _jit

REPO = Path(spelunker.__file__).resolve().parent.parent

AS_NOBODY = textwrap.dedent("""
    import logging, os, sys
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(name)s %(levelname)s %(message)s")
    import numpy as np
    import spelunker
    from spelunker.fitting import fit_gaussian_frames
    y, x = np.mgrid[:8, :8]
    rng = np.random.default_rng(3)
    frames = np.stack([900 * np.exp(-((x - 3.4 - 0.05 * k) ** 2 + (y - 3.6) ** 2) / 1.8) + 20
                       + rng.normal(0, 2, (8, 8)) for k in range(20)])
    result = fit_gaussian_frames(frames)
    x_mean = np.asarray(result["x_mean"])
    assert np.all(np.abs(x_mean - (3.4 + 0.05 * np.arange(20))) < 0.05), x_mean
    from spelunker.variability import detrend  # a second module's kernel, also cached
    times = np.arange(200.0)
    trend = detrend(times, 1 + 1e-3 * times, window=50.0)
    assert np.all(np.abs(trend - (1 + 1e-3 * times)) < 2e-2), trend
    print("FIT OK", os.environ.get("NUMBA_CACHE_DIR"))
""")


def _nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


def _runs_as_nobody(python, env):
    try:
        done = subprocess.run([python, "-c", "pass"], user="nobody", group=_nobody().pw_gid,
                              env=env, capture_output=True, timeout=60, check=False)
    except OSError:
        return False
    return done.returncode == 0


def _python_for_nobody(env):
    """This interpreter, or the system's of the same version where nobody cannot reach it."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/bin/python{version}"):
        if os.path.exists(python) and _runs_as_nobody(python, env):
            return python
    return None


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0 or _nobody() is None,
                    reason="needs root (to run as another user) and a 'nobody' user")
def test_import_and_fit_as_nobody_over_a_root_owned_install():
    nobody = _nobody()
    packages = [p for p in site.getsitepackages() if os.path.isdir(p)]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8",
           "PYTHONPATH": os.pathsep.join([str(REPO), *packages]),
           "PYTHONDONTWRITEBYTECODE": "1"}
    python = _python_for_nobody(env)
    if python is None:
        pytest.skip("no Python interpreter of this version that 'nobody' can run")
    # The install is root's: nobody cannot write beside the kernels.
    assert os.stat(REPO / "spelunker" / "fitting").st_uid != nobody.pw_uid
    done = subprocess.run([python, "-c", AS_NOBODY], user="nobody", group=nobody.pw_gid, env=env,
                          cwd="/", capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "no locator" not in done.stderr
    (last,) = [line for line in done.stdout.splitlines() if line.startswith("FIT OK")]
    folder = last.split()[-1]
    assert Path(folder).name == f"spelunker-numba-{nobody.pw_uid}"
    info = os.stat(folder)
    assert info.st_uid == nobody.pw_uid and stat.S_IMODE(info.st_mode) == 0o700
    notes = [line for line in done.stdout.splitlines() if line.startswith("spelunker._jit INFO")]
    assert len(notes) == 1 and folder in notes[0] and "NUMBA_CACHE_DIR" in notes[0]


def test_private_cache_folder_when_numba_has_none(monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a folder")
    monkeypatch.setenv("NUMBA_CACHE_DIR", "")  # unset for the test, restored after it
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba already imported: its setting is restored after the test
        monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # <file>/numba cannot be made
    monkeypatch.setattr(_jit.tempfile, "tempdir", str(tmp_path))
    folder = _jit.use_writable_cache()
    assert folder == str(tmp_path / f"spelunker-numba-{os.getuid()}")
    assert os.environ["NUMBA_CACHE_DIR"] == folder
    if config is not None:
        assert config.CACHE_DIR == folder
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    # Set by the user (or by the first call): left alone.
    assert _jit.use_writable_cache() is None


def test_a_folder_others_can_write_is_never_the_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(_jit.tempfile, "tempdir", str(tmp_path))
    shared = tmp_path / f"spelunker-numba-{os.getuid()}"
    shared.mkdir()
    os.chmod(shared, 0o777)
    assert _jit._private_folder() is None
    shutil.rmtree(shared)
    assert _jit._private_folder() == str(shared)


def test_kernels_compile_on_first_call_and_replace_themselves(monkeypatch):
    module = types.ModuleType("jit_probe")
    monkeypatch.setitem(sys.modules, "jit_probe", module)
    exec(textwrap.dedent("""
        from spelunker._jit import njit

        @njit(nogil=True)
        def twice(x):
            return 2.0 * x

        @njit(nogil=True)
        def total(values):
            s = 0.0
            for v in values:
                s += twice(v)
            return s
    """), module.__dict__)
    deferred = module.total
    assert type(deferred).__name__ == "_Deferred" and type(module.twice) is type(deferred)
    assert deferred(np.arange(4.0)) == 12.0
    # The first call compiled the module's functions; numba's dispatchers now stand in the
    # module (where the kernels find each other) and behind the names imported earlier.
    assert type(module.twice).__module__.startswith("numba")
    assert deferred.dispatcher is module.total and deferred(np.ones(2)) == 4.0
