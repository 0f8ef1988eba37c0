"""Reading guider products straight from their files gives what astropy's reading gives (issue 23).

`spelunker.io.products._load_raw` reads SCI, ERR, DQ and the two tables
with the layout the header pass noted (no second header parse, no astropy
record arrays), SCI and ERR straight into the stitched arrays; anything
unusual is left to astropy.
"""

import sys
import types

import numpy as np
import pytest
from astropy.io import fits

from spelunker import datasets, read_guidestar
from spelunker.errors import CorruptFileError
from spelunker.io import products

TABLES = ("frames", "files", "guidestars", "pointing_table", "centroid_table")


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("raw"), seed=6,
        visits=[datasets.VisitSpec(n_frames=400, n_segments=3)])


def _same(a, b):
    assert a.data.tobytes() == b.data.tobytes()
    assert a.err.tobytes() == b.err.tobytes()
    assert a.dq.tobytes() == b.dq.tobytes()
    for name in TABLES:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        for column in x.dtype.names:
            assert np.array_equal(np.asarray(x[column]), np.asarray(y[column]),
                                  equal_nan=x.dtype[column].kind == "f"), (name, column)


def test_raw_reading_equals_astropy_reading(visit, monkeypatch):
    calls = []
    load_raw = products._load_raw

    def counting(product, out):
        calls.append(load_raw(product, out))
        return calls[-1]

    monkeypatch.setattr(products, "_load_raw", counting)
    raw = read_guidestar(visit.files, progress=False)
    assert calls == [True] * len(visit.files)  # every file read without astropy
    monkeypatch.setattr(products, "_load_raw", lambda product, out: False)
    through_astropy = read_guidestar(visit.files, progress=False)
    _same(raw, through_astropy)


def test_unsigned_dq_and_scaled_tables(visit, tmp_path, monkeypatch):
    # An unsigned 32-bit DQ cube (FITS offset integers) is read raw; a table
    # with a scaled column is left to astropy; both give astropy's values.
    path = tmp_path / visit.files[0].name
    with fits.open(visit.files[0]) as hdul:
        n = hdul["SCI"].data.shape[0]
        dq = np.zeros((n, 8, 8), dtype=np.uint32)
        dq[::7, 2, 3] = 2**31 + 5
        dq[1, 0, 0] = 4
        hdul["DQ"] = fits.ImageHDU(dq, header=hdul["DQ"].header, name="DQ")
        pointing = hdul["POINTING"]
        pointing.columns["jitter"].bscale = 2.0  # a scaled column
        hdul.writeto(path)
    product = products._checked_products([path])[0]
    assert products._load_raw(product, {}) is False  # the scaled table: astropy
    product.layout.pop("POINTING")
    assert products._load_raw(product, {}) is True
    assert product.dq.dtype.kind == "u" and np.array_equal(product.dq, dq)
    monkeypatch.setattr(products, "_load_raw", lambda product, out: False)
    reference = products._checked_products([path])[0]
    products._load_arrays(reference)
    assert np.array_equal(reference.dq, dq)


def test_truncated_data_is_refused(visit, tmp_path):
    path = tmp_path / visit.files[0].name
    path.write_bytes(visit.files[0].read_bytes())
    product = products._checked_products([path])[0]
    with open(path, "r+b") as handle:  # the file loses its end after the header pass
        handle.truncate(product.layout["SCI"][1] + 1000)
    with pytest.raises(CorruptFileError, match="truncated"):
        products._load_arrays(product, out={"SCI": np.empty((product.header["frames"], 8, 8),
                                                            dtype=np.float32)})


def test_stitched_arrays_are_allocated_without_huge_page_advice(visit, monkeypatch):
    # numpy's MADV_HUGEPAGE advice makes the kernel compact memory while the
    # stitched arrays are first written (seconds on a fragmented machine):
    # they are allocated without it, and numpy's setting is restored.
    from spelunker.io import reader

    if reader._set_madvise_hugepage is None:
        pytest.skip("this numpy has no huge-page switch")
    settings, table_settings = [], []
    empty, zeros = np.empty, np.zeros

    def recording(*args, **kwargs):
        settings.append(reader._set_madvise_hugepage(False))
        reader._set_madvise_hugepage(settings[-1])
        return empty(*args, **kwargs)

    def recording_tables(shape, dtype=float, **kwargs):
        if np.dtype(dtype).names:  # a stitched table (frames, files, centroid packet...)
            table_settings.append(reader._set_madvise_hugepage(False))
            reader._set_madvise_hugepage(table_settings[-1])
        return zeros(shape, dtype, **kwargs)

    before = reader._set_madvise_hugepage(True)
    try:
        monkeypatch.setattr(reader.np, "empty", recording)
        monkeypatch.setattr(reader.np, "zeros", recording_tables)
        read_guidestar(visit.files, progress=False)
        monkeypatch.undo()
        assert settings[:3] == [False, False, False]  # data, err and the frame times
        # frames, files, guidestars, pointing and centroid tables
        assert table_settings == [False] * 5
        assert reader._set_madvise_hugepage(True) is True  # restored
    finally:
        reader._set_madvise_hugepage(before)


def test_frames_read_in_chunks_equal_astropy_frames(visit, monkeypatch):
    # SCI and ERR are byte-swapped a chunk at a time on their way in: a
    # chunk that does not divide the arrays gives astropy's values too.
    monkeypatch.setattr(products, "_CHUNK_BYTES", 4 * 1000)  # 1000 floats: 400*64 is no multiple
    product = products._checked_products([visit.files[0]])[0]
    n = product.header["frames"]
    out = {"SCI": np.full((n, 8, 8), np.nan, np.float32),
           "ERR": np.full((n, 8, 8), np.nan, np.float32)}
    products._load_arrays(product, out=out)
    assert product.sci is out["SCI"] and product.err is out["ERR"]
    with fits.open(visit.files[0]) as hdul:
        assert product.sci.tobytes() == hdul["SCI"].data.astype(np.float32).tobytes()
        assert product.err.tobytes() == hdul["ERR"].data.astype(np.float32).tobytes()


def test_header_layout_is_parsed_once_per_kind_of_header(visit, tmp_path, monkeypatch):
    # The segments of a visit share their headers but for their lengths:
    # each kind of header is parsed once, a header that differs elsewhere
    # (here a DQ that is not unsigned) gets its own reading, and the
    # lengths (rows, frames) are each file's own.
    monkeypatch.setattr(products, "_PLANS", {})
    parsed = []
    plan = products._header_plan

    def counting(header, table):
        parsed.append(header)
        return plan(header, table)

    monkeypatch.setattr(products, "_header_plan", counting)
    loaded = []
    for path in visit.files:
        product = products._checked_products([path])[0]
        assert products._load_raw(product, {}) is True
        loaded.append(product)
    # The first file's SCI (ERR has the same layout), DQ, POINTING and CENTROID only.
    assert len(parsed) == 4
    with fits.open(visit.files[-1]) as hdul:
        assert loaded[-1].sci.shape == hdul["SCI"].data.shape
        assert len(loaded[-1].tables["centroid_table"]) == len(hdul["FGS CENTROID PACKET"].data)
    path = tmp_path / visit.files[0].name
    with fits.open(visit.files[0]) as hdul:
        dq = hdul["DQ"].data.astype(np.int32)
        hdul["DQ"] = fits.ImageHDU(dq, name="DQ")  # signed 32-bit: another header
        hdul.writeto(path)
    product = products._checked_products([path])[0]
    assert products._load_raw(product, {}) is True
    assert len(parsed) == 5
    assert product.dq.dtype == np.dtype(">i4") and np.array_equal(product.dq, dq)


@pytest.mark.parametrize("card", [b"NAXIS2  =                  8.0", b"NAXIS2  = 'eight'"])
def test_header_key_refuses_lengths_that_are_not_plain_integers(card):
    header = fits.Header({"XTENSION": "IMAGE", "BITPIX": -32, "NAXIS": 2, "NAXIS1": 8,
                          "NAXIS2": 8, "PCOUNT": 0, "GCOUNT": 1})
    block = header.tostring().encode("ascii")
    assert products._header_key(block, False)[1] == [8, 8]
    block = block.replace(b"NAXIS2  =                    8", card.ljust(30))
    assert products._header_key(block, False) is None  # astropy reads it


def test_stitched_frames_are_mapped_in_one_call(visit, monkeypatch):
    # SCI and ERR of the stitched model are written whole: their pages are
    # mapped by one madvise(MADV_POPULATE_WRITE) call (Linux), not a page
    # fault per 4 kB page; small arrays and other systems are left alone.
    from spelunker.io import reader

    populated = []
    monkeypatch.setattr(reader, "_populate", lambda array: populated.append(array.shape))
    model = read_guidestar(visit.files, progress=False)
    assert populated == [model.data.shape, model.err.shape]
    monkeypatch.undo()
    if not sys.platform.startswith("linux"):
        pytest.skip("MADV_POPULATE_WRITE is Linux's")
    calls = []
    madvise = reader._libc().madvise

    def recording(*args):
        calls.append((args, madvise(*args)))
        return calls[-1][1]

    monkeypatch.setattr(reader, "_libc", lambda: types.SimpleNamespace(madvise=recording))
    reader._populate(np.empty(1000, np.float32))
    assert calls == []  # too small to matter
    big = np.empty(16 * 2**20, np.float32)  # 64 MB
    reader._populate(big)
    (start, size, advice), result = calls[0]
    assert start % 4096 == 0 and start + size == big.ctypes.data + big.nbytes
    assert advice == 23
    if result != 0:
        pytest.skip("this kernel has no MADV_POPULATE_WRITE (before Linux 5.14)")
    big[:] = 1.0
    assert big.sum() == big.size
