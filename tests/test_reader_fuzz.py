"""Fuzz test of the reader: a damaged product is read correctly or refused clearly.

Random mutations of a valid fine-guide product (header keywords, array
shapes, data types, extension kinds, byte truncations and overwritten
bytes) must give either a correct read or a `SpelunkerError`, never another
exception and never a hang.  The examples are derandomized (the same in
every run) and bounded: 2,100 in all (1,000 mutations, 500 truncations,
600 damaged bytes), about half a minute on 2 cores.
"""

import io
import logging
import warnings

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from spelunker import GuideStarModel, datasets, read_guidestar
from spelunker.errors import SpelunkerError
from tests.guards import deadline

N_FRAMES = 16
#: Seconds one read may take before it counts as a hang.
HANG_SECONDS = 20

FUZZ_SETTINGS = dict(
    derandomize=True,
    database=None,
    deadline=None,  # the per-example alarm below is the hang guard
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)

KEYWORDS = ("EXP_TYPE", "DATASTRT", "DATAEND", "NINTS", "DATAMODL", "DETECTOR", "PROGRAM",
            "OBSERVTN", "VISIT", "EXSEGNUM", "GDSTARID", "GS_RA", "GS_MAG", "GS_ORDER")
EXTENSIONS = ("SCI", "ERR", "DQ", "POINTING", "FGS CENTROID PACKET")
DTYPES = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
          np.float32, np.float64)

header_values = st.one_of(
    st.none(),  # delete the keyword
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
    st.integers(min_value=-2**40, max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=59000, max_value=61000),  # plausible MJDs, maybe reordered
    st.booleans(),
    st.sampled_from(["FGS_FINEGUIDE", "FGS_TRACK", "GuideStarModel", "GuiderRawModel", ""]),
)


class Template(tuple):
    """(file name, bytes) of the valid product, with a short repr for failure reports."""

    def __repr__(self):
        return f"Template({self[0]!r}, <{len(self[1])} bytes>)"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The bytes of one valid 16-frame product."""
    visit = datasets.make_guidestar_files(
        tmp_path_factory.mktemp("fuzz_template"),
        visits=[datasets.VisitSpec(n_frames=N_FRAMES, n_segments=1)], seed=21)
    template = Template((visit.files[0].name, visit.files[0].read_bytes()))
    with fits.open(visit.files[0]) as hdul:
        info = hdul["ERR"].fileinfo()
        template.images_end = info["datLoc"] + info["datSpan"]  # the end of SCI and ERR
    return template


@pytest.fixture(scope="module")
def quiet_reader():
    """The reader's INFO and WARNING messages are expected here: keep the log short."""
    logger = logging.getLogger("spelunker")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def _mutated(data, mutations):
    """``data`` (FITS bytes) with the HDU-level ``mutations`` applied; unchanged if unwritable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with fits.open(io.BytesIO(data)) as hdul:
                hdul.verify("silentfix+ignore")
                for kind, target, value in mutations:
                    _apply(hdul, kind, target, value)
                out = io.BytesIO()
                hdul.writeto(out, output_verify="silentfix+ignore")
            return out.getvalue()
        except Exception:  # a mutation astropy cannot write is simply not applied
            return data


def _apply(hdul, kind, target, value):
    if kind == "keyword":
        header = hdul[0].header
        if value is None:
            header.remove(target, ignore_missing=True)
        else:
            header[target] = value
    elif kind == "shape" and target in hdul:
        hdul[target].data = np.ones(value, dtype=hdul[target].data.dtype
                                    if hdul[target].data is not None else np.float32)
    elif kind == "dtype" and target in hdul and hdul[target].is_image:
        array = hdul[target].data
        if array is not None:
            hdul[target].data = _cast(array, value)
    elif kind == "values" and target in hdul and hdul[target].is_image:
        array = hdul[target].data
        if array is not None and array.size:
            special, where = value
            array = array.astype(np.float64)
            array.flat[where % array.size] = special
            hdul[target].data = array
    elif kind == "table" and target in hdul:
        index = hdul.index_of(target)
        hdul[index] = fits.BinTableHDU.from_columns(
            [fits.Column("value", "E", array=np.arange(3, dtype=np.float32))], name=target)
    elif kind == "delete" and target in hdul:
        del hdul[target]


def _cast(array, dtype):
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        array = np.clip(np.nan_to_num(array.astype(np.float64)), info.min, info.max)
    return array.astype(dtype)


mutation = st.one_of(
    st.tuples(st.just("keyword"), st.sampled_from(KEYWORDS), header_values),
    st.tuples(st.just("shape"), st.sampled_from(("SCI", "ERR", "DQ")),
              st.lists(st.integers(0, 10), min_size=0, max_size=4).map(tuple)),
    st.tuples(st.just("dtype"), st.sampled_from(("SCI", "ERR", "DQ")), st.sampled_from(DTYPES)),
    st.tuples(st.just("values"), st.sampled_from(("SCI", "ERR", "DQ")),
              st.tuples(st.sampled_from([np.nan, np.inf, -1.0, 1.5, 2.0**40, -2.0**40]),
                        st.integers(0, 10**6))),
    st.tuples(st.just("table"), st.sampled_from(("SCI", "ERR", "DQ")), st.none()),
    st.tuples(st.just("delete"), st.sampled_from(EXTENSIONS), st.none()),
)

some_byte_damage = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("overwrite"), st.floats(0, 1), st.binary(min_size=1, max_size=16)),
)
byte_damage = st.one_of(st.none(), some_byte_damage)


def _damage(data, damage):
    if damage is None:
        return data
    if damage[0] == "truncate":
        return data[:int(len(data) * damage[1])]
    _, where, junk = damage
    position = int((len(data) - 1) * where)
    return data[:position] + junk + data[position + len(junk):]


def _check_read(path):
    """Read ``path``: a correct model or a SpelunkerError, nothing else."""
    with deadline(HANG_SECONDS), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are a user's to see, not failures here
        try:
            model = read_guidestar(path, progress=False)
        except SpelunkerError as exc:
            assert str(exc), "a SpelunkerError without a message"
            return None
    # A read that succeeds must be a sound model of the file's frames.
    assert isinstance(model, GuideStarModel)
    n_frames = model.data.shape[0]
    assert model.data.shape == (n_frames, 8, 8) and n_frames >= 1
    assert model.err.shape == model.data.shape and model.dq.shape == model.data.shape
    assert model.dq.dtype == np.uint32
    times = model.frames["mid_time_mjd"]
    assert len(times) == n_frames and np.all(np.isfinite(times))
    assert np.all(np.diff(times) > 0)
    assert 50000 <= times[0] <= 100000
    assert len(model.files) == 1 and model.files["file_name"][0] == path.name
    return model


@settings(max_examples=1000, **FUZZ_SETTINGS)
@given(mutations=st.lists(mutation, min_size=1, max_size=3), damage=byte_damage)
def test_mutated_products_are_read_or_refused(template, quiet_reader, tmp_path, mutations,
                                              damage):
    name, data = template
    path = tmp_path / name
    path.write_bytes(_damage(_mutated(data, mutations), damage))
    _check_read(path)


@settings(max_examples=500, **FUZZ_SETTINGS)
@given(cut=st.integers(0, 10**6))
def test_truncated_products_are_read_or_refused(template, quiet_reader, tmp_path, cut):
    name, data = template
    path = tmp_path / name
    cut = cut % len(data)
    path.write_bytes(data[:cut])
    model = _check_read(path)
    if cut < template.images_end:
        # Cut before the end of SCI and ERR: never a read.
        assert model is None
    elif model is not None:
        # Cut at an HDU boundary after the images: the tables that remain are read.
        assert cut % 2880 == 0


@settings(max_examples=600, **FUZZ_SETTINGS)
@given(damage=some_byte_damage)
def test_byte_damage_is_read_or_refused(template, quiet_reader, tmp_path, damage):
    name, data = template
    path = tmp_path / name
    path.write_bytes(_damage(data, damage))
    _check_read(path)


def test_the_template_itself_reads(template, quiet_reader, tmp_path):
    name, data = template
    path = tmp_path / name
    path.write_bytes(data)
    model = _check_read(path)
    assert model is not None and model.data.shape == (N_FRAMES, 8, 8)
