"""Issue 6: latency of one colorization, in-process and through the demo server, and the
server's memory.

    PYTHONPATH=. python benchmarks/bench_demo_latency.py                 # default colorizer, 20 runs
    PYTHONPATH=. python benchmarks/bench_demo_latency.py --model pix2pix --runs 40
    PYTHONPATH=. python benchmarks/bench_demo_latency.py --quick          # a check that it works
    PYTHONPATH=. python benchmarks/bench_demo_latency.py --before b2b07ce # + the pipeline of that commit

Inputs: square centre crops of a bundled photo (``--photo``, default ``astronaut``) resized to
256, 512 and 1024 px (bicubic) and saved as PNG under ``benchmarks/out/demo_inputs/``.

(a) **In-process**: ``Colorizer(model)(image, seed=0)`` on the decoded image, p50 / p95 over
``--runs`` runs after ``--warmup`` warm-ups, in a worker thread as the server's handlers run
(on a busy machine torch's OpenMP threads, spinning in the *main* thread's ops, made every op
of ~200 k elements 100x slower: 8 ms instead of 0.05 ms); the median of each stage on its own (decode the
PNG, resize to the model's size, Lab + the network at S x S, the full-size recombination,
PNG encoding of the result as the demo's output does); and the demo's own request function
``demo.app.colorize_photo`` (decode, colorize, the gray twin the before/after slider shows,
the metrics against a colour original), when ``demo/app.py`` imports.

(b) **Through the server**: ``gradio_client.Client(url).predict(handle_file(png), model,
seed, api_name="/colorize")`` against ``python -m demo`` started here on a free localhost port
(or ``--url`` for a running one; ``--server-pid`` then gives its memory), p50 / p95 the
same way. The server's resident memory (``/proc/PID/status``: VmRSS, and VmHWM, the peak)
when idle after the model is loaded, after the 1024 px runs, and after one 12000 x 9000 PNG
request (``--no-huge`` skips it; the demo shrinks such a photo to 2048 px while decoding).

``--before REV`` also times the pipeline of git revision ``REV`` (``lessons_lib/pipeline.py``
as it was there, loaded beside the current one) against the current one, alternating runs,
on the model's output and on a worst case where every pixel's chroma is out of gamut.

Prints tables and writes ``benchmarks/out/demo_latency.json``. Timings are wall clock; on a
machine shared with other jobs compare ratios from one run.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from _common import OUT_DIR, ROOT, machine_info, machine_line, write_json

SIZES = (256, 512, 1024)
HUGE = (12000, 9000)
INPUT_DIR = OUT_DIR / "demo_inputs"
_FAILED = "**Could not do that"  # how demo/app.py's status starts when a request failed


# =========================================================================== shared with bench_demo_load.py
def percentiles(times: list[float]) -> dict[str, float]:
    """p50, p95, mean, min and max of a list of seconds (linear interpolation, numpy's default)."""
    a = np.asarray(times, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "mean": float(a.mean()),
            "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}


def sample_photo(name: str) -> Image.Image:
    """The bundled photo ``name`` (``lessons_lib.data.sample_photos``) as RGB."""
    from lessons_lib import LessonsError
    from lessons_lib.data import sample_photos

    try:
        return sample_photos([name])[0].convert("RGB")
    except LessonsError as e:
        raise SystemExit(str(e)) from None


def square_input(photo: str, size: int) -> Path:
    """A centre square crop of ``photo`` resized to ``size`` px, saved once as PNG; its path."""
    path = INPUT_DIR / f"{photo}_{size}.png"
    if not path.is_file():
        img = sample_photo(photo)
        s = min(img.size)
        left, top = (img.width - s) // 2, (img.height - s) // 2
        img = img.crop((left, top, left + s, top + s)).resize((size, size), Image.Resampling.BICUBIC)
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
    return path


def resolve_model(name: str | None) -> tuple[str, Path]:
    """(name, weights) of the shipped colorizer ``name`` (None: the default one)."""
    from lessons_lib import zoo

    name = name or zoo.default_model("colorization")
    return name, zoo.resolve_model("colorization", name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoServer:
    """``python -m demo`` in a subprocess on a free localhost port (its log in ``log_path``)."""

    def __init__(self, log_path: Path, device: str = "cpu", threads: int | None = None,
                 timeout_s: float = 300.0) -> None:
        if not (ROOT / "demo" / "app.py").is_file():
            raise SystemExit("demo/app.py does not exist yet: start a server yourself and pass --url, "
                             "or run with --no-server")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "demo", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--device", device], cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        t0 = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"the demo server exited with code {self.proc.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(self.url, timeout=5):
                    break
            except OSError:
                if time.perf_counter() - t0 > timeout_s:
                    self.stop()
                    raise SystemExit(f"the demo server did not answer within {timeout_s:.0f} s; see {log_path}")
                time.sleep(0.5)
        self.startup_s = time.perf_counter() - t0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def demo_server(args, log_name: str) -> tuple["DemoServer | None", str, int | None]:
    """``(server, url, pid)``: the server at ``--url`` (pid ``--server-pid``), or a new
    ``DemoServer`` logging to ``OUT_DIR/log_name`` with ``--server-threads`` (stop it after)."""
    if args.url:
        return None, args.url, args.server_pid
    server = DemoServer(OUT_DIR / log_name, threads=args.server_threads)
    return server, server.url, server.pid


def proc_memory_mb(pid: int | None = None) -> dict[str, float] | None:
    """VmRSS (now) and VmHWM (the peak so far) of a process, MB, from /proc (Linux)."""
    path = f"/proc/{pid if pid is not None else 'self'}/status"
    try:
        with open(path) as f:
            fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    except OSError:
        return None
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "peak_mb": int(fields["VmHWM"].split()[0]) / 1024}


def colour_output(result: Any) -> tuple[str | None, str]:
    """The colour image's file and the status from a ``/colorize`` result ((gray, colour), status)."""
    images, status = result if isinstance(result, (list, tuple)) and len(result) == 2 else (None, str(result))
    path = None
    if isinstance(images, (list, tuple)) and len(images) == 2:
        path = images[1]
        if isinstance(path, dict):
            path = path.get("path") or path.get("image")
    return (str(path) if path else None), str(status)


def request_ok(result: Any) -> tuple[bool, str]:
    """(True, "") for a colorized image; (False, why) for an empty output or a failure status."""
    path, status = colour_output(result)
    if status.startswith(_FAILED):
        return False, status
    if not path or not Path(path).is_file():
        return False, f"no output image ({status[:200]})"
    return True, ""


# =========================================================================== (a) in-process
def time_calls(fn: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def stage_times(colorizer, path: Path, runs: int) -> dict[str, float]:
    """Median seconds of each stage of one colorization, timed on its own."""
    from lessons_lib.color import AB_SCALE, normalize_lab, rgb_uint8_to_lab
    from lessons_lib.data import image_to_tensor, load_image
    from lessons_lib.pipeline import recombine

    s = colorizer.size
    img = load_image(path)
    state: dict[str, Any] = {}

    def resize():
        state["small"] = img.resize((s, s), Image.Resampling.BICUBIC, reducing_gap=3.0)

    def model():
        L_small, _ = normalize_lab(rgb_uint8_to_lab(image_to_tensor(state["small"])[None]))
        state["ab"] = colorizer._run_generator(L_small, 0)[0] * AB_SCALE

    def recomb():
        state["out"] = recombine(img, state["ab"], band_pixels=colorizer.band_pixels)

    def encode():
        state["out"].save(io.BytesIO(), format="PNG")

    stages = {"decode": lambda: load_image(path), "resize": resize, "model": model, "recombine": recomb,
              "png_encode": encode}
    n = max(3, runs // 4)
    return {k: float(np.median(time_calls(f, n, 1))) for k, f in stages.items()}


def in_process(colorizer, model_name: str, paths: dict[int, Path], runs: int, warmup: int) -> dict[str, Any]:
    from lessons_lib.data import load_image

    demo_fn = None
    try:
        from demo.app import DemoModels, colorize_photo

        models = DemoModels(device="cpu")

        def demo_fn(path: Path) -> None:
            (_, out), status = colorize_photo(models, str(path), model_name, 0)
            assert out is not None, status
    except Exception as e:  # noqa: BLE001 - the demo is optional here
        print(f"(demo.app not usable in-process: {type(e).__name__}: {e})")
    rows = {}
    for size, path in paths.items():
        img = load_image(path)
        row: dict[str, Any] = {"pipeline": percentiles(time_calls(lambda: colorizer(img, seed=0), runs, warmup))}
        row["stages"] = stage_times(colorizer, path, runs)
        if demo_fn is not None:
            row["demo_request"] = percentiles(time_calls(lambda: demo_fn(path), max(3, runs // 2), 1))
        rows[size] = row
        p = row["pipeline"]
        print(f"  in-process {size} px: p50 {p['p50']:.3f} s, p95 {p['p95']:.3f} s", flush=True)
    return rows


# =========================================================================== --before REV
def load_pipeline_at(rev: str):
    """``lessons_lib/pipeline.py`` of git revision ``rev`` as a module beside the current one."""
    try:
        src = subprocess.run(["git", "show", f"{rev}:lessons_lib/pipeline.py"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"cannot read lessons_lib/pipeline.py at {rev!r}: {getattr(e, 'stderr', e)}") from None
    import lessons_lib  # noqa: F401 - the package its relative imports resolve in

    tmp = Path(tempfile.mkdtemp()) / "pipeline_before.py"
    tmp.write_text(src)
    name = "lessons_lib._pipeline_before"
    spec = importlib.util.spec_from_file_location(name, tmp)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    shutil.rmtree(tmp.parent, ignore_errors=True)
    return mod


def compare_before(rev: str, weights: Path, paths: dict[int, Path], runs: int) -> dict[str, Any]:
    """Current pipeline against the one of ``rev``: p50 of alternating runs, per size, on the
    model's output and with every pixel's chroma out of gamut (the network's output replaced
    by a saturated random map)."""
    from lessons_lib.data import load_image
    from lessons_lib.pipeline import Colorizer

    before = load_pipeline_at(rev)
    pipes = {"after": Colorizer(weights, device="cpu").load(), "before": before.Colorizer(weights, device="cpu").load()}
    s = pipes["after"].size
    sat = torch.tanh(torch.randn(1, 2, s, s, generator=torch.Generator().manual_seed(0)) * 3)  # |ab| near 110
    out: dict[str, Any] = {"rev": rev}
    for case in ("model", "out_of_gamut"):
        for p in pipes.values():
            p.__dict__.pop("_run_generator", None)
            if case == "out_of_gamut":
                p._run_generator = lambda L, seed, _sat=sat: _sat
        for size, path in paths.items():
            img = load_image(path)
            times: dict[str, list[float]] = {"after": [], "before": []}
            n = max(3, runs // 2 if size < 1024 else runs // 4)
            for name, p in pipes.items():
                p(img)  # warm-up
            for _ in range(n):
                for name, p in pipes.items():
                    t0 = time.perf_counter()
                    p(img, seed=0)
                    times[name].append(time.perf_counter() - t0)
            a, b = float(np.median(times["after"])), float(np.median(times["before"]))
            same = np.asarray(pipes["after"](img)).astype(int) - np.asarray(pipes["before"](img)).astype(int)
            out[f"{case}_{size}"] = {"after_p50": a, "before_p50": b, "speedup": b / a, "n": n,
                                     "max_abs_diff": int(np.abs(same).max()),
                                     "share_pixels_differing": float((np.abs(same).max(axis=-1) > 0).mean())}
            print(f"  before/after {case} {size} px: {b:.3f} s -> {a:.3f} s ({b / a:.1f}x)", flush=True)
    return out


# =========================================================================== (b) server
def huge_input(fmt: str) -> Path:
    """A 12000 x 9000 photo (the sample upscaled: smooth, so the PNG stays ~100 MB), saved once."""
    path = INPUT_DIR / f"huge_{HUGE[0]}x{HUGE[1]}.{fmt}"
    if not path.is_file():
        print(f"  writing {path} (once)...", flush=True)
        img = sample_photo("astronaut").resize(HUGE, Image.Resampling.BILINEAR)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "png":
            img.save(path, compress_level=1)
        else:
            img.save(path, quality=90)
        del img
    return path


def http_phases(url: str, path: Path, model_name: str, runs: int) -> dict[str, float]:
    """Median seconds of the three legs of one request, by Gradio's plain HTTP API (what
    gradio_client does underneath): upload the PNG (``/gradio_api/upload``); queue, run and
    post-process (``POST /gradio_api/call/colorize`` until its stream says ``complete``: the
    handler plus Gradio's PNG encoding of the two output images); download both images."""
    import json

    import httpx

    legs: dict[str, list[float]] = {"upload": [], "queue_run_encode": [], "download": []}
    with httpx.Client(base_url=url, timeout=600) as http:
        for i in range(runs + 1):
            t0 = time.perf_counter()
            r = http.post("gradio_api/upload", files={"files": (path.name, path.read_bytes(), "image/png")})
            r.raise_for_status()
            t1 = time.perf_counter()
            r = http.post("gradio_api/call/colorize",
                          json={"data": [{"path": r.json()[0], "meta": {"_type": "gradio.FileData"}}, model_name, 0]})
            r.raise_for_status()
            lines = http.get(f"gradio_api/call/colorize/{r.json()['event_id']}").text.splitlines()
            t2 = time.perf_counter()
            if not lines or lines[0] != "event: complete":
                raise RuntimeError(f"the request failed: {' '.join(lines)[:300]}")
            images = json.loads(lines[1].removeprefix("data:"))[0]
            for im in images:
                http.get(im["url"]).raise_for_status()
            t3 = time.perf_counter()
            if i:  # the first is a warm-up
                for k, v in zip(legs, (t1 - t0, t2 - t1, t3 - t2)):
                    legs[k].append(v)
    return {k: float(np.median(v)) for k, v in legs.items()}


def through_server(url: str, pid: int | None, model_name: str, paths: dict[int, Path], runs: int, warmup: int,
                   huge: str | None, download_dir: Path) -> dict[str, Any]:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, download_files=str(download_dir))
    memory: dict[str, Any] = {"at_start": proc_memory_mb(pid) if pid else None}
    rows: dict[int, Any] = {}
    failures: list[str] = []

    def call(path: Path) -> None:
        ok, why = request_ok(client.predict(handle_file(str(path)), model_name, 0, api_name="/colorize"))
        if not ok:
            failures.append(why)

    for i, (size, path) in enumerate(paths.items()):
        for _ in range(warmup):
            call(path)
        if i == 0 and pid:
            time.sleep(1.0)
            memory["idle_after_load"] = proc_memory_mb(pid)
        rows[size] = percentiles(time_calls(lambda: call(path), runs, 0))
        rows[size]["http_legs"] = http_phases(url, path, model_name, max(3, runs // 4))
        print(f"  server {size} px: p50 {rows[size]['p50']:.3f} s, p95 {rows[size]['p95']:.3f} s", flush=True)
    if pid:
        memory[f"after_{max(paths)}px"] = proc_memory_mb(pid)
    if huge:
        path = huge_input(huge)
        t0 = time.perf_counter()
        result = client.predict(handle_file(str(path)), model_name, 0, api_name="/colorize")
        dt = time.perf_counter() - t0
        ok, why = request_ok(result)
        memory["huge_request"] = {"file": path.name, "file_mb": path.stat().st_size / 2**20, "seconds": dt,
                                  "ok": ok, "status": colour_output(result)[1][:300]}
        if not ok:
            failures.append(why)
        if pid:
            memory["after_huge"] = proc_memory_mb(pid)
        print(f"  server {HUGE[0]}x{HUGE[1]} {huge}: {dt:.1f} s, ok={ok}", flush=True)
    return {"latency": rows, "memory": memory, "failures": failures}


# =========================================================================== main
def fmt_s(d: dict[str, float] | None, key: str = "p50") -> str:
    return f"{d[key]:.3f}" if d else "-"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="shipped colorizer (default: the default one; `lessons models`)")
    p.add_argument("--photo", default="astronaut", help="bundled photo the inputs are cut from")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--runs", type=int, default=20, help="timed runs per size (after --warmup)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads in this process (default torch's)")
    p.add_argument("--server-threads", type=int, default=None, help="OMP_NUM_THREADS of the server started here")
    p.add_argument("--url", default=None, help="a running demo server instead of starting one")
    p.add_argument("--server-pid", type=int, default=None, help="with --url: the server's pid, for its memory")
    p.add_argument("--no-server", action="store_true", help="only (a), in-process")
    p.add_argument("--no-huge", action="store_true", help="skip the 12000 x 9000 request")
    p.add_argument("--huge-format", choices=("png", "jpeg"), default="png")
    p.add_argument("--before", default=None, metavar="REV", help="also time the pipeline of git revision REV")
    p.add_argument("--quick", action="store_true", help="3 runs, 256 and 512 px, no 12000 x 9000 request")
    p.add_argument("--out", default=str(OUT_DIR / "demo_latency.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.warmup, args.sizes, args.no_huge = 3, 1, [256, 512], True
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info()
    print(machine_line(info))

    from lessons_lib.pipeline import Colorizer

    name, weights = resolve_model(args.model)
    colorizer = Colorizer(weights, device="cpu").load()
    card = colorizer.card
    model_info = {"name": name, "weights": str(weights), "size": colorizer.size, "noise": colorizer.has_noise,
                  "g_base": (card.get("config") or {}).get("base"),
                  "interim": colorizer.size < 128}
    print(f"model {name}: {weights} (runs at {colorizer.size} px{', INTERIM smoke weights' if model_info['interim'] else ''})")
    paths = {s: square_input(args.photo, s) for s in sorted(args.sizes)}
    result: dict[str, Any] = {"machine": info, "model": model_info, "photo": args.photo, "runs": args.runs,
                              "warmup": args.warmup, "command": " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}
    print(f"(a) in-process ({torch.get_num_threads()} torch threads)")
    mem0 = proc_memory_mb()
    with ThreadPoolExecutor(max_workers=1) as worker:  # as a server handler runs (module docstring)
        result["in_process"] = worker.submit(in_process, colorizer, name, paths, args.runs, args.warmup).result()
        result["in_process_memory"] = {"before": mem0, "after": proc_memory_mb()}
        if args.before:
            print(f"pipeline of {args.before} against the current one")
            result["before_after"] = worker.submit(compare_before, args.before, weights, paths, args.runs).result()
    if not args.no_server:
        print("(b) through the demo server")
        server, url, pid = demo_server(args, "demo_latency_server.log")
        if server is not None:
            result["server_startup_s"] = server.startup_s
        dl = Path(tempfile.mkdtemp(prefix="demo_latency_"))
        try:
            result["server"] = through_server(url, pid, name, paths, args.runs, args.warmup,
                                              None if args.no_huge else args.huge_format, dl)
        finally:
            if server is not None:
                server.stop()
            shutil.rmtree(dl, ignore_errors=True)

    # ------------------------------------------------------------------ tables
    print()
    print(f"Latency of one colorization ({name}, {colorizer.size} px model, seed 0), seconds, "
          f"{args.runs} runs after {args.warmup} warm-ups")
    print("| size | pipeline p50 | pipeline p95 | demo request p50 | server p50 | server p95 |")
    print("|---|---:|---:|---:|---:|---:|")
    srv = (result.get("server") or {}).get("latency", {})
    for s, row in result["in_process"].items():
        print(f"| {s} px | {fmt_s(row['pipeline'])} | {fmt_s(row['pipeline'], 'p95')} | "
              f"{fmt_s(row.get('demo_request'))} | {fmt_s(srv.get(s))} | {fmt_s(srv.get(s), 'p95')} |")
    print()
    print("Stages, median seconds (each timed on its own)")
    print("| size | decode PNG | resize to S | Lab + model | recombine | PNG encode |")
    print("|---|---:|---:|---:|---:|---:|")
    for s, row in result["in_process"].items():
        st = row["stages"]
        print(f"| {s} px | {st['decode']:.4f} | {st['resize']:.4f} | {st['model']:.4f} | {st['recombine']:.4f} | "
              f"{st['png_encode']:.4f} |")
    if srv:
        print()
        print("Through the server: the legs of one request (plain HTTP, median seconds), and what the "
              "demo's handler and the two PNG encodings take in-process")
        print("| size | upload | queue + run + encode | download 2 PNGs | demo request (in-process) | 2 x PNG encode |")
        print("|---|---:|---:|---:|---:|---:|")
        for s, row in srv.items():
            legs, ip = row["http_legs"], result["in_process"].get(s, {})
            enc = ip.get("stages", {}).get("png_encode")
            print(f"| {s} px | {legs['upload']:.3f} | {legs['queue_run_encode']:.3f} | {legs['download']:.3f} | "
                  f"{fmt_s(ip.get('demo_request'))} | {2 * enc:.3f} |" if enc is not None else "")
    if "before_after" in result:
        print()
        print(f"Pipeline before ({args.before}) and after, p50 seconds of alternating runs")
        print("| case | size | before | after | speed-up | max diff (8-bit levels) | pixels differing |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for key, v in result["before_after"].items():
            if key == "rev":
                continue
            case, size = key.rsplit("_", 1)
            print(f"| {case.replace('_', ' ')} | {size} px | {v['before_p50']:.3f} | {v['after_p50']:.3f} | "
                  f"{v['speedup']:.1f}x | {v['max_abs_diff']} | {v['share_pixels_differing']:.1e} |")
    mem = (result.get("server") or {}).get("memory")
    if mem and any(v for k, v in mem.items() if k != "huge_request"):
        print()
        print("Server memory, MB (VmRSS now / VmHWM peak so far)")
        for k, v in mem.items():
            if k == "huge_request":
                print(f"  12000x9000 request: {v['seconds']:.1f} s, {v['file_mb']:.0f} MB file, ok={v['ok']}")
            elif v:
                print(f"  {k}: {v['rss_mb']:.0f} / {v['peak_mb']:.0f}")
    fails = (result.get("server") or {}).get("failures") or []
    if fails:
        print(f"FAILED server requests: {len(fails)}; first: {fails[0]}")
    write_json(result, args.out)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
