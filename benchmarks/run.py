"""Time the workloads of benchmarks/README.md, optionally side by side with PyTorch.

    python benchmarks/run.py                          # every workload, scratchgen only
    python benchmarks/run.py --compare torch          # and the identical PyTorch models, same process
    python benchmarks/run.py --only conv2d,matmul --threads 1 --json results.jsonl
    python benchmarks/run.py --only ddpm_unet --profile 15   # where scratchgen's time goes

Prints one JSON line per workload (median and p10/p90 milliseconds, iterations, threads, peak
RSS, load average before and after) and then a table. With ``--compare torch`` it first checks that both sides
compute the same loss from the same weights and inputs, then times both the same way and
prints the ratio scratchgen / PyTorch of the medians. Memory is measured per side in a child
process that runs only that workload: its peak RSS, and in parentheses how much of it the steps
added on top of the process with the model built.

Both sides run under the same allocator and thread settings: freed memory is kept for reuse
(``scratchgen.allocator``, as ``import scratchgen`` does, unless --default-malloc) rather than
returned to the OS and faulted back in every step, and run.py re-executes itself with the thread
count in the environment of OpenBLAS, OpenMP and Numba, unless those are already set; the output
says which.
"""
from __future__ import annotations

import argparse
import cProfile
import ctypes
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # the scratchgen next to benchmarks/, then workloads
from scratchgen import allocator  # noqa: E402

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
LOSS_RTOL = 1e-4


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated workload names (default: all)")
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations per workload (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first (default 3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for both sides (default: all cores)")
    parser.add_argument("--compare", choices=["torch"], help="also time the identical PyTorch models")
    parser.add_argument("--json", type=Path, help="also write the JSON lines to this file")
    parser.add_argument("--default-malloc", action="store_true",
                        help="keep glibc's default allocator behaviour instead of keeping freed memory")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the per-workload peak-RSS measurement (a child process per side)")
    parser.add_argument("--profile", type=int, metavar="K", default=0,
                        help="instead of timing, profile scratchgen's steps with cProfile and print the K "
                             "functions with the most own time per workload")
    parser.add_argument("--memory-of", metavar="NAME:SIDE", help=argparse.SUPPRESS)  # used by child_memory
    return parser.parse_args(argv)


def reexec_with_environment(args) -> None:
    """Re-run this script with the thread settings in its environment, if missing.

    The BLAS/OpenMP libraries read their thread counts only at start-up, so they cannot be set
    from inside the running process.
    """
    wanted = {name: str(args.threads) for name in THREAD_VARIABLES}
    missing = {name: value for name, value in wanted.items() if name not in os.environ}
    if args.default_malloc and os.environ.get(allocator.OPT_OUT_VARIABLE) != "0":
        missing[allocator.OPT_OUT_VARIABLE] = "0"   # else `import scratchgen` keeps freed memory
    if missing and "SCRATCHGEN_BENCH_REEXEC" not in os.environ:
        env = {**os.environ, **missing, "SCRATCHGEN_BENCH_REEXEC": "1"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def _proc_status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def current_rss_mb() -> float:
    rss = _proc_status_mb("VmRSS")
    return float("nan") if rss is None else rss


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start-up, in MB.

    VmHWM, where Linux has it: ru_maxrss survives exec, so a child started by a large parent
    would report the parent's peak.
    """
    peak = _proc_status_mb("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if peak is None else peak


def measure_memory(name: str, side: str, warmup: int) -> dict:
    """Run ``warmup`` steps of one side of one workload in this (fresh) process; report its memory.

    A process's peak RSS only grows, and with the raised malloc thresholds freed memory stays
    resident, so the two sides of one workload cannot be told apart in the timing process:
    each side is measured alone, in a child process started by ``child_memory``.
    """
    import workloads  # noqa: PLC0415 (loaded after main's thread and allocator set-up)

    workload = workloads.build(name)
    if side == "torch":
        import torch_workloads  # noqa: PLC0415 (loads torch: only for --compare torch)

        step = torch_workloads.twin(workload)
    else:
        step = workload.step
    baseline = current_rss_mb()
    for _ in range(max(1, warmup)):
        step()
    peak = peak_rss_mb()
    return {"peak_rss_mb": peak, "step_rss_mb": peak - baseline}


def child_memory(name: str, side: str, args) -> dict:
    """``measure_memory`` in a child process with this process's environment (threads, malloc)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--memory-of", f"{name}:{side}",
               "--warmup", str(args.warmup), "--threads", str(args.threads)]
    if args.default_malloc:
        command.append("--default-malloc")
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def percentile(sorted_values, q):
    """Linear-interpolation percentile (q in [0, 100]) of already sorted values."""
    position = (len(sorted_values) - 1) * q / 100
    lo = int(position)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (position - lo)


def time_steps(step, iterations: int, warmup: int) -> dict:
    """Median, p10 and p90 of ``iterations`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return {"median_ms": statistics.median(times), "p10_ms": percentile(times, 10),
            "p90_ms": percentile(times, 90)}


# Groups of a profile's functions, by (file name, function name); the first that matches wins. The
# own time of nn_ops.py's linear and of its backward closures is their GEMMs (the rest is in kernels).
PROFILE_GROUPS = [
    ("BLAS GEMMs", lambda file, function: (file == "winograd.py" and function in ("conv", "input_grad", "weight_grad"))
     or (file == "conv.py" and function.startswith(("_gemm_", "_pointwise_")))
     or (file == "nn_ops.py" and function in ("linear", "backward"))),
    ("Winograd transforms", lambda file, function: file == "winograd.py"
     and function.startswith(("_input_tiles", "_output_tiles"))),
    ("im2col / col2im", lambda file, function: file == "conv.py" and function in ("_unfold_kernel", "_gather_kernel")),
    ("normalization", lambda file, function: file == "norm.py"),
    ("elementwise, reductions, optimizer", lambda file, function: file in (
        "activation.py", "upsample.py", "optim.py", "ops.py", "losses.py") or "method 'reduce'" in function),
    ("allocation, copies", lambda file, function: any(name in function for name in (
        "numpy.zeros", "numpy.empty", "ascontiguousarray", "numpy.array", "method 'copy'", "method 'astype'",
        "concatenate", "method 'repeat'"))),
]


def profile_shares(stats: dict) -> dict:
    """Percent of the profiled time in each PROFILE_GROUPS group (own time), the rest in "Python and the rest"."""
    shares = dict.fromkeys([group for group, _ in PROFILE_GROUPS] + ["Python and the rest"], 0.0)
    total = sum(own for _, _, own, _, _ in stats.values()) or 1.0
    for (file, _, function), (_, _, own, _, _) in stats.items():
        group = next((group for group, matches in PROFILE_GROUPS if matches(os.path.basename(file), function)),
                     "Python and the rest")
        shares[group] += 100 * own / total
    return shares


def profile_workload(name: str, args) -> None:
    """Where a scratchgen step spends its time: cProfile over the timed iterations, by own time,
    then the shares of PROFILE_GROUPS."""
    import workloads  # noqa: PLC0415 (loaded after main's thread and allocator set-up)

    workload = workloads.build(name)
    for _ in range(args.warmup):
        workload.step()
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [workload.step() for _ in range(args.iterations)])
    print(f"# {name}: {args.iterations} steps, functions by own time")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(args.profile)
    shares = profile_shares(stats.stats)
    print(f"# {name}: " + "; ".join(f"{group} {share:.0f}%" for group, share in shares.items()))


def losses_agree(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= LOSS_RTOL * max(1.0, abs(theirs))


def describe_environment(args) -> dict:
    import numba  # noqa: PLC0415 (at the top, isort puts it before scratchgen's OPENBLAS_THREAD_TIMEOUT)
    import numpy as np  # noqa: PLC0415 (as numba)

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "numba": numba.__version__,
        "numba_threading_layer": os.environ.get("NUMBA_THREADING_LAYER", "workqueue"),
        "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
        "malloc": allocator.describe(),
        "threads": args.threads, "blas_threads": _blas_threads(),
        "openblas_core": openblas_core(), "openblas_coretype_variable": os.environ.get("OPENBLAS_CORETYPE"),
        "numba_target": numba_target(),
    }


def openblas_core() -> str | None:
    """The kernel family ("Haswell", "SkylakeX", "Zen"...) of the OpenBLAS that NumPy loaded, or None."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return None
    libraries = {line.split()[-1] for line in maps.read_text().splitlines() if "openblas" in line.lower()}
    for path in sorted(libraries):
        library = ctypes.CDLL(path)
        # NumPy's wheels rename the symbols (scipy_openblas..._64_); a system OpenBLAS keeps the plain name
        for symbol in ("openblas_get_corename", "scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                       "openblas_get_corename64_"):
            get_corename = getattr(library, symbol, None)
            if get_corename is not None:
                get_corename.restype = ctypes.c_char_p
                return get_corename().decode()
    return None


def openblas_core_unpinned() -> str | None:
    """The kernel OpenBLAS picks on this CPU without OPENBLAS_CORETYPE: asked of a fresh process."""
    env = {key: value for key, value in os.environ.items() if key not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    code = "import numpy, sys; sys.path.insert(0, sys.argv[1]); import run; print(run.openblas_core())"
    result = subprocess.run([sys.executable, "-c", code, str(HERE)], env=env, capture_output=True, text=True)
    return result.stdout.strip() or None


def numba_target() -> str:
    """The CPU that Numba compiles for: NUMBA_CPU_NAME if set (e.g. generic), else the host's."""
    import llvmlite.binding as llvm  # noqa: PLC0415 (loaded with numba)

    return os.environ.get("NUMBA_CPU_NAME") or llvm.get_host_cpu_name()


def pinned_kernel_warning(environment: dict) -> str | None:
    """A warning when OPENBLAS_CORETYPE makes OpenBLAS run another kernel than it would pick here."""
    if environment["openblas_coretype_variable"] is None:
        return None
    chosen = openblas_core_unpinned()
    if chosen is None or chosen == environment["openblas_core"]:
        return None
    return (f"# WARNING: OPENBLAS_CORETYPE={environment['openblas_coretype_variable']} pins OpenBLAS to its "
            f"{environment['openblas_core']} kernels; on this CPU it would pick {chosen}, as on a user's machine. "
            f"Time with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py ...`")


def _blas_threads():
    """Thread counts of the loaded BLAS/OpenMP libraries (threadpoolctl if installed, else the environment)."""
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415 (optional dependency)
    except ImportError:
        return {name: os.environ.get(name) for name in THREAD_VARIABLES}
    return {info["internal_api"]: info["num_threads"] for info in threadpool_info()}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_workload(name, args, torch_side):
    import workloads  # noqa: PLC0415 (loaded after main's thread and allocator set-up)

    workload = workloads.build(name)
    record = {"workload": name, "shape": workload.shape, "iterations": args.iterations, "warmup": args.warmup,
              "threads": args.threads, "load_before": round(os.getloadavg()[0], 2)}
    torch_step = None
    if torch_side is not None:
        # Both sides start from the same weights: the first step of each is the loss check.
        torch_step = torch_side.twin(workload)
        ours, theirs = workload.step(), torch_step()
        record.update(loss=ours, torch_loss=theirs, loss_agrees=losses_agree(ours, theirs))
    ours = time_steps(workload.step, args.iterations, args.warmup)
    record.update(ours)
    if torch_step is not None:
        theirs = time_steps(torch_step, args.iterations, args.warmup)
        record.update({f"torch_{key}": value for key, value in theirs.items()})
        record["ratio"] = ours["median_ms"] / theirs["median_ms"]
    record["load_after"] = round(os.getloadavg()[0], 2)
    if not args.no_memory:
        record.update(child_memory(name, "scratchgen", args))
        if torch_step is not None:
            record.update({f"torch_{key}": value for key, value in child_memory(name, "torch", args).items()})
    return record


def format_table(records, compare: bool) -> str:
    header = ["workload", "scratchgen ms (p10-p90)", "RSS MB peak (step)"]
    if compare:
        header += ["torch ms (p10-p90)", "torch RSS MB peak (step)", "ratio", "loss check"]
    rows = [header]
    for r in records:
        row = [r["workload"], f"{r['median_ms']:.2f} ({r['p10_ms']:.2f}-{r['p90_ms']:.2f})", _memory(r, "")]
        if compare:
            row += [f"{r['torch_median_ms']:.2f} ({r['torch_p10_ms']:.2f}-{r['torch_p90_ms']:.2f})",
                    _memory(r, "torch_"), f"{r['ratio']:.2f}", "ok" if r["loss_agrees"] else "MISMATCH"]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def _memory(record, prefix) -> str:
    if prefix + "peak_rss_mb" not in record:
        return "-"
    return f"{record[prefix + 'peak_rss_mb']:.0f} ({record[prefix + 'step_rss_mb']:.0f})"


def main(argv=None) -> int:
    args = parse_args(argv)
    reexec_with_environment(args)
    if not args.default_malloc:
        allocator.keep_freed_memory()   # even where SCRATCHGEN_KEEP_FREED_MEMORY=0: both sides alike
    if args.memory_of:
        name, side = args.memory_of.split(":")
        if side == "torch":
            import torch_workloads  # noqa: PLC0415 (loads torch: only for --compare torch)

            torch_workloads.set_threads(args.threads)
        print(json.dumps(measure_memory(name, side, args.warmup)))
        return 0
    import workloads  # noqa: PLC0415 (loaded after main's thread and allocator set-up)

    names = workloads.NAMES if not args.only else tuple(args.only.split(","))
    unknown = sorted(set(names) - set(workloads.NAMES))
    if unknown:
        sys.exit(f"unknown workload(s) {unknown}; choose from {', '.join(workloads.NAMES)}")

    if args.profile:
        for name in names:
            profile_workload(name, args)
        return 0

    torch_side = None
    if args.compare == "torch":
        import torch_workloads  # noqa: PLC0415 (loads torch: only for --compare torch)

        if torch_workloads.available():
            torch_side = torch_workloads
            torch_side.set_threads(args.threads)
        else:
            print("# PyTorch is not installed: timing scratchgen only (pip install torch to compare)")
    environment = describe_environment(args)
    if torch_side is not None:
        environment["torch"] = torch_side.version()
    print("# " + json.dumps(environment), flush=True)
    warning = pinned_kernel_warning(environment)
    if warning:
        print(warning, flush=True)

    records = []
    out = args.json.open("w") if args.json else None
    for name in names:
        record = run_workload(name, args, torch_side)
        records.append(record)
        line = json.dumps({key: round(value, 4) if isinstance(value, float) else value
                           for key, value in record.items()})
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()
    if out:
        out.close()
    print()
    print(format_table(records, torch_side is not None))
    print(f"\n{environment['date']}, {environment['machine']}, {args.threads} threads, "
          f"malloc: {environment['malloc']}, OpenBLAS kernel {environment['openblas_core']}, "
          f"Numba target {environment['numba_target']}, "
          f"load average {os.getloadavg()[0]:.2f}")
    if torch_side is not None and not all(r["loss_agrees"] for r in records):
        print("loss check FAILED for: " + ", ".join(r["workload"] for r in records if not r["loss_agrees"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
