"""`memlens attach` and `memlens detach`: the pause the target sees, and how long they take.

The target is a real child that never imported memlens (memlens's own Python, run with
`-I`). A ticker thread in it wakes every millisecond and keeps the longest gap between two
of its wake-ups since it was last asked; a control thread reads "reset" and "report" from
stdin. Its main thread either spins in a pure-Python loop (`busy`: the attach takes the
pending-call path) or sleeps (`sleeping`: the direct path, after a second in which the
main thread makes no pending call). Each try: reset, `memlens attach PID` as a command, a
`stats` request answered through the new agent, report (the pause of the attach); reset,
`memlens detach PID`, report (the pause of the detach). The attach time runs from the
command's start to the answer to `stats`. A baseline gap is the same ticker over the same
span with nothing done, so the pause can be told from the scheduler's own noise.

    python -m bench.bench_attach [--tries 20] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._util import md_table, median, percentile, render_section, write_section

ROOT = Path(__file__).resolve().parent.parent

TARGET = """
import sys, threading, time
gap = 0.0
def tick():
    global gap
    last = time.perf_counter()
    while True:
        time.sleep(0.001)
        now = time.perf_counter()
        gap = max(gap, now - last)
        last = now
def control():
    global gap
    for line in sys.stdin:
        if line.strip() == "reset":
            gap = 0.0
            print("ok", flush=True)
        elif line.strip() == "report":
            print(f"{gap * 1000:.3f}", flush=True)
threading.Thread(target=tick, daemon=True).start()
threading.Thread(target=control, daemon=True).start()
print("ready", flush=True)
if sys.argv[1] == "busy":
    n = 0
    while True:
        n += 1
else:
    while True:
        time.sleep(3600)
"""


class Target:
    def __init__(self, kind: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-u", "-c", TARGET, kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.read() == "ready"

    def read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def memlens(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "memlens", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"memlens {' '.join(args)}: {done.stderr.strip()}")


def measure(kind: str, tries: int, env: dict[str, str]) -> dict[str, list[float]]:
    from memlens.agent import find_agent
    from memlens.agent.client import AgentClient

    os.environ.update(env)
    figures: dict[str, list[float]] = {"attach": [], "detach": [], "base": [], "time": []}
    target = Target(kind, env)
    try:
        for _ in range(tries):
            target.ask("reset")
            started = time.monotonic()
            memlens(env, "attach", str(target.proc.pid))
            entry = find_agent(target.proc.pid)
            assert entry is not None
            with AgentClient.connect(entry.address) as agent:
                agent.stats()
            took = time.monotonic() - started
            figures["time"].append(took)
            figures["attach"].append(float(target.ask("report")))
            target.ask("reset")
            memlens(env, "detach", str(target.proc.pid))
            figures["detach"].append(float(target.ask("report")))
            target.ask("reset")
            time.sleep(took)
            figures["base"].append(float(target.ask("report")))
    finally:
        target.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if shutil.which("gdb") is None:
        sys.exit("gdb is not installed (the package `gdb`)")
    runtime = tempfile.mkdtemp(prefix="mlb-", dir="/tmp")
    os.chmod(runtime, 0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": runtime, "PYTHONPATH": str(ROOT / "src")}
    rows = []
    try:
        for kind in ("busy", "sleeping"):
            f = measure(kind, args.tries, env)
            print(kind, {k: round(median(v), 1) for k, v in f.items()}, flush=True)
            rows.append(
                [
                    kind,
                    f"{median(f['attach']):.0f} / {percentile(f['attach'], 95):.0f}",
                    f"{median(f['detach']):.1f} / {percentile(f['detach'], 95):.1f}",
                    f"{median(f['base']):.1f} / {percentile(f['base'], 95):.1f}",
                    f"{median(f['time']):.2f} / {percentile(f['time'], 95):.2f}",
                ]
            )
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    table = md_table(
        [
            "main thread",
            "pause at attach, ms (median / p95)",
            "pause at detach, ms",
            "baseline gap, ms",
            "attach, command to stats answered, s",
        ],
        rows,
    )
    print(table)
    if args.no_write:
        return
    command = f"python -m bench.bench_attach --tries {args.tries}"
    section = render_section(
        "attach",
        "Attach: the pause the target sees, and the time to an answering agent",
        what=(
            "`memlens attach PID` through gdb on a Python child that never imported memlens, "
            f"{args.tries} tries per kind of target: its main thread spinning in pure Python "
            "(the pending-call path) or asleep (the direct path). The pause is the longest gap "
            "of a 1 ms ticker thread inside the target over the command's span; the baseline "
            "is the same ticker over as long with nothing done. The attach time runs from the "
            "command's start to the new agent's answer to `stats` (it includes starting the "
            "memlens command, about half a second, and for a sleeping main thread the second "
            "memlens waits for a pending call). Detach sends `agent.stop` and stops nothing."
        ),
        command=command,
        figures=table,
        target=(
            "no figure was set; docs/attach.md says what the pause is made of (mostly gdb "
            "reading the libraries' symbols while the process is stopped)."
        ),
    )
    write_section("attach", section)


if __name__ == "__main__":
    main()
