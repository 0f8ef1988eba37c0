"""The astrophysical signals of `spelunker.datasets` and the light-curve tools: shapes and truth.

Each class checks its fields, draws what its truth says (a flare's equivalent
duration integrated numerically, batman's transit depth and contacts, the
binary's eclipses at their times, red noise reproducible with its rms and
correlation time), the frame simulator injects them, and `light_curve_noise`
predicts the scatter of the optimal-aperture light curve of frames simulated,
written and photometered through the package.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from spelunker import datasets, read_guidestar
from spelunker.datasets import (BoxOccultation, EclipsingBinary, Flare, FluxModulation,
                                PhysicalTransit, Pulsation, RedNoise, Transit, VisitSpec,
                                inject, light_curve_noise, synthetic_light_curve)
from spelunker.datasets.guidestar_files import generate
from spelunker.datasets.sample import _sample_arguments
from spelunker.datasets.signals import FLUX_SIGNALS, SIGNAL_TYPES, check_signals
from spelunker.errors import ParameterError
from spelunker.photometry import run_photometry

FRAME = 0.0538


# --------------------------------------------------------------------------
# Validation: a ParameterError naming the class and the field


BAD = [
    (Flare, dict(peak_time=np.nan, fwhm=1.0, amplitude=0.1), "peak_time"),
    (Flare, dict(peak_time=1.0, fwhm=0.0, amplitude=0.1), "fwhm"),
    (Flare, dict(peak_time=1.0, fwhm=1.0, amplitude=-0.1), "amplitude"),
    (Flare, dict(peak_time="a", fwhm=1.0, amplitude=0.1), "peak_time"),
    (PhysicalTransit, dict(mid_time=0.0, period=-1.0, rp_rs=0.1, a_rs=5.0), "period"),
    (PhysicalTransit, dict(mid_time=0.0, period=1e4, rp_rs=1.2, a_rs=5.0), "rp_rs"),
    (PhysicalTransit, dict(mid_time=0.0, period=1e4, rp_rs=0.1, a_rs=0.5), "a_rs"),
    (PhysicalTransit, dict(mid_time=0.0, period=1e4, rp_rs=0.1, a_rs=5.0, inclination=95.0),
     "inclination"),
    (PhysicalTransit, dict(mid_time=0.0, period=1e4, rp_rs=0.1, a_rs=5.0, inclination=70.0),
     "impact parameter"),
    (PhysicalTransit, dict(mid_time=0.0, period=1e4, rp_rs=0.1, a_rs=5.0,
                           limb_darkening=(0.4,)), "limb_darkening"),
    (BoxOccultation, dict(mid_time=0.0, duration=0.0, depth=0.1), "duration"),
    (BoxOccultation, dict(mid_time=0.0, duration=1.0, depth=1.0), "depth"),
    (BoxOccultation, dict(mid_time=None, duration=1.0, depth=0.1), "mid_time"),
    (EclipsingBinary, dict(period=10.0, t0=0.0, duration=5.0, primary_depth=0.1,
                           secondary_depth=0.1), "duration"),
    (EclipsingBinary, dict(period=0.0, t0=0.0, duration=1.0, primary_depth=0.1,
                           secondary_depth=0.1), "period"),
    (EclipsingBinary, dict(period=10.0, t0=0.0, duration=1.0, primary_depth=-0.1,
                           secondary_depth=0.1), "primary_depth"),
    (EclipsingBinary, dict(period=10.0, t0=0.0, duration=1.0, primary_depth=0.1,
                           secondary_depth=1.5), "secondary_depth"),
    (EclipsingBinary, dict(period=10.0, t0=0.0, duration=1.0, primary_depth=0.1,
                           secondary_depth=0.1, ingress_fraction=0.6), "ingress_fraction"),
    (Pulsation, dict(periods=[1.0, 2.0], amplitudes=[0.1]), "same length"),
    (Pulsation, dict(periods=[-1.0], amplitudes=[0.1]), "periods[0]"),
    (Pulsation, dict(periods=[1.0, 2.0], amplitudes=[0.6, 0.5]), "amplitudes"),
    (Pulsation, dict(periods="1.0", amplitudes=[0.1]), "periods"),
    (Pulsation, dict(periods=[], amplitudes=[]), "periods"),
    (Pulsation, dict(periods=[1.0], amplitudes=[0.1], phases=[np.inf]), "phases[0]"),
    (RedNoise, dict(amplitude=0.5, timescale=1.0, seed=1), "amplitude"),
    (RedNoise, dict(amplitude=0.01, timescale=0.0, seed=1), "timescale"),
    (RedNoise, dict(amplitude=0.01, timescale=1.0, seed=-1), "seed"),
    (RedNoise, dict(amplitude=0.01, timescale=1.0, seed=True), "seed"),
]


@pytest.mark.parametrize("kind, fields, name", BAD,
                         ids=[f"{k.__name__}-{n}" for k, _, n in BAD])
def test_each_class_refuses_bad_fields(kind, fields, name):
    with pytest.raises(ParameterError, match=kind.__name__) as caught:
        kind(**fields)
    assert name in str(caught.value)


def test_every_class_is_a_registered_flux_signal():
    for kind in (Flare, PhysicalTransit, BoxOccultation, EclipsingBinary, Pulsation, RedNoise):
        assert kind in FLUX_SIGNALS and kind in SIGNAL_TYPES
        assert kind.__name__ in datasets.__all__
    signals = [Flare(peak_time=1.0, fwhm=1.0, amplitude=0.1), RedNoise(0.01, 1.0, 2)]
    assert check_signals(signals, 10) == tuple(signals)


# --------------------------------------------------------------------------
# Shapes and truth


def test_flare_template_and_its_truth():
    flare = Flare(peak_time=100.0, fwhm=8.0, amplitude=0.02)
    truth = flare.truth()
    assert truth["kind"] == "flare"
    assert (truth["peak_time"], truth["fwhm"], truth["amplitude"]) == (100.0, 8.0, 0.02)
    times = np.arange(0.0, 400.0, 0.001)
    factor = flare.flux_factor(times)
    assert factor.shape == times.shape
    assert_allclose(factor.max(), 1.02, rtol=1e-9)
    assert times[np.argmax(factor)] == pytest.approx(100.0, abs=0.001)
    assert np.all(factor[times < 100.0 - 8.0] == 1.0)  # nothing before the rise
    # The equivalent duration integrated numerically equals the analytic truth.
    assert_allclose(np.trapezoid(factor - 1.0, times), truth["equivalent_duration"], rtol=1e-4)
    assert_allclose(truth["equivalent_duration"], 1.8270 * 0.02 * 8.0, rtol=1e-4)
    # start and stop: the template at 1 per cent of the peak; duration between them.
    assert_allclose(flare.flux_factor([truth["start"], truth["stop"]]) - 1.0, 0.0002,
                    rtol=1e-6)
    assert truth["duration"] == pytest.approx(truth["stop"] - truth["start"])
    assert truth["start"] < 100.0 < truth["stop"]
    # The published template is 0.913 t_1/2 wide at half maximum.
    above = times[factor - 1.0 >= 0.01]
    assert_allclose(above[-1] - above[0], 0.913 * 8.0, rtol=2e-3)


def test_physical_transit_from_batman_matches_its_truth():
    transit = PhysicalTransit(mid_time=6000.0, period=5e5, rp_rs=0.1, a_rs=20.0,
                              inclination=89.0)
    truth = transit.truth()
    assert 8000.0 < truth["duration"] < 8500.0  # 5.8 days, b = 0.35
    times = np.arange(0.0, 12000.0, 0.5)
    factor = transit.flux_factor(times)
    assert factor.shape == times.shape
    assert_allclose(1.0 - factor.min(), truth["depth"], rtol=1e-6)
    assert 0.01 < truth["depth"] < 0.0125  # (rp/rs)^2 deepened by limb darkening
    inside = times[factor < 1.0]
    assert_allclose([inside[0], inside[-1]], [truth["start"], truth["stop"]], atol=0.6)
    assert_allclose(truth["stop"] - truth["start"], truth["duration"])
    assert truth["mid_time"] == 6000.0 and truth["impact_parameter"] == pytest.approx(
        20.0 * math.cos(math.radians(89.0)))
    # Periodic, and any array shape.
    assert_allclose(transit.flux_factor([[6000.0, 6000.0 + 5e5]]), [[factor.min()] * 2],
                    rtol=1e-9)


def test_box_occultation_shape_and_truth():
    box = BoxOccultation(mid_time=10.0, duration=0.5, depth=0.3)
    times = np.arange(0.0, 20.0, 0.01)
    factor = box.flux_factor(times)
    inside = (times >= 9.75) & (times <= 10.25)
    assert_allclose(factor[inside], 0.7)
    assert_array_equal(factor[~inside], 1.0)
    assert box.truth() == {"kind": "occultation", "mid_time": 10.0, "duration": 0.5,
                           "depth": 0.3, "start": 9.75, "stop": 10.25}


def test_eclipsing_binary_eclipses_at_the_truth_times():
    binary = EclipsingBinary(period=600.0, t0=-50.0, duration=40.0, primary_depth=0.2,
                             secondary_depth=0.05, ingress_fraction=0.25)
    primary, secondary = binary.eclipse_times(0.0, 2000.0)
    assert_allclose(primary, [550.0, 1150.0, 1750.0])
    assert_allclose(secondary, [250.0, 850.0, 1450.0])
    assert_allclose(binary.flux_factor(primary), 0.8)
    assert_allclose(binary.flux_factor(secondary), 0.95)
    times = np.arange(0.0, 2000.0, 0.1)
    factor = binary.flux_factor(times)
    # Out of eclipse the flux is 1; each eclipse lasts `duration`; ingress is a ramp.
    dipped = factor < 1.0
    assert_allclose(dipped.sum() * 0.1, 6 * 40.0, atol=6 * 0.2)
    assert_allclose(binary.flux_factor([550.0 - 15.0]), 0.9)  # half-way down the ingress
    truth = binary.truth()
    assert (truth["period"], truth["t0"], truth["duration"]) == (600.0, -50.0, 40.0)
    assert (truth["primary_depth"], truth["secondary_depth"]) == (0.2, 0.05)


def test_pulsation_is_a_sum_of_sinusoids():
    pulsation = Pulsation(periods=(30.0, 7.0), amplitudes=(0.01, 0.002), phases=(0.5, 1.0))
    times = np.linspace(0.0, 100.0, 1001)
    expected = (1.0 + 0.01 * np.sin(2 * np.pi * times / 30.0 + 0.5)
                + 0.002 * np.sin(2 * np.pi * times / 7.0 + 1.0))
    assert_allclose(pulsation.flux_factor(times), expected, rtol=1e-12)
    assert pulsation.truth() == {"kind": "pulsation", "periods": (30.0, 7.0),
                                 "amplitudes": (0.01, 0.002), "phases": (0.5, 1.0)}
    assert Pulsation(periods=12.0, amplitudes=0.1).truth()["phases"] == (0.0,)


def test_red_noise_is_reproducible_per_seed_and_time():
    noise = RedNoise(amplitude=0.005, timescale=2.0, seed=7)
    times = np.arange(0.0, 500.0, FRAME)
    values = noise.flux_factor(times)
    # The same time gives the same value whatever else is asked (files join up).
    pieces = np.concatenate([noise.flux_factor(times[:3000]), noise.flux_factor(times[3000:])])
    assert_array_equal(pieces, values)
    assert_array_equal(RedNoise(0.005, 2.0, 7).flux_factor(times[::7]), values[::7])
    assert not np.allclose(RedNoise(0.005, 2.0, 8).flux_factor(times), values)
    # Negative times continue the process backwards through the shared value at 0.
    both = noise.flux_factor(np.array([-1.0, 0.0, 1.0]))
    assert both[1] == noise.flux_factor([0.0])[0] and np.all(np.isfinite(both))
    assert noise.truth() == {"kind": "red_noise", "amplitude": 0.005, "timescale": 2.0,
                             "seed": 7}
    assert_array_equal(RedNoise(0.0, 2.0, 7).flux_factor(times), 1.0)


def test_red_noise_has_its_rms_and_correlation_time():
    timescale, amplitude = 1.0, 0.01
    step = 0.1
    times = np.arange(0.0, 20_000.0, step)  # 20,000 correlation times
    x = RedNoise(amplitude=amplitude, timescale=timescale, seed=11).values(times)
    assert abs(x.mean()) < 0.03 * amplitude
    assert_allclose(x.std(), amplitude, rtol=0.03)
    lag = int(round(timescale / step))
    correlation = np.corrcoef(x[:-lag], x[lag:])[0, 1]
    assert_allclose(correlation, math.exp(-1.0), atol=0.03)


# --------------------------------------------------------------------------
# Light curves without frames


def test_inject_multiplies_the_factors_without_touching_the_input():
    times = np.arange(0.0, 60.0, FRAME)
    flux = np.ones_like(times)
    signals = [Flare(peak_time=20.0, fwhm=3.0, amplitude=0.05),
               BoxOccultation(mid_time=40.0, duration=1.0, depth=0.2),
               Transit(mid_time=50.0, duration=4.0, depth=0.01),
               FluxModulation(period=13.0, amplitude=0.001)]
    result = inject(times, flux, signals)
    expected = np.prod([s.flux_factor(times) for s in signals], axis=0)
    assert_allclose(result, expected, rtol=1e-12)
    assert_array_equal(flux, 1.0)
    assert_array_equal(inject(times, flux, []), flux)
    with pytest.raises(ParameterError, match="inject: .*not a flux signal"):
        inject(times, flux, [datasets.HgaMove(start=1.0, stop=2.0)])
    with pytest.raises(ParameterError, match="inject: flux"):
        inject(times, flux[:-1], signals)
    with pytest.raises(ParameterError, match="inject: signals"):
        inject(times, flux, "Flare")


def test_synthetic_light_curve_noise_signals_and_seed():
    flare = Flare(peak_time=30.0, fwhm=4.0, amplitude=0.05)
    red = RedNoise(amplitude=0.002, timescale=5.0, seed=3)
    times, flux = synthetic_light_curve(120.0, fgs_mag=15.0, signals=[flare], red_noise=red,
                                        seed=4)
    assert times.size == round(120.0 / FRAME)
    assert_allclose(np.diff(times), FRAME)
    assert times[0] == pytest.approx(FRAME / 2)
    again = synthetic_light_curve(120.0, fgs_mag=15.0, signals=[flare], red_noise=red, seed=4)
    assert_array_equal(again[1], flux)
    model = flare.flux_factor(times) * red.flux_factor(times)
    residual = flux - model
    assert_allclose(residual.std(), light_curve_noise(15.0), rtol=0.05)
    _, white = synthetic_light_curve(120.0, fgs_mag=15.0, seed=4)
    assert_allclose(white - 1.0, residual, rtol=1e-9, atol=1e-12)  # same white noise
    with pytest.raises(ParameterError, match="red_noise"):
        synthetic_light_curve(10.0, fgs_mag=15.0, red_noise=flare, seed=1)
    with pytest.raises(ParameterError, match="seed"):
        synthetic_light_curve(10.0, fgs_mag=15.0, seed=-1)
    with pytest.raises(ParameterError, match="duration"):
        synthetic_light_curve(0.0, fgs_mag=15.0, seed=1)


def test_light_curve_noise_follows_the_noise_model():
    faint, bright = light_curve_noise(16.0), light_curve_noise(12.0)
    assert bright < light_curve_noise(14.0) < faint
    # Bright: photon noise of the whole star dominates, about 1/sqrt(electrons).
    electrons = 5.9e6 * 1.74 * FRAME
    assert_allclose(bright, 1.0 / math.sqrt(electrons), rtol=0.05)
    # A longer frame collects more light; guider 2's lower gain means fewer electrons.
    assert light_curve_noise(14.0, frame_time=0.0617) < light_curve_noise(14.0)
    assert light_curve_noise(14.0, detector="GUIDER2") > light_curve_noise(14.0)
    assert light_curve_noise(14.0, jitter=0.0) <= light_curve_noise(14.0)
    for bad in (dict(fgs_mag="x"), dict(fgs_mag=14.0, frame_time=0.0),
                dict(fgs_mag=14.0, detector="GUIDER3"), dict(fgs_mag=14.0, jitter=-1.0)):
        with pytest.raises(ParameterError, match="light_curve_noise"):
            light_curve_noise(**bad)


@pytest.mark.parametrize("fgs_mag", [12.0, 14.0, 16.0])
def test_light_curve_noise_matches_photometered_frames(tmp_path, fgs_mag):
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[VisitSpec(n_frames=3000, n_segments=1, fgs_mag=fgs_mag)], seed=5)
    result = run_photometry(read_guidestar(visit.files), bin_size=5.0)
    relative = result.flux / np.nanmedian(result.flux)
    measured = np.nanstd(relative)
    # Measured (seed 5): 1.6 %, 6.7 % and 0.0 % above the prediction.
    assert_allclose(measured, light_curve_noise(fgs_mag), rtol=0.15)


# --------------------------------------------------------------------------
# Injection into frame-level visits


def test_frame_level_visit_carries_the_injected_flux(tmp_path):
    signals = [Flare(peak_time=20.0, fwhm=4.0, amplitude=0.1),
               BoxOccultation(mid_time=60.0, duration=2.0, depth=0.3),
               PhysicalTransit(mid_time=100.0, period=1e6, rp_rs=0.15, a_rs=30.0),
               EclipsingBinary(period=50.0, t0=5.0, duration=3.0, primary_depth=0.1,
                               secondary_depth=0.04),
               Pulsation(periods=[11.0], amplitudes=[0.01]),
               RedNoise(amplitude=0.003, timescale=3.0, seed=2)]
    n = 2500
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[VisitSpec(n_frames=n, n_segments=3, fgs_mag=12.0)], signals=signals,
        seed=3)
    assert visit.signals == tuple(signals)
    time_s = (np.arange(n) + 0.5) * FRAME
    expected = inject(time_s, np.ones(n), signals)
    base = float(datasets.countrate_from_magnitude(12.0))
    # The true flux of every frame, over three files simulated one at a time.
    assert_allclose(visit.truth["flux"].value / base, expected, rtol=1e-9)
    # The photometered light curve shows the flare and the occultation as stated.
    result = run_photometry(read_guidestar(visit.files), bin_size=5.0)
    relative = result.flux / np.nanmedian(result.flux / expected)
    near = lambda t: np.abs(time_s - t) < 0.1  # noqa: E731
    assert_allclose(np.mean(relative[near(20.0)]), np.mean(expected[near(20.0)]), atol=0.005)
    assert_allclose(np.mean(relative[near(60.0)]), np.mean(expected[near(60.0)]), atol=0.005)
    assert np.mean(expected[near(20.0)]) > 1.05 and np.mean(expected[near(60.0)]) < 0.75


def test_the_sample_visit_shows_a_flare_apart_from_the_other_events():
    arguments = _sample_arguments()
    flares = [s for s in arguments["signals"] if isinstance(s, Flare)]
    assert len(flares) == 1
    flare = flares[0]
    assert flare.amplitude == 0.02 and flare.fwhm == 5.0
    transit = next(s for s in arguments["signals"] if isinstance(s, Transit))
    hga = next(s for s in arguments["signals"] if isinstance(s, datasets.HgaMove))
    # The flare's bright part (above 5 per cent of its peak) ends before the antenna
    # moves, and the transit starts later still.
    x_5 = np.log(0.303 / 0.05) / 0.2783  # the slow decay's e-folding, in t_1/2
    assert flare.peak_time + x_5 * flare.fwhm < hga.start < transit.mid_time - transit.duration / 2
    visit = generate("unused", write=False, **arguments)
    time_s = (np.arange(len(visit.truth)) + 0.5) * arguments["visits"][0].frame_time
    peak = np.argmin(np.abs(time_s - flare.peak_time))
    base = np.median(visit.truth["flux"].value)
    assert visit.truth["flux"].value[peak] / base > 1.015
