"""Run every benchmark, one after another, and record their last lines in benchmarks/README.md.

Each benchmark is a script whose last line is `name: value`; its floor is read from the
table below. The README's results table (between the markers) is rewritten with the values of
this run, the date and the machine; everything else in the README is left as written.

    python benchmarks/run_all.py                  # all, updates the README
    python benchmarks/run_all.py steer_overhead   # one; updates its row (and its date) only
    python benchmarks/run_all.py ops --no-write
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

# script -> (what it measures, comparison, floor)
FLOORS: dict[str, tuple[str, str, float]] = {
    "ops": ("core ops vs hand-written references (worst op)", "<=", 1.2),
    "adapter_overhead": ("capture at every site, worst adapter vs plain HF forward", "<=", 1.10),
    "extract_throughput": ("extraction tokens/s vs plain forward", ">=", 0.9),
    "extract_memory": ("peak memory growth, corpus x4 vs x1 (MB)", "<=", 100.0),
    "steer_overhead": ("steered vs plain greedy generation, worst adapter", "<=", 1.05),
    "monitor_overhead": ("monitored (171 probes) vs plain generation, worst adapter", "<=", 1.05),
    "score_throughput": ("corpus scoring tokens/s vs plain forward", ">=", 0.9),
    "dtype_speedup": ("extraction throughput, bfloat16 vs float32 (native bf16 CPUs)", ">=", 1.6),
    "sweep_speedup": (
        "steering sweep sharing the blocks before its site vs full forwards",
        ">=",
        2.0,
    ),
}


def last_metric(output: str) -> tuple[str, float]:
    """The `name: value` of a benchmark's last non-empty line.

    Example:
        >>> last_metric("noise\\nworst_ratio: 1.03\\n")
        ('worst_ratio', 1.03)
    """
    line = [ln for ln in output.splitlines() if ln.strip()][-1]
    name, _, value = line.rpartition(":")
    return name.strip(), float(value)


def passes(value: float, op: str, floor: float) -> bool:
    return value <= floor if op == "<=" else value >= floor


def run(name: str) -> tuple[str, float, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE / f"{name}.py")], capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - start
    sys.stderr.write(proc.stderr[-2000:] if proc.returncode else "")
    print(proc.stdout, end="", flush=True)
    if proc.returncode:
        raise SystemExit(f"benchmark {name} failed with exit code {proc.returncode}")
    metric, value = last_metric(proc.stdout)
    return metric, value, took


def table(rows: list[tuple[str, str, float, float]], previous: dict[str, str] | None = None) -> str:
    """The results table: rows of this run dated today, other benchmarks' rows as before."""
    when = datetime.date.today().isoformat()
    head = [
        f"Machine: {_cpu()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
        " (`python benchmarks/run_all.py [NAME ...]`; each row is dated by its own last run).",
        "",
        "| benchmark | measures | result | floor | | run on |",
        "|---|---|---|---|---|---|",
    ]
    fresh = {}
    for name, metric, value, _ in rows:
        what, op, floor = FLOORS[name]
        ok = "pass" if passes(value, op, floor) else "FAIL"
        fresh[name] = (
            f"| `{name}.py` | {what} | `{metric}: {value:g}` | {op} {floor:g} | {ok} | {when} |"
        )
    lines = [fresh.get(n) or (previous or {}).get(n) for n in FLOORS]
    return "\n".join(head + [line for line in lines if line])


def previous_rows(text: str) -> dict[str, str]:
    """Rows of the README's current table by benchmark name.

    Example:
        >>> previous_rows("| `ops.py` | x | `r: 1` | <= 1.2 | pass | 2026-01-01 |")
        {'ops': '| `ops.py` | x | `r: 1` | <= 1.2 | pass | 2026-01-01 |'}
    """
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `") and ".py` |" in line:
            rows[line[3 : line.index(".py`")]] = line
    return rows


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write(rows: list[tuple[str, str, float, float]]) -> None:
    text = README.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README} lacks the {BEGIN} ... {END} markers")
    before, rest = text.split(BEGIN, 1)
    current, after = rest.split(END, 1)
    new = f"{before}{BEGIN}\n{table(rows, previous_rows(current))}\n{END}{after}"
    tmp = README.with_suffix(".tmp")
    tmp.write_text(new)
    tmp.replace(README)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: {' '.join(FLOORS)})")
    parser.add_argument("--no-write", action="store_true", help="do not update README.md")
    args = parser.parse_args()
    names = args.names or list(FLOORS)
    unknown = [n for n in names if n not in FLOORS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; known: {', '.join(FLOORS)}")
    rows = []
    for name in names:
        print(f"== {name}", flush=True)
        metric, value, took = run(name)
        rows.append((name, metric, value, took))
        print(f"-- {name}: {metric} = {value:g} ({took:.0f} s)", flush=True)
    print(table(rows))
    if not args.no_write:
        write(rows)
    failed = [n for n, _, v, _ in rows if not passes(v, FLOORS[n][1], FLOORS[n][2])]
    if failed:
        raise SystemExit(f"below floor: {', '.join(failed)}")


if __name__ == "__main__":
    main()
