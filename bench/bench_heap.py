"""The sampling heap profiler: what it costs its host, how fast it answers, how right it is.

All in one run, so the ratios compare like with like:

- **Slowdown.** The agent benchmark's allocation-heavy workload (bench_agent's `work`,
  verbatim) runs in a real child under each variant: nothing; the heap sampler at 64 KiB,
  512 KiB (the default) and 4 MiB; `tracemalloc.start(1)`; `memray run` (when memray is
  installed). Each child times its own work in CPU seconds (`process_time`, all its
  threads: a profiler's own thread counts against it), which other programs on a shared
  machine disturb less than the wall clock; variants rotate from round to round and each
  ratio is taken against the no-profiler run of the same round. Medians over rounds.
- **A profile request on a heap of 1M objects**, round trip through the agent, with the
  sampler at the default rate, beside a tracemalloc `top` on the same heap (the way in
  before the sampler).
- **The profiler's own memory** on that heap: the sampler's tables (what it reports)
  against the heap's size, and the child's peak RSS with no profiler, the sampler and
  tracemalloc.
- **Accuracy**: a program with known live allocations at six sites (about 1 GiB in all,
  the smallest 3%) plus 256 MiB allocated and freed before the profile, at the default
  rate, 5 runs with different seeds: each site's mean estimate against its true bytes,
  whether the top-5 order is right, and what the freed site shows.

    python -m bench.bench_heap [--rounds 7] [--work 400000] [--runs 5] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._util import ROOT, md_table, median, render_section, verdict, write_section
from bench.bench_agent import CHILD as AGENT_CHILD

KIB = 1024
MIB = 1024 * KIB
WORK = AGENT_CHILD[AGENT_CHILD.index("class Item") : AGENT_CHILD.index("if mode.startswith")]

SLOWDOWN_CHILD = (
    "import sys, time\n"
    + WORK
    + """
mode, rounds = sys.argv[1], int(sys.argv[2])
if mode.startswith("heap-"):
    from memlens.agent import heap
    heap.PROFILER.start(int(mode[5:]))
elif mode == "tracemalloc":
    import tracemalloc
    tracemalloc.start(1)
start = time.process_time()
work(rounds)
print("done", time.process_time() - start, flush=True)
"""
)

HEAP_CHILD = (
    "import sys, time\n"
    + WORK
    + """
mode, amount = sys.argv[1], int(sys.argv[2])
import memlens.agent
memlens.agent.start()
if mode == "heap":
    from memlens.agent import heap
    heap.PROFILER.start()
elif mode == "tracemalloc":
    import tracemalloc
    tracemalloc.start(1)
held = [Item(i, str(i)) for i in range(amount)]
print("held", len(held), flush=True)
sys.stdin.read()
"""
)

# (site, total bytes, block size[, kept]): 1 GiB in all, shares from 35% to 3%.
PLAN = ACCURACY_PLAN = [
    ["site_a", 368 * MIB, 1000],
    ["site_b", 256 * MIB, 10_000],
    ["site_c", 160 * MIB, 200],
    ["site_d", 123 * MIB, 100_000],
    ["site_e", 62 * MIB, 4000],
    ["site_f", 31 * MIB, 700_000],
    ["churn", 256 * MIB, 5000, False],
]


def child_env(runtime: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("MEMLENS_AGENT", "MEMLENS_HEAP", "MEMLENS_HEAP_FALLBACK"):
        env.pop(name, None)
    env["PYTHONHASHSEED"] = "0"
    env["XDG_RUNTIME_DIR"] = runtime
    return env


def slowdown(rounds: int, work: int, runtime: str, script: Path) -> dict[str, list[float]]:
    variants = ["none", f"heap-{64 * KIB}", f"heap-{512 * KIB}", f"heap-{4 * MIB}", "tracemalloc"]
    if shutil.which("memray") or _memray_module():
        variants.append("memray")
    ratios: dict[str, list[float]] = {v: [] for v in variants if v != "none"}
    for r in range(rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        times: dict[str, float] = {}
        for variant in order:
            times[variant] = _time_work(variant, work, runtime, script)
        for variant, values in ratios.items():
            values.append(times[variant] / times["none"])
        print(f"round {r + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in times.items()))
    return ratios


def _memray_module() -> bool:
    return (
        subprocess.run([sys.executable, "-c", "import memray"], capture_output=True).returncode == 0
    )


def _time_work(variant: str, work: int, runtime: str, script: Path) -> float:
    if variant == "memray":
        out = Path(runtime) / f"memray-{time.monotonic_ns()}.bin"
        command = [sys.executable, "-m", "memray", "run", "-q", "-o", str(out), str(script)]
        command += ["none", str(work)]
    else:
        command = [sys.executable, str(script), variant, str(work)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=child_env(runtime), cwd=ROOT, timeout=900
    )
    if done.returncode != 0:
        raise RuntimeError(f"{variant}: {done.stderr[-800:]}")
    if variant == "memray":
        Path(runtime, out.name).unlink(missing_ok=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("done"))
    return float(line.split()[1])


def heap_requests(objects: int, runtime: str, script: Path) -> dict[str, Any]:
    from memlens.agent import find_agent
    from memlens.agent.client import AgentClient

    figures: dict[str, Any] = {}
    for mode in ("none", "heap", "tracemalloc"):
        proc = subprocess.Popen(
            [sys.executable, str(script), mode, str(objects)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(runtime),
            cwd=ROOT,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().startswith("held")
            entry = find_agent(proc.pid)
            assert entry is not None
            with AgentClient.connect(entry.address, timeout=120) as client:
                if mode == "heap":
                    times = []
                    for _ in range(7):
                        start = time.perf_counter()
                        profile = client.heap_profile()
                        times.append(time.perf_counter() - start)
                    figures["profile_s"] = median(times)
                    figures["profile_stacks"] = len(profile["stacks"])
                    figures["samples"] = profile["samples"]
                    figures["overhead_bytes"] = client.heap_status()["overhead_bytes"]
                    figures["estimated_heap"] = profile["inuse_bytes"]
                elif mode == "tracemalloc":
                    start = time.perf_counter()
                    client.top(limit=10)
                    figures["top_s"] = time.perf_counter() - start
                    figures["traced_heap"] = client.stats()["tracemalloc"]["current_bytes"]
            figures[f"peak_rss_{mode}"] = _peak_rss(proc.pid)
        finally:
            proc.kill()
            proc.communicate()
    return figures


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def accuracy(runs: int, runtime: str) -> dict[str, Any]:
    child = ROOT / "tests" / "heapchild.py"
    estimates: dict[str, list[float]] = {}
    orders_right = 0
    for seed in range(1, runs + 1):
        done = subprocess.run(
            [
                sys.executable,
                str(child),
                "sites",
                json.dumps({"seed": seed, "plan": ACCURACY_PLAN}),
            ],
            capture_output=True,
            text=True,
            env=child_env(runtime),
            cwd=ROOT,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-800:])
        inuse = json.loads(done.stdout.strip().splitlines()[-1])["inuse"]
        for name, *_ in ACCURACY_PLAN:
            estimates.setdefault(str(name), []).append(float(inuse.get(name, 0.0)))
        kept = [str(p[0]) for p in ACCURACY_PLAN if len(p) == 3]
        truth_order = sorted(kept, key=lambda n: -_truth(n))[:5]
        seen_order = sorted(kept, key=lambda n: -float(inuse.get(n, 0.0)))[:5]
        orders_right += truth_order == seen_order
    return {"estimates": estimates, "orders_right": orders_right, "runs": runs}


def _truth(name: str) -> float:
    for site, total, size, *rest in ACCURACY_PLAN:
        if site == name:
            if rest and not rest[0]:
                return 0.0
            # bytearray(size): a buffer of size + 1 and a 56-byte object; 8 in the list.
            return int(total) // int(size) * (int(size) + 1 + 56 + 8)
    raise KeyError(name)


def render(
    ratios: dict[str, list[float]],
    req: dict[str, Any],
    acc: dict[str, Any],
    args: argparse.Namespace,
) -> str:
    names = {
        f"heap-{64 * KIB}": "memlens heap sampler, 64 KiB",
        f"heap-{512 * KIB}": "memlens heap sampler, 512 KiB (default)",
        f"heap-{4 * MIB}": "memlens heap sampler, 4 MiB",
        "tracemalloc": "tracemalloc, 1 frame",
        "memray": "`memray run`",
    }
    rows = [
        [names[k], f"{median(v):.3f}×", f"{min(v):.2f}–{max(v):.2f}"] for k, v in ratios.items()
    ]
    default = median(ratios[f"heap-{512 * KIB}"])
    slow = md_table(["variant", "slowdown, median", "range"], rows)
    heap_bytes = req["traced_heap"]
    own = req["overhead_bytes"] / heap_bytes if heap_bytes else float("nan")
    requests = md_table(
        ["figure", "value"],
        [
            ["`heap.profile` round trip, median of 7", f"{req['profile_s'] * 1000:.1f} ms"],
            ["…its samples / stacks", f"{req['samples']} / {req['profile_stacks']}"],
            ["tracemalloc `top` on the same heap", f"{req['top_s']:.2f} s"],
            ["heap (tracemalloc's count of traced bytes)", f"{heap_bytes / MIB:.0f} MiB"],
            ["the sampler's estimate of that heap", f"{req['estimated_heap'] / MIB:.0f} MiB"],
            [
                "the sampler's own memory",
                f"{req['overhead_bytes'] / KIB:.0f} KiB ({own:.2%} of the heap)",
            ],
            ["peak RSS: no profiler", f"{req['peak_rss_none'] / MIB:.0f} MiB"],
            ["peak RSS: heap sampler", f"{req['peak_rss_heap'] / MIB:.0f} MiB"],
            ["peak RSS: tracemalloc", f"{req['peak_rss_tracemalloc'] / MIB:.0f} MiB"],
        ],
    )
    acc_rows = []
    within = True
    total = sum(_truth(str(p[0])) for p in ACCURACY_PLAN)
    for name, *_ in ACCURACY_PLAN:
        truth = _truth(str(name))
        mean = sum(acc["estimates"][str(name)]) / len(acc["estimates"][str(name)])
        if truth:
            error = mean / truth - 1
            share = truth / total
            ok = abs(error) <= 0.10
            within &= ok or share < 0.02
            acc_rows.append(
                [
                    str(name),
                    f"{share:.1%}",
                    f"{truth / MIB:.1f}",
                    f"{mean / MIB:.1f}",
                    f"{error:+.1%}",
                ]
            )
        else:
            acc_rows.append([f"{name} (freed)", "0%", "0", f"{mean / MIB:.1f}", "—"])
    accuracy_table = md_table(
        ["site", "share", "true MiB", f"mean estimate MiB ({acc['runs']} runs)", "error"], acc_rows
    )
    figures = (
        f"Slowdown of the workload ({args.work:,} rounds, CPU time), {args.rounds} rounds:"
        f"\n\n{slow}\n\n"
        f"A heap of {args.objects:,} objects:\n\n{requests}\n\n"
        f"Accuracy at the default rate:\n\n{accuracy_table}\n\n"
        f"Top-5 order right in {acc['orders_right']} of {acc['runs']} runs."
    )
    target = (
        f"slowdown ≤ 1.10× at the default rate: {verdict(default <= 1.10)} ({default:.3f}×); "
        f"a profile request under 100 ms: {verdict(req['profile_s'] < 0.1)}; "
        f"own memory under 2% of the heap: {verdict(own < 0.02)}; "
        f"every site of 2% or more within ±10%: {verdict(within)}; "
        f"top-5 order right: {verdict(acc['orders_right'] == acc['runs'])}; "
        "freed blocks absent: "
        f"{verdict(all(v == 0 for v in acc['estimates']['churn']))}."
    )
    return render_section(
        "heap",
        "The sampling heap profiler",
        what=__doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0] if __doc__ else "",
        command="python -m bench.bench_heap",
        figures=figures,
        target=target,
        notes=(
            "A sampled estimate's error shrinks with the bytes behind it: for a site of B "
            "bytes at mean interval R it is about sqrt(B·R) (one standard deviation), so at "
            "512 KiB a 31 MiB site is within about 13% in one run and 6% in the mean of 5."
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--work", type=int, default=400_000)
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    runtime = tempfile.mkdtemp(prefix="memlens-bench-heap-")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    try:
        slow_script = Path(runtime) / "workload.py"
        slow_script.write_text(SLOWDOWN_CHILD)
        heap_script = Path(runtime) / "heap_child.py"
        heap_script.write_text(HEAP_CHILD)
        ratios = slowdown(args.rounds, args.work, runtime, slow_script)
        req = heap_requests(args.objects, runtime, heap_script)
        acc = accuracy(args.runs, runtime)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    section = render(ratios, req, acc, args)
    print(section)
    if not args.no_write:
        write_section("heap", section)


if __name__ == "__main__":
    main()
