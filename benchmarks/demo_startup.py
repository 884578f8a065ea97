"""How fast does `loggerd demo` serve fresh readings? (The walking skeleton's promise: < 5 s.)

Starts `loggerd demo` as a user would, and measures from the process start to (1) the printed
URL, (2) the first `latest` in which every channel is good and under 2 s old, and reads the
RTU poll rate off /api/v1/health. Baseline, in the same run: the start-up of
`python -m loggerd --version` (interpreter + imports), to tell our work from Python's.

    python -m benchmarks.demo_startup [--runs 3]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def get(url: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def one_run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        p = subprocess.Popen(
            [sys.executable, "-m", "loggerd", "demo", "--port", "0", "--data-dir", tmp],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert p.stdout is not None
            url = ""
            for line in p.stdout:
                if line.startswith("loggerd demo is running: "):
                    url = line.split()[4].removesuffix("/api/v1/chambers")
                    break
            t_url = time.monotonic() - t0
            while True:
                readings = get(f"{url}/api/v1/chambers/chamber-1/latest")["readings"]
                if all(r["quality"] == "good" and r["age_s"] < 2 for r in readings):
                    break
                time.sleep(0.01)
            t_fresh = time.monotonic() - t0
            age = max(r["age_s"] for r in readings)
            time.sleep(5)
            health = get(f"{url}/api/v1/health")
            polls = {d["device_id"]: d["reads_ok"] for d in health["devices"]}
        finally:
            p.send_signal(signal.SIGTERM)
            p.communicate(timeout=30)
    return {
        "url": t_url,
        "fresh": t_fresh,
        "age": age,
        "polls_rtu": polls["logger-1"],
        "exit_code": p.returncode,
    }


def baseline() -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "loggerd", "--version"], check=True, capture_output=True)
    return time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    base = statistics.median(baseline() for _ in range(args.runs))
    fresh = statistics.median(r["fresh"] for r in runs)
    for r in runs:
        print(
            f"url after {r['url']:.2f} s, fresh readings after {r['fresh']:.2f} s "
            f"(age {r['age']:.2f} s), exit code {r['exit_code']}"
        )
    print(
        json.dumps(
            {
                "runs": args.runs,
                "time_to_url_s_p50": round(statistics.median(r["url"] for r in runs), 3),
                "time_to_fresh_reading_s_p50": round(fresh, 3),
                "time_to_fresh_reading_s_max": round(max(r["fresh"] for r in runs), 3),
                "reading_age_s_max": round(max(r["age"] for r in runs), 3),
                "baseline_cli_start_s": round(base, 3),
                "ratio_fresh_vs_cli_start": round(fresh / base, 2),
                "target_time_to_fresh_reading_s": 5.0,
                "clean_exit": all(r["exit_code"] == 0 for r in runs),
            }
        )
    )


if __name__ == "__main__":
    main()
