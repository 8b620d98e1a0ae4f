"""How long each lesson takes in each run mode: every notebook executed top to bottom in a
fresh kernel, timed, on this machine.

    python benchmarks/lesson_times.py                 # every lesson in class mode (the issue's target)
    python benchmarks/lesson_times.py --modes smoke class --lessons 02 05
    python benchmarks/lesson_times.py --write         # also store the times where the lessons read them

Targets (issue 12): each lesson at most 10 minutes in class mode on a 2-core CPU, the whole
course at most 90. ``--write`` stores the measured seconds in
``lessons_lib/classroom/lesson_times.json`` (what a lesson's first output line says) and
rewrites the 2-core CPU column of the smoke and class rows of the ``mode-times`` table in
each notebook's first cell (the GPU column and the full row stay the lesson's estimates,
marked ``~``). Run it with the machine to itself: the kernels use every core
(``lesson_threads``), and another job beside them stretches the wall clock.

Prints a table and writes ``benchmarks/out/lesson_times.json``. A lesson that fails is
reported with its error and counted as a miss.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from _common import OUT_DIR, ROOT, machine_info, machine_line, write_json

from lessons_lib.classroom.modes import MODES, TIMES_FILE

NOTEBOOKS = ROOT / "notebooks"
TABLE = re.compile(r"(<!-- mode-times[^>]*-->\n)(.*?)(<!-- /mode-times -->)", re.S)
CLASS_TARGET_S, COURSE_TARGET_S = 600, 5400


def run_notebook(path: Path, mode: str, timeout: int, save_dir: Path | None = None) -> dict:
    import nbformat

    from lessons_lib.classroom.execute import notebook_client

    nb = nbformat.read(str(path), as_version=4)
    os.environ["LESSONS_MODE"] = mode
    # the kernel draws with Jupyter's inline backend, as a student's does (an Agg backend
    # would skip rendering the figures and time less than a lesson costs)
    os.environ.pop("MPLBACKEND", None)
    t0, c0 = time.perf_counter(), os.times()
    error = ""
    try:
        notebook_client(nb, timeout=timeout, cwd=str(path.parent)).execute()
    except Exception as e:  # the lesson's error is the result, not a crash of the benchmark
        error = (str(e).strip().splitlines() or [type(e).__name__])[-1][:300]
    wall = time.perf_counter() - t0
    c1 = os.times()
    if save_dir is not None:                      # the executed notebook, to look at its figures
        save_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(save_dir / f"{path.stem}.{mode}.ipynb"))
    first = ""
    for cell in nb.cells:
        outs = [o for o in cell.get("outputs", []) if o.get("name") == "stdout" or "text" in o]
        if cell.cell_type == "code" and outs:
            first = "".join(outs[0].get("text", "")).splitlines()[0] if outs[0].get("text") else ""
            break
    return {"wall_s": round(wall, 1), "children_cpu_s": round((c1.children_user + c1.children_system)
                                                             - (c0.children_user + c0.children_system), 1),
            "error": error, "first_line": first}


REFERENCE = ("the nogan_pretrain recipe's L1 phase through the engine: 64 px, batch 16, 30 steps on "
             "generated images, every core")


def reference_speed(steps: int = 30, batch: int = 16) -> float:
    """Images/s of one fixed training command (:data:`REFERENCE`), measured in this process
    before and after the lessons: the machine's speed beside the lessons' times, so that
    times taken on different days (or under load) can be compared."""
    import tempfile

    import torch

    from lessons_lib.classroom.modes import lesson_threads
    from lessons_lib.recipes import apply_overrides, build_task, get_recipe
    from lessons_lib.train import train

    torch.set_num_threads(lesson_threads("class"))
    with tempfile.TemporaryDirectory() as out:
        r = apply_overrides(get_recipe("nogan_pretrain"), data="synthetic", size=64, steps=steps, batch_size=batch,
                            sample_every=-1, eval_every=-1, log_every=steps, out=out, overwrite=True, progress=False)
        res = train(build_task(r), r.train)
    return round(steps * batch / res.wall_s, 1)


def fmt(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


def _seconds(text: str) -> float | None:
    """ "~20 s", "~1.5 min", "~3 h" -> seconds (None when it is not such a time)."""
    m = re.fullmatch(r"[~<>= ]*([0-9.]+)\s*(s|min|h)\b.*", text.strip())
    return float(m.group(1)) * {"s": 1, "min": 60, "h": 3600}[m.group(2)] if m else None


def update_table(path: Path, measured: dict[str, float]) -> dict[str, str]:
    """Rewrite the CPU column of the smoke/class rows; return the table's GPU/full estimates.

    A GPU estimate above the time measured on the CPU for the same mode is replaced by
    "at most" that time: a lesson that is not compute-bound is not slower on a GPU."""
    nb = json.loads(path.read_text())
    cell = nb["cells"][0]
    text = "".join(cell["source"])
    m = TABLE.search(text)
    estimates: dict[str, str] = {}
    if not m:
        return estimates
    rows = m.group(2).splitlines(keepends=True)
    for i, row in enumerate(rows):
        parts = row.rstrip("\n").split("|")
        if len(parts) < 6:
            continue
        mode = parts[1].strip().strip("`")
        if mode not in MODES:
            continue
        if mode in measured:
            parts[3] = f" {fmt(measured[mode])} (measured) "
            gpu = _seconds(parts[4])
            if gpu is not None and gpu > measured[mode]:
                parts[4] = f" at most {fmt(measured[mode])} (estimate) "
        estimates[f"{mode}_gpu"] = parts[4].strip()
        if mode == "full":
            estimates["full_cpu"] = parts[3].strip()
        rows[i] = "|".join(parts) + "\n"
    text = text[: m.start(2)] + "".join(rows) + text[m.end(2):]
    cell["source"] = text.splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return estimates


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", nargs="+", default=["class"], choices=MODES)
    ap.add_argument("--lessons", nargs="+", default=None, help="lesson numbers (default: every notebook)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    ap.add_argument("--write", action="store_true", help="store the times in lesson_times.json and the notebooks")
    ap.add_argument("--quick", action="store_true", help="smoke mode of lesson 00 only (checks the script)")
    ap.add_argument("--no-packs", action="store_true",
                    help="run as a fresh clone does: LESSONS_DATA an empty folder (--write stores class_nopacks_s)")
    ap.add_argument("--out", default=str(OUT_DIR / "lesson_times.json"))
    ap.add_argument("--save-dir", default=None, help="also write each executed notebook (with its outputs) here")
    ap.add_argument("--rewrite-from", default=None, metavar="OUT.json",
                    help="run nothing: store the times of an earlier run's JSON (as --write does)")
    args = ap.parse_args(argv)
    if args.quick:
        args.modes, args.lessons = ["smoke"], ["00"]
    if args.rewrite_from:
        earlier = json.loads(Path(args.rewrite_from).read_text())
        store(earlier["lessons"], [m for m in MODES if any(m in r for r in earlier["lessons"].values())],
              earlier["machine"])
        return 0
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.lessons:
        paths = [p for p in paths if p.name[:2] in args.lessons]
    if args.no_packs:
        import tempfile

        os.environ["LESSONS_DATA"] = tempfile.mkdtemp(prefix="lessons-no-packs-")
    info = machine_info()
    print(machine_line(info))
    if not args.quick:
        info["reference"] = REFERENCE
        info["reference_images_per_s_before"] = reference_speed()
        print(f"reference speed before: {info['reference_images_per_s_before']} images/s ({REFERENCE})")
    info["lessons_data"] = os.environ.get("LESSONS_DATA", "(unset: ../shared/data and the per-user folder)")
    results: dict[str, dict] = {}
    for path in paths:
        for mode in args.modes:
            r = run_notebook(path, mode, args.timeout, Path(args.save_dir) if args.save_dir else None)
            results.setdefault(path.name[:2], {"notebook": path.name})[mode] = r
            status = f"ERROR {r['error']}" if r["error"] else "ok"
            print(f"  {path.name:<42} {mode:<6} {fmt(r['wall_s']):>9}  {status}", flush=True)
    info["load_avg_1min_at_end"] = round(os.getloadavg()[0], 2)
    if not args.quick:
        info["reference_images_per_s_after"] = reference_speed()
        print(f"reference speed after: {info['reference_images_per_s_after']} images/s")

    print(f"\n| lesson | {' | '.join(m + ' (wall)' for m in args.modes)} | within target |")
    print(f"|---|{'---|' * len(args.modes)}---|")
    total = {m: 0.0 for m in args.modes}
    misses = []
    for lesson, r in results.items():
        cells = []
        for m in args.modes:
            total[m] += r[m]["wall_s"]
            cells.append(fmt(r[m]["wall_s"]) + (" (error)" if r[m]["error"] else ""))
        ok = "class" not in r or (r["class"]["wall_s"] <= CLASS_TARGET_S and not r["class"]["error"])
        if not ok:
            misses.append(lesson)
        print(f"| {r['notebook']} | {' | '.join(cells)} | {'yes' if ok else 'NO'} |")
    print(f"| all | {' | '.join(fmt(total[m]) for m in args.modes)} | "
          f"{'yes' if total.get('class', 0) <= COURSE_TARGET_S else 'NO'} |")
    if misses:
        print(f"misses: {', '.join(misses)} over {CLASS_TARGET_S / 60:.0f} min in class mode or failed")
    write_json({"machine": info, "lessons": results, "total_s": total}, args.out)

    if args.write:
        store(results, args.modes, info, suffix="_nopacks" if args.no_packs else "")
    return 1 if misses else 0


def store(results: dict[str, dict], modes: list[str], info: dict, suffix: str = "") -> None:
    """The measured seconds into lesson_times.json and the notebooks' mode-times tables.

    ``suffix="_nopacks"`` (a run without the data packs): stored as ``class_nopacks_s``, which
    a lesson's headline gives when its packs are missing; the notebooks' tables keep the
    times with the packs."""
    if suffix:
        stored = json.loads(TIMES_FILE.read_text())
        for lesson, r in results.items():
            stored["lessons"].setdefault(lesson, {}).update(
                {f"{m}{suffix}_s": r[m]["wall_s"] for m in modes if m in r and not r[m]["error"]})
        stored[f"machine{suffix}"] = machine_line(info)
        TIMES_FILE.write_text(json.dumps(stored, indent=1) + "\n")
        print(f"wrote the times without packs into {TIMES_FILE}")
        return
    stored = json.loads(TIMES_FILE.read_text()) if TIMES_FILE.is_file() else {"lessons": {}}
    line = machine_line(info)
    if len(results) == len(list(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))) or "machine" not in stored:
        stored["machine"] = line                  # the whole course measured in this run
    for lesson, r in results.items():
        measured = {m: r[m]["wall_s"] for m in modes if m in r and not r[m]["error"]}
        entry = stored["lessons"].setdefault(lesson, {})
        if line != stored["machine"]:
            entry["measured_on"] = line           # a lesson measured later, on its own
        else:
            entry.pop("measured_on", None)
        entry.update({f"{m}_s": s for m, s in measured.items()})
        entry.update(update_table(NOTEBOOKS / r["notebook"], measured))
    TIMES_FILE.write_text(json.dumps(stored, indent=1) + "\n")
    print(f"wrote {TIMES_FILE} and the mode-times tables of {len(results)} notebook(s)")


if __name__ == "__main__":
    sys.exit(main())
