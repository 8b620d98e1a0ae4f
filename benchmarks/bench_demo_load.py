"""Issue 6: the demo server under load: concurrent clients, failures, latency, throughput,
and whether every result is the one a single client gets.

    PYTHONPATH=. python benchmarks/bench_demo_load.py                  # 8 clients x 25 requests
    PYTHONPATH=. python benchmarks/bench_demo_load.py --model pix2pix --clients 4 --requests 10
    PYTHONPATH=. python benchmarks/bench_demo_load.py --quick           # 4 clients x 4 requests

One server (``python -m demo`` started here on a free localhost port, or ``--url``), the
``/colorize`` endpoint through ``gradio_client``. The requests use a few inputs (square crops
of bundled photos at 256-512 px) and seeds, spread over the clients and requests; with a
model that has a noise input (ColorGAN) the same photo comes with two seeds, and the script
checks that they give two colourings.

1. **Reference**: one client sends each (input, seed) once after a warm-up, and keeps the
   colour image. (``--distinct-inputs``: one input per client instead, so that no two
   requests in flight ever produce the same image; ``--identical-inputs``: one input for
   all, so that they always do.)
2. **Load**: ``--clients`` threads, each with its own ``Client``, start together and send
   ``--requests`` requests each, one after the other. A request *fails* when gradio_client
   raises (queue full, connection error...), the status is the demo's failure message, or
   there is no output image; its result *differs* when its colour image is not pixel-equal to
   the reference of the same input and seed.

Reports the failures (expected: 0) and differing results (expected: 0), p50 / p95 latency
under load and of the single client, throughput (successful requests per second of the
load phase), and the server's memory (VmRSS / VmHWM from /proc) before and after the load.
Prints a table and writes ``benchmarks/out/demo_load.json``.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from _common import OUT_DIR, machine_info, machine_line, write_json
from bench_demo_latency import (
    colour_output,
    demo_server,
    percentiles,
    proc_memory_mb,
    request_ok,
    resolve_model,
    square_input,
)

# (photo, size, seed): the seed is ignored by a model without a noise input
CASES = (("astronaut", 512, 0), ("coffee", 384, 7), ("chelsea", 256, 1234), ("astronaut", 512, 5))


def colour_pixels(result: Any) -> np.ndarray:
    path, _ = colour_output(result)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="shipped colorizer (default: the default one; `lessons models`)")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=25, help="requests per client")
    p.add_argument("--url", default=None, help="a running demo server instead of starting one")
    p.add_argument("--server-pid", type=int, default=None, help="with --url: the server's pid, for its memory")
    p.add_argument("--server-threads", type=int, default=None, help="OMP_NUM_THREADS of the server started here")
    p.add_argument("--distinct-inputs", action="store_true",
                   help="each client sends its own photo (256 + 32 c px), so no two clients ever get the same "
                        "result (a control for failures that come from identical results in flight)")
    p.add_argument("--identical-inputs", action="store_true",
                   help="every request sends the same photo and seed (256 px): the opposite control")
    p.add_argument("--quick", action="store_true", help="4 clients x 4 requests")
    p.add_argument("--out", default=str(OUT_DIR / "demo_load.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.clients, args.requests = 4, 4
    from gradio_client import Client, handle_file

    info = machine_info()
    print(machine_line(info))
    name, weights = resolve_model(args.model)
    from lessons_lib.checkpoints import read_card

    card = read_card(weights)
    noise = bool(card.get("g_noise", False))
    print(f"model {name}: {weights} (runs at {card.get('size')} px{', noise input' if noise else ''}"
          f"{', INTERIM smoke weights' if (card.get('size') or 0) < 128 else ''})")
    plan = CASES
    if args.identical_inputs:  # every request the same: results in flight always coincide
        plan = (("chelsea", 256, 0),)
    elif args.distinct_inputs:  # one input per client: no two requests in flight share a result
        photos = ("astronaut", "coffee", "chelsea")
        plan = tuple((photos[c % 3], 256 + 32 * c, c) for c in range(args.clients))
    cases = [(photo, size, seed, square_input(photo, size)) for photo, size, seed in plan]

    server, url, pid = demo_server(args, "demo_load_server.log")
    work = Path(tempfile.mkdtemp(prefix="demo_load_"))
    result: dict[str, Any] = {"machine": info, "model": {"name": name, "weights": str(weights), "size": card.get("size"),
                                                         "noise": noise},
                              "clients": args.clients, "requests_per_client": args.requests,
                              "cases": [c[:3] for c in cases], "command": " ".join([sys.argv[0], *(argv or sys.argv[1:])])}
    try:
        # ---------------------------------------------------------- 1. the single client
        client = Client(url, verbose=False, download_files=str(work / "reference"))
        result["memory"] = {"at_start": proc_memory_mb(pid) if pid else None}
        refs: dict[int, np.ndarray] = {}
        single: list[float] = []
        for i, (photo, size, seed, path) in enumerate(cases):
            for k in range(3):  # a warm-up, then two timed
                t0 = time.perf_counter()
                r = client.predict(handle_file(str(path)), name, seed, api_name="/colorize")
                dt = time.perf_counter() - t0
                ok, why = request_ok(r)
                if not ok:
                    raise SystemExit(f"the single-client request {photo} {size} px seed {seed} failed: {why}")
                if k == 0:
                    refs[i] = colour_pixels(r)
                else:
                    single.append(dt)
                    if not np.array_equal(colour_pixels(r), refs[i]):
                        raise SystemExit(f"one client got two different results for {photo} seed {seed}: "
                                         "the server is not deterministic")
        same_photo = [(i, j) for i in range(len(cases)) for j in range(i + 1, len(cases))
                      if cases[i][:2] == cases[j][:2] and cases[i][2] != cases[j][2]]
        seeds_differ = {f"{cases[i][0]} seeds {cases[i][2]}/{cases[j][2]}": not np.array_equal(refs[i], refs[j])
                        for i, j in same_photo}
        result["single_client"] = percentiles(single)
        result["seeds_give_different_colourings"] = seeds_differ
        if pid:
            result["memory"]["idle_after_reference"] = proc_memory_mb(pid)
        print(f"single client: p50 {result['single_client']['p50']:.3f} s over {len(single)} requests; "
              f"seeds differ: {seeds_differ}")

        # ---------------------------------------------------------- 2. the load
        clients = [Client(url, verbose=False, download_files=str(work / f"client{c}")) for c in range(args.clients)]
        start = threading.Barrier(args.clients + 1)
        t_start = [time.perf_counter()]
        records: list[dict[str, Any]] = []
        lock = threading.Lock()

        def run_client(c: int) -> None:
            cl = clients[c]
            start.wait()
            for j in range(args.requests):
                i = c if args.distinct_inputs else (c + j) % len(cases)  # one case: always 0
                photo, size, seed, path = cases[i]
                rec: dict[str, Any] = {"client": c, "request": j, "case": i}
                t0 = time.perf_counter()
                rec["start"] = t0 - t_start[0]
                try:
                    r = cl.predict(handle_file(str(path)), name, seed, api_name="/colorize")
                    rec["seconds"] = time.perf_counter() - t0
                    ok, why = request_ok(r)
                    rec["ok"] = ok
                    if ok:
                        rec["same_as_single_client"] = bool(np.array_equal(colour_pixels(r), refs[i]))
                    else:
                        rec["error"] = why[:300]
                except Exception as e:  # noqa: BLE001 - counted, reported
                    rec.update(seconds=time.perf_counter() - t0, ok=False,
                               error=f"{type(e).__name__}: {e}"[:300], traceback=traceback.format_exc()[-800:])
                rec["end"] = rec["start"] + rec["seconds"]
                with lock:
                    records.append(rec)

        threads = [threading.Thread(target=run_client, args=(c,)) for c in range(args.clients)]
        for t in threads:
            t.start()
        start.wait()
        t0 = t_start[0] = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        if pid:
            result["memory"]["after_load"] = proc_memory_mb(pid)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    ok = [r for r in records if r["ok"]]
    failed = [r for r in records if not r["ok"]]
    differing = [r for r in ok if not r["same_as_single_client"]]
    for r in failed:  # requests for the same input and seed that were in flight at the same time
        r["same_case_in_flight"] = sum(1 for q in records if q is not r and q["case"] == r["case"]
                                       and q["start"] < r["end"] and r["start"] < q["end"])
    result["load"] = {
        "requests": len(records), "failed": len(failed), "differing_from_single_client": len(differing),
        "latency": percentiles([r["seconds"] for r in ok]) if ok else None,
        "wall_s": wall, "throughput_rps": len(ok) / wall,
        "failures": failed[:20], "per_request": records,
    }
    load = result["load"]
    lat = load["latency"] or {}
    print()
    print(f"{args.clients} clients x {args.requests} requests against one demo server ({name}), seconds")
    print("| requests | failed | differing from single client | p50 | p95 | max | throughput (req/s) | "
          "single client p50 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {load['requests']} | {load['failed']} | {load['differing_from_single_client']} | "
          f"{lat.get('p50', float('nan')):.3f} | {lat.get('p95', float('nan')):.3f} | {lat.get('max', float('nan')):.3f} | "
          f"{load['throughput_rps']:.2f} | {result['single_client']['p50']:.3f} |")
    mem = result.get("memory") or {}
    if any(mem.values()):
        print("server memory, MB (VmRSS / VmHWM): " + ", ".join(
            f"{k} {v['rss_mb']:.0f} / {v['peak_mb']:.0f}" for k, v in mem.items() if v))
    for r in failed[:5]:
        print(f"FAILED: client {r['client']} request {r['request']} (case {r['case']}; "
              f"{r['same_case_in_flight']} requests of the same case in flight): {r['error']}")
    write_json(result, args.out)
    return 1 if failed or differing else 0


if __name__ == "__main__":
    sys.exit(main())
