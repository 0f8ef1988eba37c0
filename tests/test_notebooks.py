"""The original tool's published notebooks, replayed cell by cell against local servers.

The code cells of the original spelunker's quickstart
(``notebooks/fgs-spelunker_quickstart.ipynb``), TSO tutorial
(``notebooks/fgs-spelunker-and-tsos.ipynb``) and pixel-centroid tutorial
(``notebooks/examples/pixel_centroid_mnemonics.ipynb``), version 1.1.17 /
1.2.0, are transcribed below as users run them; MAST, the Guide Star
Catalog and the engineering database are local fakes on 127.0.0.1 and the
data are synthetic (`spelunker.datasets`), placed at the times the
notebooks ask for.  Each cell runs in one namespace, as in a kernel, with
figures closed after each cell (as the inline backend does).  A cell fails
the test when it raises, or when spelunker itself warns (warnings of the
user's own code, e.g. ``plt.show()`` on Agg, are a notebook's business).

Cells changed from the published ones (see docs/migrating.rst):

- pixel-centroid cell 13: ``spk.fg_time[1300000:1900000]`` becomes
  ``spk.fg_time[1300:1900]``: the synthetic visit has 3,000 frames, not
  two million, and the tutorial's Gaussian table (a file of the original's
  repository) is replaced by a 600-row table of the same columns.
"""

import json
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from astropy.table import Table
from astroquery.mast import conf
from astroquery.mast.discovery_portal import PortalAPI
from edb_server import current_series, hga_series, running_engdb
from gsc_server import FakeGSC, gsc_reply
from mast_server import FakeMast
from numpy.testing import assert_allclose, assert_array_equal

from spelunker import GuideStarFitStep, PeriodogramStep, datasets, read_guidestar
from spelunker.fitting import fit_table
from spelunker.session import figures as session_figures

QUICKSTART_TOKEN = "enter_mast_token_id_here"  # the notebooks' own placeholder tokens
PIXEL_TOKEN = "MAST_API_TOKEN"

#: Program, visits (observation, visit, frames, start) and where the notebooks look.
PROGRAMS = {
    # quickstart: 1534 observation 2 visits 1 and 2; telemetry 60067.84 - 60067.9
    1534: [(2, 1, 10400, "2023-05-03T20:10:00"), (2, 2, 1600, "2023-05-03T20:40:00")],
    # TSO tutorial: 1541 observation 1 visit 1, 1366 observation 3 visit 1
    1541: [(1, 1, 5000, "2022-06-20T07:15:00")],
    1366: [(3, 1, 5000, "2022-07-10T10:00:00")],
    # pixel-centroid tutorial: 2079 observation 4 visit 1; 59976.33 - 59976.56
    2079: [(4, 1, 3000, "2023-02-01T07:56:00")],
}


def _quickstart():
    return [
        # cell 9
        "import spelunker\nspk = spelunker.load(pid='1534')",
        # cell 11
        "spk2 = spelunker.load(pid=1534, obs_num='2', visit='1', calib_level=2)\n"
        "spk2.download(1534, obs_num='2', visit='2', calib_level=2)",
        # cell 13
        "spk2.fg_array.shape, spk2.fg_time.shape, spk2.fg_flux.shape",
        # cell 25
        "spk.fg_array = spk.fg_array[0:10000]\nspk.fg_flux = spk.fg_flux[0:10000]\n"
        "spk.fg_time = spk.fg_time[0:10000]",
        # cells 26, 28, 31, 32
        "table_gauss_fit = spk.gauss2d_fit(ncpus=4) ",
        "spk.gaussfit_results",
        "table_quick_fit = spk.quick_fit()",
        "spk.quickfit_results",
        # cell 34
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize = (12,4), dpi=200)\n\n"
        "ax = spk.timeseries_binned_plot()",
        # cells 36, 40, 42
        "ax = spk.timeseries_list_plot()",
        "ax = spk.periodogram()",
        "freq = spk.pgram_x_mean[0] # periodogram frequency\n"
        "power = spk.pgram_x_mean[1] # periodogram power\n\nfreq[0], power[0]",
        # cell 45
        "spk2 = spelunker.load(pid=1534)",
        # cell 46
        "spk2.mast_api_token = 'enter_mast_token_id_here' # input mast_api token here!\n\n"
        "fig, ax = plt.subplots(figsize=(12,4),dpi=200)\n\n"
        "ax = spk2.mnemonics_local('GUIDESTAR')\n"
        "ax = spk2.mnemonics('SA_ZHGAUPST', 60067.84, 60067.9)\n\n"
        "ax.plot(spk2.fg_time, spk2.fg_flux)\nplt.legend(loc=3)\n\n"
        "plt.xlim(60067.84, 60067.9)",
        # cells 49, 50, 53, 55
        "plt.plot(spk2.fg_flux[2600:3100])",
        "spk2.flux_spatial_timelapse_animation(start=2600,stop=3100,)",
        "spk2.fg_table",
        "spk2.object_properties",
    ]


_BIN_FGS = '''
def bin_fgs_to_science(tscience, tfgs, ffgs):
    nscience = len(tscience)
    binned_fgs = np.zeros( nscience )
    binned_fgs_err = np.zeros( nscience )
    for i in range( nscience ):
        if i == 0:
            dt = tscience[1] - tscience[0]
        elif i == nscience - 1:
            dt = tscience[-1] - tscience[-2]
        else:
            dt1 = tscience[i] - tscience[i-1]
            dt2 = tscience[i+1] - tscience[i]
            dt = ( dt1 + dt2 ) * 0.5
        idx = np.where( np.abs(tscience[i] - tfgs) < 0.5*dt )[0]
        binned_fgs[i] = np.mean( ffgs[idx] )
        binned_fgs_err[i] = np.sqrt( np.var( ffgs[idx] ) ) / np.sqrt( len(idx) )
    return binned_fgs, binned_fgs_err
'''

_BIN_DATA = '''
def bin_data(x,y,n_bin):
    x_bins = []
    y_bins = []
    y_err_bins = []
    for i in range(0,len(x),n_bin):
        x_bins.append(np.median(x[i:i+n_bin-1]))
        y_bins.append(np.median(y[i:i+n_bin-1]))
        y_err_bins.append(np.sqrt(np.var(y[i:i+n_bin-1]))/np.sqrt(len(y[i:i+n_bin-1])))
    return np.array(x_bins),np.array(y_bins),np.array(y_err_bins)
'''

_RESULTS = '''results = {}

for key in list(spk.gaussfit_results.keys()):

    results[key], _ = bin_fgs_to_science(time_since_start,
                                         fg_time_since_start,
                                         spk.gaussfit_results[key].value)'''

_TWIN = '''plt.figure(figsize=(10,4))
plt.errorbar(time_since_start, f, ferr, fmt = 'o', ms = 5, mfc = 'black', mec = 'black',
             elinewidth = 1, ecolor = 'black')
plt.xlim(4.5,5.0)
plt.ylim(0.973, 0.980)
plt.twinx()
variable = '{variable}'
plt.plot(time_since_start, results[variable], color = 'tomato', label = r'FGS '+variable)
tbin, ybin, _ = bin_data((spk.fg_time + 2400000.5 - tstart) * 24,
                         spk.gaussfit_results[variable].value, n_bin = 300)
plt.plot(tbin, ybin, '.-', color = 'red', alpha = 0.3)
plt.plot(time_since_start, results[variable], 'o', color = 'tomato')
plt.xlim(4.5,5.0)
plt.ylabel('$\\\\sigma_X$ (pix)', fontsize = 18, color = 'tomato')
plt.show()'''


def _tso():
    light_curve = '''tstart = t[0]
time_since_start = (t-tstart)*24
plt.figure(figsize=(10,4))
plt.errorbar(time_since_start, f, ferr, fmt = '.', ms = 1, mfc = 'black', mec = 'black',
             elinewidth = 1, ecolor = 'black')
plt.xlim(np.min(time_since_start), np.max(time_since_start))
plt.show()'''
    return [
        "import numpy as np\nimport matplotlib.pyplot as plt\n\nimport spelunker",
        "spelunker.__version__",
        "t, f, ferr = np.loadtxt('data/hp14_lightcurve.dat', unpack = True, usecols = (0,1,2))",
        light_curve,
        # cell 9
        "spk = spelunker.load(pid=1541, obs_num='1', visit='1', save=True)",
        # cell 11
        "plt.figure(figsize=(10,4))\n\n"
        "fg_time_since_start = (spk.fg_time + 2400000.5 - tstart) * 24\n\n"
        "plt.plot(fg_time_since_start, spk.fg_flux / np.nanmedian( spk.fg_flux ) , "
        "color = 'tomato')\nplt.ylim(0.5,1.5)\n"
        "plt.xlim(np.min(time_since_start), np.max(time_since_start))\nplt.show()",
        _BIN_FGS,
        "fbin, fbinerr = bin_fgs_to_science(time_since_start, fg_time_since_start, "
        "spk.fg_flux / np.nanmedian( spk.fg_flux ))",
        "plt.figure(figsize=(10,4))\n"
        "plt.errorbar(time_since_start, (fbin-1)*1e6, fbinerr*1e6, color = 'tomato')\n"
        "plt.ylim(-10000, 10000)\nplt.xlim(np.min(time_since_start), 3)\nplt.show()",
        # cells 19 - 23
        "spk.gauss2d_fit(ncpus=4)",
        _RESULTS,
        "print(results.keys())",
        "for key in list(results.keys()):\n"
        "    plt.figure(figsize=(10,4))\n"
        "    median = np.nanmedian(results[key])\n"
        "    std = np.nanmedian(np.abs(results[key] - median)) * 1.4826\n"
        "    plt.plot(time_since_start, results[key], color = 'tomato')\n"
        "    plt.title(key+' for FGS 2D Gaussian Fit', fontsize = 18)\n"
        "    plt.xlim(np.min(time_since_start), np.max(time_since_start))\n"
        "    plt.ylim(median-3*std,median+5*std)\n\nplt.show()",
        # cells 25, 26, 28, 30
        "def standarize(x):\n    median = np.nanmedian(x)\n"
        "    std = np.nanmedian(np.abs(x - median)) * 1.4826\n"
        "    return ( x - median ) / std",
        "variable = 'x_mean'\nplt.figure(figsize=(10,4))\n"
        "plt.plot(time_since_start, (f-1)*1e6, color = 'black', label = 'NIRISS/SOSS TSO')\n"
        "plt.plot(time_since_start, standarize(results[variable])*100*(-1), color = 'tomato', "
        "label = r'FGS '+variable+r' $\\times$ -100')\nplt.legend()\nplt.show()",
        "plt.figure(figsize=(10,4))\n"
        "plt.plot(time_since_start, results['x_stddev'], color = 'tomato')\n"
        "plt.ylim(0.7025,0.7115)\nplt.show()",
        "plt.figure(figsize=(10,4))\nplt.errorbar(time_since_start, f, ferr, fmt = '.')\n"
        "plt.twinx()\nvariable = 'x_stddev'\n"
        "plt.plot(time_since_start, results[variable], color = 'tomato', "
        "label = r'FGS '+variable)\nplt.show()",
        # cells 32 - 46: WASP-39 b and program 1366
        "t, f, ferr = np.loadtxt('data/w39_lightcurve.dat', unpack = True, usecols = (0,1,2))",
        light_curve,
        "spk = spelunker.load(pid=1366, obs_num='3', visit='1', save=True)",
        "fg_time_since_start = (spk.fg_time + 2400000.5 - tstart) * 24\n"
        "fbin, fbinerr = bin_fgs_to_science(time_since_start, fg_time_since_start, "
        "spk.fg_flux / np.nanmedian( spk.fg_flux ))",
        "plt.figure(figsize=(10,4))\n"
        "plt.errorbar(time_since_start, (fbin-1)*1e6, fbinerr*1e6, color = 'tomato')\n"
        "plt.xlim(np.min(time_since_start), np.max(time_since_start))\nplt.show()",
        "plt.figure(figsize=(10,4))\nplt.errorbar(time_since_start, f, ferr, fmt = '.')\n"
        "plt.twinx()\nplt.errorbar(time_since_start, (fbin-1)*1e6, fbinerr*1e6, "
        "color = 'tomato')\nplt.show()",
        "spk.gauss2d_fit(ncpus=4)",
        _RESULTS,
        "plt.figure(figsize=(10,4))\nplt.errorbar(time_since_start, f, ferr, fmt = '.')\n"
        "plt.twinx()\nvariable = 'x_stddev'\n"
        "plt.plot(time_since_start, results[variable], color = 'tomato', "
        "label = r'FGS '+variable)\nplt.show()",
        # cells 48 - 53
        _BIN_DATA,
        _TWIN.format(variable="x_stddev"),
        _TWIN.format(variable="y_stddev"),
        _TWIN.format(variable="y_mean"),
    ]


def _pixel_centroid():
    overlay = '''fig, ax = plt.subplots(figsize=(12,6), dpi=200)

ax.{kind}(time, gaussfit_table['{column}'], alpha=.8)

ax = spk.mnemonics('SA_ZHGAUPST', {start}, {end})
{current}
ax.legend()

ax.set_ylabel('pixel')
ax.set_xlabel('time (mjd)')
ax.set_title('{column}')
ax.set_xlim({left}, {right})'''
    return [
        "import spelunker\nspelunker.__version__",
        # cell 5: read what is already in the folder
        "spk = spelunker.load()\nspk.readfile(pid=2079, obs_num=4, visit=1)",
        "spk.mast_api_token = 'MAST_API_TOKEN'",
        "spk.object_properties",
        "import matplotlib.pyplot as plt\n\nfig, ax = plt.subplots(figsize=(12,4), dpi=200)\n\n"
        "ax = spk.timeseries_binned_plot(spk.fg_time, spk.fg_flux)",
        # cell 13, changed: 3,000 synthetic frames, not 2 million
        "from astropy.io import ascii\n"
        "gaussfit_table = ascii.read('data/pid2079_observation04_visit1_short.dat')\n"
        "time = spk.fg_time[1300:1900]",
        "spk.timeseries_list_plot(gaussfit_table, time)",
        "import matplotlib.pyplot as plt\n\nfig, ax = plt.subplots(figsize=(12,6), dpi=200)\n\n"
        "ax.plot(time, gaussfit_table['x_mean'])\nax.set_ylabel('pixel')\n"
        "ax.set_xlabel('time (mjd)')\nax.set_title('x_mean')\nax.set_ylim(2.15,3.5)\n"
        "ax.set_xlim(59976.331245082925, 59976.55800643445)",
        overlay.format(kind="plot", column="x_mean", start=59976.331245082925,
                       end=59976.55800643445, left=59976.331245082925, right=59976.55800643445,
                       current="ax1 = spk.mnemonics('INIS_FWMTRCURR', 59976.331245082925, "
                               "59976.55800643445)"),
        overlay.format(kind="scatter", column="x_mean", start=59976.5, end=59976.6,
                       left=59976.51570, right=59976.51625,
                       current="ax1 = spk.mnemonics('INIS_FWMTRCURR', 59976.5, 59976.6)"),
        overlay.format(kind="plot", column="x_stddev", start=59976.5, end=59976.6,
                       left=59976.51570, right=59976.51625, current=""),
        overlay.format(kind="scatter", column="y_mean", start=59976.5, end=59976.6,
                       left=59976.51570, right=59976.51625, current=""),
    ]


# --------------------------------------------------------------------------
# Local data and servers


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """Synthetic products of the four programs the notebooks use, at the notebooks' times."""
    files = {}
    for program, visits in PROGRAMS.items():
        made = datasets.make_guidestar_files(
            tmp_path_factory.mktemp(f"notebook_{program}"), program=program, seed=program,
            visits=[datasets.VisitSpec(observation=o, visit=v, n_frames=n, n_segments=1,
                                       start=start) for o, v, n, start in visits],
            signals=[datasets.CentroidWobble(period=2.5, amplitude=0.02, axis="x")])
        files[program] = made
    return files


@pytest.fixture
def notebook_servers(programs, monkeypatch, tmp_path):
    """MAST, the Guide Star Catalog and the EDB on 127.0.0.1; the kernel's folder is tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPELUNKER_CACHE", str(tmp_path / "cache"))  # this test's catalog replies
    monkeypatch.setattr(PortalAPI, "_column_configs", {})
    for name in ("MAST_API_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    mast = FakeMast(tokens={QUICKSTART_TOKEN, PIXEL_TOKEN})
    for made in programs.values():
        mast.add_files(made.files)
    gsc = FakeGSC().start()
    for made in programs.values():
        for spec in made.visits:
            gsc.replies[spec.gs_id] = gsc_reply(spec.gs_id, ra=spec.gs_ra, dec=spec.gs_dec,
                                                j=13.1, h=12.6, k=12.5,
                                                gaia_id=4658000000000000000 + spec.observation)
    with mast, running_engdb(QUICKSTART_TOKEN) as quick_edb, \
            running_engdb(PIXEL_TOKEN) as pixel_edb:
        monkeypatch.setattr(conf, "server", mast.url)
        monkeypatch.setenv("SPELUNKER_GSC_URL", gsc.url)
        yield {"mast": mast, "gsc": gsc, "edb": {QUICKSTART_TOKEN: quick_edb,
                                                 PIXEL_TOKEN: pixel_edb}}
    gsc.close()
    assert mast.errors == []


def _run(cells, monkeypatch):
    """Run ``cells`` in one namespace, as a kernel; fail on a raise or a spelunker warning."""
    namespace = {"__name__": "__main__"}
    outputs = []
    for number, code in enumerate(cells):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                exec(compile(code, f"<cell {number}>", "exec"), namespace)  # noqa: S102
            except Exception as error:  # noqa: BLE001 - every failure names its cell
                pytest.fail(f"cell {number} raised {type(error).__name__}: {error}\n{code}")
        ours = [w for w in caught if "spelunker" in (w.filename or "")
                and "site-packages" not in w.filename]
        assert not ours, f"cell {number} warned from spelunker: {[str(w.message) for w in ours]}"
        outputs.append(caught)
        plt.close("all")  # as the inline backend after each cell
    return namespace


def _science_light_curve(path, program_files, *, depth):
    """A synthetic science light curve (JD, flux, error) over the FGS visit, every 20 s."""
    model = read_guidestar(program_files)
    mjd = np.asarray(model.frame_times.mjd)
    times = np.arange(mjd[0] + 20 / 86400, mjd[-1] - 20 / 86400, 20 / 86400) + 2400000.5
    flux = 1.0 - depth * (np.abs(times - times.mean()) < 0.3 * np.ptp(times))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.column_stack([times, flux, np.full(times.size, 3e-5)]),
               fmt="%.10f")
    return times


# --------------------------------------------------------------------------
# The notebooks


def test_quickstart_notebook(notebook_servers, programs, monkeypatch, tmp_path):
    t0 = 60067.84
    edb = notebook_servers["edb"][QUICKSTART_TOKEN]
    monkeypatch.setenv("ENG_BASE_URL", edb.url)
    edb.series["SA_ZHGAUPST"] = hga_series(t0, ((1500.0, 1650.0), (3000.0, 3100.0)),
                                           before=120.0, after=2500.0)
    # Cell 55's movie of frames 2600:3100 is drawn from every 50th frame: the published call
    # and its frame range go through the session unchanged; rendering 500 frames (about 95 %
    # of this test's time) tests nothing more (test_plotting counts an animation's frames).
    animations = []

    def every_50th_frame(model, start, stop, filename, *, step, fps):
        animations.append((len(model.data), start, stop, filename, step))
        return animation(model, start, stop, filename, step=step * 50, fps=fps)

    animation = session_figures.flux_spatial_timelapse_animation
    monkeypatch.setattr(session_figures, "flux_spatial_timelapse_animation", every_50th_frame)
    namespace = _run(_quickstart(), monkeypatch)
    assert animations == [(12000, 2600, 3100, "movie.gif", 1)]
    spk, spk2 = namespace["spk"], namespace["spk2"]
    files = programs[1534].files
    # The slices cut the whole session alike: 10,000 frames of visit 1, times and flux.
    assert spk.fg_array.shape == (10000, 8, 8) and spk.fg_time.shape == (10000,)
    assert len(spk.fg_flux) == 10000 and spk.visits == [(1534, 2, 1)]
    step = fit_table(GuideStarFitStep.call([str(files[0])]))
    for name in ("x_mean", "y_mean", "amplitude", "flags"):
        assert_array_equal(np.asarray(namespace["table_gauss_fit"][name]),
                           np.asarray(step[name])[:10000])
    assert_array_equal(namespace["table_gauss_fit"]["time"].mjd, spk.fg_time)
    # periodogram() gave the Axes (checked in test_session); the curves are on attributes.
    freq, power = spk.pgram_x_mean
    assert_array_equal(namespace["freq"], freq)
    assert_array_equal(namespace["power"], power)
    step_pgram = PeriodogramStep.call(GuideStarFitStep.call(spk.model.select(slice(None))))
    assert_allclose(power, np.asarray(step_pgram.periodogram["x_mean"]), rtol=1e-6)
    assert abs(1 / freq[np.argmax(power)] / 2.5 - 1) < 5e-3
    # Cell 11: visit 2 replaced visit 1; cell 45: the whole program, from the folder.
    assert spk2.visits == [(1534, 2, 1), (1534, 2, 2)] and len(spk2.fg_time) == 12000
    assert len(notebook_servers["mast"].downloads()) == 2, "files downloaded twice"
    assert isinstance(spk2.fg_time, np.ndarray) and 60067.84 < spk2.fg_time[0] < 60067.9
    assert spk2.mnemonics_event_hga is not None and len(spk2.mnemonics_event_hga) == 2
    assert (tmp_path / "movie.gif").exists()
    assert list(spk2.fg_table["file_name"]) == [path.name for path in files]
    assert len(spk2.object_properties) == 2


def test_tso_notebook(notebook_servers, programs, monkeypatch, tmp_path):
    _science_light_curve(tmp_path / "data" / "hp14_lightcurve.dat", programs[1541].files,
                         depth=0.006)
    _science_light_curve(tmp_path / "data" / "w39_lightcurve.dat", programs[1366].files,
                         depth=0.02)
    namespace = _run(_tso(), monkeypatch)
    spk = namespace["spk"]
    assert spk.visits == [(1366, 3, 1)]
    # save=True wrote the original's arrays (DN/s, MJD UTC mid-frame) for both programs
    for program, n in ((1541, 5000), (1366, 5000)):
        arrays = tmp_path / "spelunker_results" / "data_arrays"
        assert np.load(arrays / f"pid_{program}_fg_array.npy").shape == (n, 8, 8)
        assert np.load(arrays / f"pid_{program}_fg_time.npy").shape == (n,)
    assert_array_equal(np.load(tmp_path / "spelunker_results" / "data_arrays"
                               / "pid_1366_fg_flux.npy"), spk.fg_flux)
    # The binned series lined up with the science times: every bin holds FGS frames.
    assert np.all(np.isfinite(namespace["fbin"])) and namespace["fbin"].size > 10
    assert set(namespace["results"]) >= {"x_mean", "y_mean", "x_stddev", "y_stddev", "theta"}
    step = fit_table(GuideStarFitStep.call([str(p) for p in programs[1366].files]))
    assert_array_equal(np.asarray(spk.gaussfit_results["x_stddev"]),
                       np.asarray(step["x_stddev"]))


def test_pixel_centroid_notebook(notebook_servers, programs, monkeypatch, tmp_path):
    # The products already downloaded by the original tool, in its layout and folder.
    layout = tmp_path / "spelunker_outputs" / "mastDownload" / "JWST"
    for path in programs[2079].files:
        (layout / path.name.replace("_cal.fits", "")).mkdir(parents=True)
        (layout / path.name.replace("_cal.fits", "") / path.name).write_bytes(path.read_bytes())
    model = read_guidestar(programs[2079].files)
    table = fit_table(GuideStarFitStep.call(model), "gauss", time=False)[1300:1900]
    (tmp_path / "data").mkdir()
    Table({name: np.asarray(table[name]) for name in
           ("amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset")}).write(
        tmp_path / "data" / "pid2079_observation04_visit1_short.dat", format="ascii")
    edb = notebook_servers["edb"][PIXEL_TOKEN]
    monkeypatch.setenv("ENG_BASE_URL", edb.url)
    t0 = 59976.331245082925
    # an HGA move inside the window of cells 19 - 21 (59976.51570 - 59976.51625)
    edb.series["SA_ZHGAUPST"] = hga_series(t0, ((600.0, 700.0), (15940.0, 15960.0)),
                                           before=60.0, after=3500.0)
    edb.series["INIS_FWMTRCURR"] = current_series(t0, 23000.0, pulses=((16000.0, 8.0),))
    namespace = _run(_pixel_centroid(), monkeypatch)
    spk = namespace["spk"]
    assert notebook_servers["mast"].downloads() == [], "read from the folder, not MAST"
    assert spk.directory.name == "spelunker_outputs" and spk.visits == [(2079, 4, 1)]
    assert_array_equal(spk.fg_array, model.data)
    assert_allclose(namespace["time"], spk.fg_time[1300:1900])
    # the last overlay (cells 19 - 21: 59976.5 - 59976.6) holds the second move
    moves = spk.mnemonics_event_hga
    assert len(moves) == 1 and 59976.5157 < moves["start"][0].mjd < 59976.51625
    assert len(spk.mnemonics_event_nisfil) > 100
    assert 59976.3312 < spk.fg_time[1300] and spk.fg_time[1899] < 59976.558
    assert "gs_id" in spk.object_properties.colnames


def test_notebook_files_are_the_published_calls():
    """The transcriptions keep the calls the issue lists, unmodified."""
    text = json.dumps(_quickstart() + _tso() + _pixel_centroid())
    for call in ("spk.fg_array = spk.fg_array[0:10000]", "ax = spk.periodogram()",
                 "spk2.mnemonics('SA_ZHGAUPST', 60067.84, 60067.9)",
                 "(spk.fg_time + 2400000.5 - tstart) * 24",
                 "spelunker.load(pid=1541, obs_num='1', visit='1', save=True)",
                 "spk.readfile(pid=2079, obs_num=4, visit=1)",
                 "spk.timeseries_binned_plot(spk.fg_time, spk.fg_flux)",
                 "spk.timeseries_list_plot(gaussfit_table, time)"):
        assert call in text, call
