"""This machine's int8 multiply-add peak, and the direct engine's rate per layer kind against it.

Used by ``tflite_anchor.py`` and ``emulator.py`` so that the distance to the limit is visible
next to the speed ratios.

The peak is ``cores x clock x int8 multiply-adds per cycle and core`` for the kernel set the
engine selected (``custom_ops/isa_select.cc``). Assumptions, per cycle and core:

* ``avx512vnni``: two 512-bit ``vpdpbusd`` (64 uint8 x int8 multiply-adds each) issued per
  cycle: 128. Two vector integer-multiply pipes is what Intel's server cores with two FMA units
  and AMD Zen 5 have (Zen 4 splits a 512-bit operation in two halves: half that peak);
* ``avx512bw``: two 512-bit ``vpmaddwd`` on 16-bit pairs (32 each): 64;
* ``avx2``: two 256-bit ``vpmaddwd`` (16 each): 32;
* ``generic``: two 128-bit ``pmaddwd`` (8 each), what the compiler vectorises to: 16.

Cores: the CPUs this process may run on (``os.sched_getaffinity``). Clock: the larger of the
clock the system reports (the largest ``cpuinfo_max_freq`` under ``/sys/devices/system/cpu``,
else the largest "cpu MHz" of ``/proc/cpuinfo``, which a virtual machine gives as the nominal
clock) and the clock measured by timing a chain of dependent one-cycle additions
(``cnn2snn_tfmot_clock_probe`` of the op library; the best of 20 short runs, since other work
on the machine only slows a run): on this project's machine the first says 2.6 GHz and the
second about 4.2 GHz (boost), which the wide kernels run at too.

The rate of a layer kind comes from the direct engine's optional per-layer timing
(``DirectPlan.set_profiling``): the multiply-adds of those layers (``DirectPlan.layer_macs``,
counted as a direct convolution, so Winograd layers can exceed what their instructions do)
times the images run, over the seconds the threads spent in them, compared with the peak of one
core (the seconds of all threads add up).
"""
import glob
import os

#: int8 multiply-adds per cycle and core, per kernel set (see the module docstring).
MACS_PER_CYCLE = {"avx512vnni": 128, "avx512bw": 64, "avx2": 32, "generic": 16}
#: Layer kinds reported: the first layer (a convolution on the image), the other convolutions,
#: separable convolutions, fully connected layers.
KINDS = ("input_conv", "conv", "separable", "dense")


def _clock_ghz():
    """The clock in GHz and where it was read."""
    frequencies = []
    for path in glob.glob("/sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq"):
        try:
            with open(path) as handle:
                frequencies.append(int(handle.read()) / 1e6)
        except (OSError, ValueError):
            pass
    if frequencies:
        return max(frequencies), "cpuinfo_max_freq"
    try:
        with open("/proc/cpuinfo") as handle:
            mhz = [float(line.split(":")[1]) for line in handle if line.startswith("cpu MHz")]
    except OSError:
        mhz = []
    return (max(mhz) / 1e3, "/proc/cpuinfo cpu MHz") if mhz else (None, None)


def _measured_clock_ghz(runs=20, additions=2_000_000):
    """The clock of a chain of dependent one-cycle additions run by the op library, in GHz
    (None without the library or on a CPU without the chain)."""
    import ctypes
    import time

    from cnn2snn_tfmot.engine import ops

    try:
        ops.load_library()
        probe = ctypes.CDLL(ops.library_path()).cnn2snn_tfmot_clock_probe
    except (OSError, AttributeError, ops.OpLibraryUnavailable):
        return None  # no library, or one without the probe: the reported clock only
    probe.restype = ctypes.c_int64
    probe.argtypes = [ctypes.c_int64]
    best = 0.0
    for _ in range(runs):
        started = time.perf_counter()
        cycles = probe(additions // 8)
        best = max(best, cycles / (time.perf_counter() - started) / 1e9)
    return best or None


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def int8_peak(kernel_set):
    """This machine's int8 multiply-add peak for a kernel set of the engine.

    Arguments:
        kernel_set: "avx512vnni", "avx512bw", "avx2" or "generic" (``DirectPlan.kernel_set``).

    Returns:
        A dict: kernel_set, cores, clock_ghz (and its source; the reported and the measured
        clocks), macs_per_cycle_per_core,
        peak_gmacs_per_core and peak_gmacs (all cores); the peaks are None when no clock is
        found.

    Example:
        >>> int8_peak("avx512vnni")["macs_per_cycle_per_core"]
        128
    """
    ghz, source = _clock_ghz()
    measured = _measured_clock_ghz()
    reported = ghz
    if measured is not None and (ghz is None or measured > ghz):
        ghz, source = measured, "measured (dependent additions)"
    cores = _cores()
    per_cycle = MACS_PER_CYCLE.get(kernel_set)
    per_core = None if ghz is None or per_cycle is None else round(ghz * per_cycle, 1)
    return {"kernel_set": kernel_set, "cores": cores,
            "clock_ghz": None if ghz is None else round(ghz, 3), "clock_source": source,
            "reported_clock_ghz": None if reported is None else round(reported, 3),
            "measured_clock_ghz": None if measured is None else round(measured, 3),
            "macs_per_cycle_per_core": per_cycle, "peak_gmacs_per_core": per_core,
            "peak_gmacs": None if per_core is None else round(per_core * cores, 1)}


def layer_kind(index, algorithm):
    """The reported kind of neural layer `index` computed by `algorithm`
    (``DirectPlan.algorithms``).

    Example:
        >>> layer_kind(0, "convolution"), layer_kind(3, "separable_int16+events")
        ('input_conv', 'separable')
    """
    if algorithm.startswith("separable"):
        return "separable"
    if algorithm.startswith("dense"):
        return "dense"
    return "input_conv" if index == 0 else "conv"


def profile_by_kind(plan, run, x, seconds):
    """Runs ``run(x)`` for about `seconds` with the plan's per-layer timing on, and sums
    multiply-adds and thread-seconds per layer kind.

    Arguments:
        plan: the model's ``DirectPlan`` (``run`` must run it).
        run: a function of a batch that runs the model on it.
        x: the batch.
        seconds: how long to run.

    Returns:
        {kind: {"layers", "macs_per_image", "share_of_time", "gmacs_per_thread_second"}} for
        the kinds present, and "algorithms" (the plan's choices while it ran).
    """
    import time

    plan.set_profiling(True)
    images = 0
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            run(x)
            images += len(x)
        spent = plan.layer_seconds
    finally:
        plan.set_profiling(False)
    algorithms = plan.algorithms
    total = sum(spent) or 1.0
    out = {}
    for index, (algorithm, macs, time_spent) in enumerate(
            zip(algorithms, plan.layer_macs, spent)):
        entry = out.setdefault(layer_kind(index, algorithm),
                               {"layers": 0, "macs_per_image": 0, "seconds": 0.0})
        entry["layers"] += 1
        entry["macs_per_image"] += macs
        entry["seconds"] += time_spent
    for entry in out.values():
        time_spent = entry.pop("seconds")
        entry["share_of_time"] = round(time_spent / total, 3)
        entry["gmacs_per_thread_second"] = (
            round(entry["macs_per_image"] * images / time_spent / 1e9, 2) if time_spent else None)
    return {"algorithms": algorithms, "kinds": out}


def against_peak(kinds, peak, images_per_s, macs_per_image):
    """Adds each kind's fraction of one core's peak, and the whole network's rate and fraction
    of the machine's peak, to a ``profile_by_kind`` result's kinds.

    Arguments:
        kinds: ``profile_by_kind(...)["kinds"]``.
        peak: ``int8_peak(...)``.
        images_per_s: the network's measured images/s (all threads).
        macs_per_image: the network's multiply-adds per image.

    Returns:
        {"network_gmacs": ..., "network_fraction_of_peak": ..., "kinds": kinds with
        "fraction_of_core_peak" added}.

    Example:
        >>> against_peak({}, {"peak_gmacs": 100.0, "peak_gmacs_per_core": 50.0}, 1000, 1e6)
        {'network_gmacs': 1.0, 'network_fraction_of_peak': 0.01, 'kinds': {}}
    """
    per_core = peak.get("peak_gmacs_per_core")
    for entry in kinds.values():
        rate = entry.get("gmacs_per_thread_second")
        entry["fraction_of_core_peak"] = (round(rate / per_core, 3)
                                          if rate is not None and per_core else None)
    network = images_per_s * macs_per_image / 1e9
    return {"network_gmacs": round(network, 2),
            "network_fraction_of_peak": (round(network / peak["peak_gmacs"], 3)
                                         if peak.get("peak_gmacs") else None),
            "kinds": kinds}
