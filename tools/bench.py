"""`make bench`: how fast `make plan` is against the floor of importing the SDKs it uses.

Prints the median of 5 wall-clock runs of `make plan STACK=prod`, the median of 5 bare imports of
the program's SDKs (the floor no plan can beat), their ratio, and the largest user_data beside
Hetzner's 32,768-byte limit. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
SDK_IMPORT = "import pulumi, pulumi_hcloud, pulumi_cloudflare, pulumi_kubernetes, pulumi_tls, pulumi_random, yaml"
HETZNER_USER_DATA_LIMIT = 32_768


def median_seconds(cmd: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    subprocess.run([sys.executable, "-c", SDK_IMPORT], check=True)  # warm the caches once
    floor = median_seconds([sys.executable, "-c", SDK_IMPORT])
    plan = median_seconds(["make", "--no-print-directory", "plan", "STACK=prod"])
    largest = max((p.stat().st_size, p.name) for p in (ROOT / "build" / "prod" / "cloud-init").glob("*.yaml"))
    print(f"make plan (prod), median of {RUNS}:   {plan:6.2f} s")
    print(f"SDK import floor, median of {RUNS}:   {floor:6.2f} s")
    print(f"ratio plan / floor:             {plan / floor:6.2f}")
    print(
        f"largest user_data:              {largest[0]:6d} bytes ({largest[1]}) of Hetzner's {HETZNER_USER_DATA_LIMIT}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
