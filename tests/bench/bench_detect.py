"""How long `torchbuild detect` takes on this machine, against bare interpreter start-up.

Run: python tests/bench/bench_detect.py [runs]. Prints medians in milliseconds and the ratios
measured in this one run; the goal is a detect that stays well under a second.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    exe = Path(sys.executable)
    bare = wall([str(exe), "-c", "pass"], runs)
    cli_json = wall([str(exe), "-m", "torchbuild", "detect", "--json"], runs)
    cli_table = wall([str(exe), "-m", "torchbuild", "detect"], runs)

    from torchbuild.detect import detect_host
    from torchbuild.settings import load_settings

    settings = load_settings()
    detect_host(settings)  # warm the data tables once, as a long-running caller would
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        detect_host(settings)
        samples.append(time.perf_counter() - start)
    in_process = statistics.median(samples) * 1000

    print(f"runs per figure:                 {runs}")
    print(f"python -c pass:                  {bare:7.1f} ms")
    print(
        f"torchbuild detect --json:        {cli_json:7.1f} ms  ({cli_json / bare:.1f}x bare start-up)"
    )
    print(f"torchbuild detect (table):       {cli_table:7.1f} ms")
    print(f"detect_host() in process:        {in_process:7.1f} ms")
    print(f"start-up share of detect --json: {bare / cli_json:.0%}")


if __name__ == "__main__":
    main()
