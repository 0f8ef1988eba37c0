"""The fixed sample visit and science product, cached on disk with a manifest.

`sample_visit` and `sample_science` always give the same seeded data (the
demo, the docs and the tests use them) and keep their files in a cache
folder (``$SPELUNKER_CACHE`` or ``~/.cache/spelunker``).  A manifest beside
the files records their names and sizes under a key of the generator's
options, its source and the stdatamodels version: complete files for the
same key are reused, anything else is written again.
"""

import hashlib
import json
import logging
import os
from pathlib import Path

import stdatamodels

from spelunker._cache import cache_folder
from spelunker.atomic import atomic_file
from spelunker.datasets.guidestar_files import generate
from spelunker.datasets.plan import VisitSpec
from spelunker.datasets.science_product import make_science_product, plan_science
from spelunker.datasets.astro_signals import Flare
from spelunker.datasets.signals import (CentroidWobble, FluxModulation, HgaMove, PsfWidthStep,
                                        Transit)
from spelunker.errors import ParameterError

__all__ = ["sample_science", "sample_visit"]

log = logging.getLogger(__name__)

# Bump to rewrite every cached sample (the key also changes with the source).
_SAMPLE_VERSION = 4
_SCIENCE_VERSION = 1


def _sample_arguments():
    return dict(
        visits=(VisitSpec(observation=1, visit=1, n_frames=6000, n_segments=3, fgs_mag=13.3),),
        program=1534,
        signals=(
            Transit(mid_time=160.0, duration=60.0, depth=0.01, ingress=8.0),
            Flare(peak_time=55.0, fwhm=5.0, amplitude=0.02),
            CentroidWobble(period=3.0, amplitude=0.05, axis="x"),
            FluxModulation(period=47.0, amplitude=0.003),
            HgaMove(start=95.0, stop=107.0),
            PsfWidthStep(time=250.0, factor=1.03, dx=0.01),
        ),
        seed=1534,
        product="cal",
        centroid_rows="packet",
        background=20.0,
        jitter=0.015,
        bad_pixels=(),
    )


def _sample_science_arguments():
    return dict(integration_time=1.0, n_integrations=None, start_offset=10.0,
                target=(286.0, -41.3), systematic="x_mean", coefficient=0.05, depth=0.003,
                noise=2e-4, seed=1534, kind="rateints", transit_time=60.0)


def _folder(directory, name, where):
    """``directory`` as a Path, or the cache folder ``name`` when it is None."""
    if directory is None:
        return cache_folder(name)
    if isinstance(directory, bool) or not isinstance(directory, (str, os.PathLike)) or not (
            os.fspath(directory)):
        raise ParameterError(f"{where}: directory={directory!r} must be a folder path or None")
    return Path(directory).expanduser()


def _cache_key(*parts):
    """Key of a cached sample: any change to ``parts``, to this generator's source or to
    stdatamodels (the file format) invalidates it."""
    source = b"".join(path.read_bytes() for path in sorted(Path(__file__).parent.glob("*.py")))
    return hashlib.sha256(repr((*parts, stdatamodels.__version__)).encode()
                          + source).hexdigest()


def _cached_files(manifest_path, key):
    """Names of the files a manifest lists, when its key is ``key`` and every file
    beside it is complete (the size recorded); otherwise an empty list."""
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        return []
    sizes = manifest.get("files", {})
    directory = manifest_path.parent
    complete = all((directory / name).is_file() and (directory / name).stat().st_size == size
                   for name, size in sizes.items())
    return list(sizes) if complete else []


def _write_manifest(manifest_path, key, paths):
    """Record ``paths`` and their sizes under ``key``, atomically."""
    manifest = {"key": key, "files": {Path(p).name: Path(p).stat().st_size for p in paths}}
    with atomic_file(manifest_path) as temporary:
        temporary.write_text(json.dumps(manifest, indent=1))


def sample_visit(directory=None):
    """The embedded sample visit: fixed, seeded, no network.

    One visit of PID 1534 (guide star at FGS magnitude 13.3, guider 1), 3
    segment files and 6,000 frames (about 5.4 minutes at 53.8 ms) with a 1
    per cent transit centred at 160 s, a 2 per cent flare peaking at 55 s
    (FWHM 5 s, `~spelunker.datasets.Flare`), a 0.05 px centroid wobble of 3 s
    period in x, a 0.3 per cent flux modulation of 47 s period, a high-gain
    antenna move from 95 to 107 s and a mirror tilt at 250 s.  ``make demo``
    uses it.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Where to keep the files.  Default: ``$SPELUNKER_CACHE/sample_visit``,
        else ``~/.cache/spelunker/sample_visit``.  Complete files already
        there (listed in the folder's manifest with the right sizes) are
        reused (the manifest also records the generator's source and the
        stdatamodels version, so a changed generator rewrites them);
        otherwise they are written again, each under a temporary name first.

    Returns
    -------
    SyntheticVisit

    Raises
    ------
    spelunker.errors.ParameterError
        ``directory`` is not a path, or a folder that cannot be written
        when the files must be written.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker.datasets import sample_visit
    >>> visit = sample_visit(tempfile.mkdtemp())
    >>> len(visit.files), len(visit.truth)
    (3, 6000)
    """
    directory = _folder(directory, "sample_visit", "sample_visit")
    arguments = _sample_arguments()
    key = _cache_key(_SAMPLE_VERSION, arguments)
    manifest_path = directory / "sample_visit.json"
    names = _cached_files(manifest_path, key)
    if names:
        visit = generate(directory, write=False, **arguments)
        if [p.name for p in visit.files] == names:
            log.info("using the cached sample visit in %s", directory)
            return visit
    log.info("writing the sample visit to %s", directory)
    visit = generate(directory, write=True, **arguments)
    _write_manifest(manifest_path, key, visit.files)
    return visit


def sample_science(directory=None):
    """The science product matching `sample_visit`: fixed, seeded, no network.

    312 integrations of 1 s, the first starting 10 s after the start of the
    guide-star data, of a NIRSpec bright-object time series (target at RA
    286.0, Dec -41.3 deg; file of about 0.5 MB), with a 0.3 per cent
    transit 60 s after the first integration starts (away from the guide
    star's own transit, 160 s into its data) and a flux systematic of 5 per
    cent per pixel of the guide star's ``x_mean``, so the 3 s centroid wobble
    of the sample visit shows in the light curve: ``x_mean`` binned onto the
    integrations is the regressor most correlated with it.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Where to keep the file.  Default: ``$SPELUNKER_CACHE/sample_science``,
        else ``~/.cache/spelunker/sample_science``.  A complete file already
        there (listed in the folder's manifest with its size, for the same
        generator and stdatamodels version) is reused; otherwise it is
        written again.  The guide-star files are not needed (`sample_visit`
        writes them).

    Returns
    -------
    SyntheticScience

    Raises
    ------
    spelunker.errors.ParameterError
        As `sample_visit`.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker.datasets import sample_science
    >>> science = sample_science(tempfile.mkdtemp())
    >>> len(science.int_times), science.systematic
    (312, 'x_mean')
    """
    directory = _folder(directory, "sample_science", "sample_science")
    arguments = _sample_science_arguments()
    visit_arguments = _sample_arguments()
    key = _cache_key(_SCIENCE_VERSION, _SAMPLE_VERSION, visit_arguments, arguments)
    manifest_path = directory / "sample_science.json"
    # The truth of the sample visit, without writing its files.
    visit = generate(cache_folder("sample_visit"), write=False, **visit_arguments)
    names = _cached_files(manifest_path, key)
    if names:
        science, _, _, _ = plan_science(visit, **arguments)
        if names == [science.path.name]:
            log.info("using the cached sample science product in %s", directory)
            science.path = directory / science.path.name
            return science
    log.info("writing the sample science product to %s", directory)
    science = make_science_product(directory, visit, **arguments)
    _write_manifest(manifest_path, key, [science.path])
    return science
