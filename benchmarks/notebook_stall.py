"""Issue 22, the widget-cell stall: execute the widget lessons (and a minimal widget notebook)
many times and report the gap between each cell's "idle" and the next cell's start.

    python benchmarks/notebook_stall.py --runs 20                        # minimal, 03, 05; the kit's client
    python benchmarks/notebook_stall.py --runs 20 --load 2               # the same beside 2 busy processes
    python benchmarks/notebook_stall.py --clients plain kit --runs 5 --notebooks minimal --inject-delay 0.3
    python benchmarks/notebook_stall.py --kernel-race 400                # the kernel-side twin (ipykernel 7.0-7.3)
    python benchmarks/notebook_stall.py --quick

The gap of a cell pair is the next code cell's ``execute_input`` minus the previous code
cell's ``status: idle``, both stamped by the kernel (nbclient's ``record_timing``). A healthy
gap is milliseconds; the stall of issue 22 is a gap of one cell timeout after a widget cell
(the reply read only when the wait for it times out). ``--clients plain`` runs nbclient's own
``NotebookClient``, ``kit`` the kit's (:func:`lessons_lib.classroom.execute.notebook_client`,
which re-arms the shell socket after each send). ``--inject-delay S`` makes the race certain
instead of rare: nbclient's Output-widget mimic sleeps S seconds before each output it
receives (what a client starved of CPU does), so the kernel's reply lands before the widget's
sync is sent. ``--load K`` runs K busy-looping processes beside the runs.

``--kernel-race N`` checks the kernel instead (the ipykernel 7.0-7.3 bug that pyproject.toml
excludes): N one-line cells through one client connection that, while it waits for each
reply, sends ``comm_msg`` to the kernel at random moments (as the Output-widget mimic does);
a reply that does not come within 10 s is lost (the kernel stays idle). Run it in an
environment with the ipykernel to check (the kernel is ``python -m ipykernel_launcher``).

Prints a table and writes ``benchmarks/out/notebook_stall.json`` (every run's gaps).
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from _common import OUT_DIR, ROOT, machine_info, machine_line, write_json

NOTEBOOKS = ROOT / "notebooks"
LESSONS = {"03": "03_patchgan.ipynb", "05": "05_lsgan_identity.ipynb"}
STALL_S = 5.0          # a gap above this is a stall (healthy gaps are milliseconds)

# lesson 05's widget cell, reduced: a figure and a line printed into interact's Output widget
MINIMAL = [
    "import matplotlib.pyplot as plt\nimport numpy as np\nt = np.linspace(-3, 3, 200)",
    '''def show(a=0.0, b=1.0, c=1.0):
    fig, ax = plt.subplots(figsize=(10, 3.3))
    for v in (a, b, c):
        ax.plot(t, 0.5 * (t - v) ** 2)
    plt.show()
    print(f"at equilibrium D* = (a + b)/2 = {(a + b) / 2:.2f}")


from ipywidgets import interact
interact(show, a=(-1.0, 1.0, 0.5), b=(0.0, 2.0, 0.5), c=(-1.0, 2.0, 0.5));''',
] + [f"x{i} = {i} * 2\nprint(x{i})" for i in range(8)]


def versions() -> dict[str, str]:
    import zmq

    out = {}
    for name in ("nbclient", "ipykernel", "jupyter_client", "ipywidgets", "comm", "pyzmq", "tornado",
                 "nbformat", "nbval"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "absent"
    out["libzmq"] = zmq.zmq_version()
    return out


def load_notebook(name: str):
    import nbformat

    if name == "minimal":
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src) for src in MINIMAL]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        return nb
    return nbformat.read(str(NOTEBOOKS / LESSONS[name]), as_version=4)


def _ts(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def gaps_of(nb) -> list[dict]:
    """(cell, next cell, seconds from the cell's idle to the next one's execute_input)."""
    out, prev = [], None
    for i, cell in enumerate(nb.cells):
        ex = cell.get("metadata", {}).get("execution", {})
        if cell.get("cell_type") != "code" or "iopub.execute_input" not in ex:
            continue
        if prev is not None and "iopub.status.idle" in prev[1]:
            out.append({"after": prev[0], "before": i,
                        "gap_s": round(_ts(ex["iopub.execute_input"]) - _ts(prev[1]["iopub.status.idle"]), 4)})
        prev = (i, ex)
    return out


def run_once(name: str, client_kind: str, timeout: int) -> dict:
    from nbclient import NotebookClient

    from lessons_lib.classroom.execute import notebook_client

    nb = load_notebook(name)
    make = notebook_client if client_kind == "kit" else (lambda nb, cwd, **kw: NotebookClient(
        nb, resources={"metadata": {"path": cwd}}, **kw))
    t0 = time.perf_counter()
    error = ""
    try:
        make(nb, timeout=timeout, cwd=str(NOTEBOOKS), record_timing=True).execute()
    except Exception as e:  # the run's error is a result
        error = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[-1][:200]}"
    gaps = gaps_of(nb)
    worst = max(gaps, key=lambda g: g["gap_s"]) if gaps else {"gap_s": float("nan"), "after": None, "before": None}
    return {"wall_s": round(time.perf_counter() - t0, 2), "error": error, "max_gap_s": worst["gap_s"],
            "max_gap_after_cell": worst["after"], "gaps": gaps}


def inject_delay(seconds: float) -> None:
    """nbclient's Output-widget mimic waits ``seconds`` before each output it receives."""
    from nbclient import output_widget

    original = output_widget.OutputWidget.output

    def output(self, *args, **kwargs):
        time.sleep(seconds)
        return original(self, *args, **kwargs)

    output_widget.OutputWidget.output = output


def kernel_race(cells: int, wait_s: float = 10.0) -> dict:
    """Cells run one after another on one connection while comm_msg go to the kernel at random
    moments of each wait; returns how many replies never came (the kernel left idle)."""
    import random
    from queue import Empty

    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    rng = random.Random(0)
    lost, slowest, t0, done = 0, 0.0, time.perf_counter(), 0
    try:
        for i in range(cells):
            t = time.perf_counter()
            msg_id = kc.execute(f"x = {i}")
            got, sent = False, 0
            while time.perf_counter() - t < wait_s and not got:
                if kc.shell_channel.socket.poll(rng.randint(0, 2)):
                    got = kc.get_shell_msg(timeout=0)["parent_header"].get("msg_id") == msg_id
                elif sent < 30 and time.perf_counter() - t < 0.2:
                    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": "no-such-comm", "data": {}}))
                    sent += 1
            done += 1
            if not got:
                lost += 1
                print(f"  cell {i}: no execute_reply within {wait_s:g} s (kernel alive: {km.is_alive()})", flush=True)
                if lost >= 2:               # the connection stays wedged: no point waiting more
                    break
            slowest = max(slowest, time.perf_counter() - t)
    except Empty:
        pass
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return {"cells": done, "lost_replies": lost, "slowest_reply_s": round(slowest, 3),
            "wall_s": round(time.perf_counter() - t0, 1)}


def summarize(runs: list[dict]) -> dict:
    gaps = [g["gap_s"] for r in runs for g in r["gaps"]]
    return {"runs": len(runs), "errors": sum(bool(r["error"]) for r in runs),
            "wall_median_s": round(statistics.median(r["wall_s"] for r in runs), 1),
            "max_gap_s": round(max(gaps), 3) if gaps else None,
            "median_gap_s": round(statistics.median(gaps), 4) if gaps else None,
            "p99_gap_s": round(sorted(gaps)[int(0.99 * (len(gaps) - 1))], 4) if gaps else None,
            "gaps": len(gaps), "stalls": sum(g > STALL_S for g in gaps)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebooks", nargs="+", default=["minimal", "03", "05"], choices=["minimal", *LESSONS])
    ap.add_argument("--runs", type=int, default=20, help="executions of each notebook with each client")
    ap.add_argument("--clients", nargs="+", default=["kit"], choices=["kit", "plain"])
    ap.add_argument("--mode", default="smoke", help="LESSONS_MODE of the lessons (default smoke)")
    ap.add_argument("--timeout", type=int, default=120,
                    help="seconds per cell (a stall shows as a gap of about this; default 120)")
    ap.add_argument("--load", type=int, default=0, help="busy-looping processes beside the runs")
    ap.add_argument("--inject-delay", type=float, default=0.0,
                    help="seconds nbclient's Output-widget mimic sleeps before each output (forces the race)")
    ap.add_argument("--kernel-race", type=int, default=0, metavar="CELLS",
                    help="check the kernel side instead: CELLS cells with comm_msg sent meanwhile")
    ap.add_argument("--quick", action="store_true", help="the minimal notebook twice (checks the script)")
    ap.add_argument("--out", default=str(OUT_DIR / "notebook_stall.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.notebooks, args.runs = ["minimal"], 2

    if args.kernel_race:
        info = {**machine_info(), "versions": versions()}
        print(machine_line(info))
        print("versions:", ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
        r = kernel_race(args.kernel_race)
        print(f"ipykernel {info['versions']['ipykernel']}: {r['cells']} cells in {r['wall_s']} s, "
              f"{r['lost_replies']} replies lost, slowest reply {r['slowest_reply_s']} s")
        write_json({"machine": info, "kernel_race": r}, args.out)
        return 1 if r["lost_replies"] else 0

    os.environ["LESSONS_MODE"] = args.mode
    os.environ.pop("MPLBACKEND", None)        # Jupyter's inline backend: figures go through the widget
    if args.inject_delay:
        inject_delay(args.inject_delay)
    info = machine_info()
    info["versions"] = versions()
    info.update(load_processes=args.load, inject_delay_s=args.inject_delay, cell_timeout_s=args.timeout,
                mode=args.mode)
    print(machine_line(info))
    print("versions:", ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    results: dict[str, dict] = {}
    try:
        for i in range(args.runs):               # interleaved: load and drift hit every series alike
            for name in args.notebooks:
                for kind in args.clients:
                    r = run_once(name, kind, args.timeout)
                    results.setdefault(f"{name} {kind}", {"notebook": name, "client": kind, "runs": []})["runs"].append(r)
                    flag = "  STALL" if r["max_gap_s"] > STALL_S else ""
                    print(f"  run {i + 1:>3} {name:<8} {kind:<6} {r['wall_s']:7.1f} s  max gap {r['max_gap_s']:8.3f} s "
                          f"(after cell {r['max_gap_after_cell']}){flag}  {r['error']}", flush=True)
    finally:
        for p in busy:
            p.terminate()
        for p in busy:
            p.wait()
    info["load_avg_1min_at_end"] = round(os.getloadavg()[0], 2)

    print(f"\n| notebook | client | runs | errors | median wall | median gap | p99 gap | max gap | gaps > {STALL_S:g} s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, series in results.items():
        s = series["summary"] = summarize(series["runs"])
        print(f"| {series['notebook']} | {series['client']} | {s['runs']} | {s['errors']} | {s['wall_median_s']} s | "
              f"{s['median_gap_s']:.4f} s | {s['p99_gap_s']:.3f} s | {s['max_gap_s']:.3f} s | {s['stalls']} of {s['gaps']} |")
    write_json({"machine": info, "results": results}, args.out)
    return 1 if any(s["summary"]["stalls"] or s["summary"]["errors"] for s in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
