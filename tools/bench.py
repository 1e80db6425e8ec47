"""`make bench`: how fast `make plan` is against the floor of importing the SDKs it uses.

Prints the median of 5 wall-clock runs of `make plan STACK=prod`, two floors no plan can beat and
the plan's ratio to each, and the largest user_data beside Hetzner's 32,768-byte limit:

- the SDKs' top-level packages imported bare (`import pulumi_kubernetes, ...`);
- every SDK module the plan actually loads, imported bare. pulumi_kubernetes and pulumi_hcloud
  load their resource modules lazily, on first use, so the first floor leaves out most of what
  any program using those resources must import (about 1,150 modules for prod). The list is
  taken at run time from a plan run in a child process.

A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
SDK_PACKAGES = (
    "pulumi",
    "pulumi_hcloud",
    "pulumi_cloudflare",
    "pulumi_kubernetes",
    "pulumi_tls",
    "pulumi_random",
    "yaml",
)
SDK_IMPORT = "import " + ", ".join(SDK_PACKAGES)
# Runs the prod plan in-process and prints the SDK modules it loaded, one per line.
LIST_USED_MODULES = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from tools import mockrt
mockrt.run_program("prod", mockrt.stack_config("prod"))
print("\\n".join(sorted(m for m in sys.modules if m.split(".")[0] in {SDK_PACKAGES!r})))
"""
IMPORT_LISTED = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""
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
    used = subprocess.run(
        [sys.executable, "-c", LIST_USED_MODULES], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    used_floor = median_seconds([sys.executable, "-c", IMPORT_LISTED, *used])
    plan = median_seconds(["make", "--no-print-directory", "plan", "STACK=prod"])
    largest = max((p.stat().st_size, p.name) for p in (ROOT / "build" / "prod" / "cloud-init").glob("*.yaml"))
    print(f"make plan (prod), median of {RUNS}:   {plan:6.2f} s")
    print(f"SDK top-level import, median of {RUNS}: {floor:6.2f} s   ratio plan / it: {plan / floor:5.2f}")
    print(
        f"SDK modules the plan loads ({len(used)}), median of {RUNS}: {used_floor:6.2f} s"
        f"   ratio plan / it: {plan / used_floor:5.2f}"
    )
    print(
        f"largest user_data:              {largest[0]:6d} bytes ({largest[1]}) of Hetzner's {HETZNER_USER_DATA_LIMIT}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
