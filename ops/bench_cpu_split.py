"""`make bench`, issue #13: where the CPU of one request goes, scimhub beside the lean yardstick.

On this 2-core box throughput is bound by CPU, so the rps ratio of `compare.sh` is (roughly) the inverse
ratio of the CPU one request costs the whole machine. This runs the same Entra mix (`scim_load.py` of the
shared kit) against the running scimhub (its tenants file) and against the yardstick (set up and started
here, as compare.sh does), alternating, and reads from `/proc` the CPU (user + system) each part of the
machine spent during each run:
- `web`: the server's own processes (scimhub's granian, or the yardstick's);
- `worker`: Celery worker and beat (scimhub only: the activity drain, change sequencer, sweeps);
- `pg`: the PostgreSQL backends of the system's own database (`pg_other`: checkpointer, walwriter,
  autovacuum and other databases' backends);
- `redis`, `loader` (the load generator itself), `unattributed` (the machine's busy time not in any of
  those: the kernel's softirq work for the loopback traffic, the last half second of processes that exited
  during the run; `/proc` is read every half second, so a replaced backend's earlier CPU is counted).
Figures are microseconds of CPU per answered request, the mean of the reps. Usage (from the repository root,
with scimhub serving the tenants of FILE):
    python -m ops.bench_cpu_split --tenants FILE --shared ../shared [--concurrency 8,64] [--reps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLOCK = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.5
PARTS = ("web", "worker", "pg", "pg_other", "redis", "loader", "unattributed")


def busy_seconds() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / CLOCK  # all but idle and iowait


def processes() -> dict[int, tuple[str, float]]:
    """pid -> (command line, CPU seconds so far)."""
    found: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry)] = (cmd, (int(stat[11]) + int(stat[12])) / CLOCK)
    return found


def part_of(cmd: str, system: str, database: str, port: int) -> str | None:
    if cmd.startswith("postgres: "):
        words = cmd.split()
        # "postgres: 15/main: user database host(port) state" for a client backend
        if len(words) >= 5 and "(" in words[4]:
            return "pg" if words[3] == database else "pg_other"
        return "pg_other"
    if "redis-server" in cmd:
        return "redis"
    if system == "scimhub" and "celery" in cmd and "workers.celery_app" in cmd:
        return "worker"
    if system == "scimhub" and "scimhub.asgi" in cmd:
        return "web"
    if system != "scimhub" and "yardstick_app" in cmd and f"--port {port} " in cmd:
        return "web"
    return None


def measured_run(
    system: str, database: str, port: int, load: list[str], out: Path
) -> tuple[dict[str, float], dict[str, float]]:
    """One load run; CPU seconds per part and the load generator's summary. `/proc` is also read every
    `SAMPLE_SECONDS` during the run, so a process that exits meanwhile (a pooled connection's backend replaced
    after its queries, a Celery child) still counts, up to its last sample."""
    before, busy_before = processes(), busy_seconds()
    last_seen = dict(before)
    loader = subprocess.Popen([*load, "--json-out", str(out)], stdout=subprocess.DEVNULL)
    while loader.poll() is None:
        time.sleep(SAMPLE_SECONDS)
        last_seen.update(processes())
    if loader.returncode:
        raise subprocess.CalledProcessError(loader.returncode, loader.args)
    last_seen.update(processes())
    busy = busy_seconds() - busy_before
    seconds = dict.fromkeys(PARTS, 0.0)
    for pid, (cmd, cpu) in last_seen.items():
        part = part_of(cmd, system, database, port)
        if part is None:
            continue
        earlier = before.get(pid)
        seconds[part] += cpu - (earlier[1] if earlier and earlier[0] == cmd else 0.0)
    summary: dict[str, float] = json.loads(out.read_text())["summary"]
    seconds["loader"] = float(summary["client_cpu_s"])  # the load generator's own figure
    seconds["unattributed"] = max(0.0, busy - sum(seconds.values()))
    return seconds, summary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_yardstick(python: str, kit: Path, tenants: str, mode: str) -> tuple[subprocess.Popen[bytes], str, int]:
    """The yardstick in `mode`: "qualified" (its default, as compare.sh runs it) or "setlocal" (every request
    in `BEGIN; SET LOCAL search_path; ...; COMMIT`: what a per-request tenant scope alone costs it)."""
    port = free_port()
    proc = subprocess.Popen(
        [python, str(kit / "yardstick_app.py"), "--serve", "--port", str(port), "--tenants", tenants],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "YARDSTICK_MODE": mode},
    )
    url = f"http://127.0.0.1:{port}/scim/v2"
    probe = [python, str(kit / "scim_load.py"), "--base-url", url, "--tenants", tenants, "--probe", "--wait", "30"]
    subprocess.run(probe, check=True, stdout=subprocess.DEVNULL)
    return proc, url, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", required=True, help="scimhub's tenants file (token@SCIM base URL per line)")
    parser.add_argument("--database", default="", help="scimhub's database name (default: from SCIMHUB_DATABASE_URL)")
    parser.add_argument("--shared", default=os.environ.get("SCIMHUB_SHARED", "../shared"))
    parser.add_argument("--loader-python", default=sys.executable, help="a Python with the kit's packages")
    parser.add_argument("--concurrency", default="8,64")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    kit = Path(args.shared).resolve() / "bench"
    database = args.database or os.environ.get("SCIMHUB_DATABASE_URL", "").rsplit("/", 1)[-1].split("?")[0]
    ys_tenants = "acme,globex,initech,umbrella"
    setup = [args.loader_python, str(kit / "yardstick_app.py"), "--setup", "--tenants", ys_tenants]
    subprocess.run(setup, check=True, stdout=subprocess.DEVNULL)
    loader = [args.loader_python, str(kit / "scim_load.py"), "--duration", str(args.duration)]
    systems: dict[str, tuple[str, int, list[str]]] = {"scimhub": (database, 0, [*loader, "--tenants", args.tenants])}
    servers = []
    for name, mode in (("yardstick", "qualified"), ("ys_setlocal", "setlocal")):
        proc, url, port = start_yardstick(args.loader_python, kit, ys_tenants, mode)
        servers.append(proc)
        systems[name] = ("scim_yardstick", port, [*loader, "--base-url", url, "--tenants", ys_tenants])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for conc in [int(c) for c in args.concurrency.split(",")]:
                totals = {name: (dict.fromkeys(PARTS, 0.0), [0, 0.0]) for name in systems}
                for rep in range(args.reps):
                    order = list(systems) if rep % 2 == 0 else list(reversed(systems))
                    for name in order:
                        db, port, load = systems[name]
                        seconds, summary = measured_run(
                            name, db, port, [*load, "-c", str(conc)], Path(tmp) / f"{name}.json"
                        )
                        for part, value in seconds.items():
                            totals[name][0][part] += value
                        totals[name][1][0] += int(summary["requests"])
                        totals[name][1][1] += float(summary["rps"]) / args.reps
                        time.sleep(1)
                report(conc, totals)
    finally:
        for proc in servers:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)


def report(conc: int, totals: dict[str, tuple[dict[str, float], list[float]]]) -> None:
    print(f"CPU per answered request at c={conc} (us, over the reps):")
    rows = {}
    for name, (seconds, (requests, rps)) in totals.items():
        rows[name] = {part: seconds[part] / max(1, requests) * 1e6 for part in PARTS}
        rows[name]["all"] = sum(rows[name].values())
        cells = "  ".join(f"{part} {rows[name][part]:6.0f}" for part in (*PARTS, "all"))
        print(f"  {name:10} {rps:7.0f} rps  {cells}")
    if {"scimhub", "yardstick"} <= rows.keys():
        ours, theirs = rows["scimhub"], rows["yardstick"]
        cells = "  ".join(f"{part} {ours[part] - theirs[part]:+6.0f}" for part in (*PARTS, "all"))
        print(f"  {'difference':10} {'':11}  {cells}")
        print(f"  whole-machine CPU per request, scimhub / yardstick: x{ours['all'] / max(1.0, theirs['all']):.2f}")
    if {"ys_setlocal", "yardstick"} <= rows.keys():
        scoped, theirs = rows["ys_setlocal"], rows["yardstick"]
        cpu = scoped["all"] / max(1.0, theirs["all"])
        rps = totals["ys_setlocal"][1][1] / max(1.0, totals["yardstick"][1][1])
        print(f"  the yardstick with BEGIN; SET LOCAL search_path; COMMIT per request: CPU x{cpu:.2f}, rps x{rps:.2f}")


if __name__ == "__main__":
    main()
