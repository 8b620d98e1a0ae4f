"""The ``lessons`` command line.

    lessons data list                      the image sources and data packs, and their sizes
    lessons data show SOURCE --out grid.png
    lessons data get course|all|PACK...    install data packs from their pinned origins
                     [--dir DIR] [--from FOLDER_OR_URL] [--jobs N]
    lessons train RECIPE [--steps N ...]   train a recipe (lessons train --list)
    lessons models [train NAME]            the shipped models; retrain and re-ship one
    lessons colorize IN OUT [--model M]    colorize a photo (default: the best shipped model)
    lessons colorize IN.mp4 OUT.mp4        colorize a clip (any FFmpeg-readable video; --temporal on|off)
    lessons restore IN OUT                 deblur a face photo with the shipped restorer
    lessons eval colorize|restore ...      measure a model on a data source
    lessons demo                           the Gradio web demo
    lessons course student OUT_DIR         write the student edition of the lessons
    lessons course grade NOTEBOOK...       run notebooks and print every exercise's verdict

Each sub-command is one ``_cmd_*`` function that imports what it needs lazily (``lessons
--help`` stays instant) and calls the same package functions the notebooks use. A
:class:`lessons_lib.LessonsError` is printed as ``error: ...`` with exit status 2, never
as a traceback; Ctrl-C exits with 130.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from . import LessonsError, __version__
# every start builds the parser, which takes the video options from here: no cost to import it
# at once (numpy; the heavy parts - PyAV, OpenCV, torch - load only when a clip is coloured)
from .video.command import add_video_options, colorize_video_command, is_video_job


# --------------------------------------------------------------------------- data
def _add_data(sub) -> None:
    p = sub.add_parser("data", help="list the image sources, show a grid of one, or install the data packs")
    dsub = p.add_subparsers(dest="data_cmd", required=True, metavar="{list,show,get}")
    pl = dsub.add_parser("list", help="print every image source and data pack, its size, and how to get it")
    pl.set_defaults(func=_cmd_data_list)
    ps = dsub.add_parser("show", help="write a grid of example images of a source")
    ps.add_argument("source", help="samples, synthetic, cifar10, ..., a folder or a .zip")
    ps.add_argument("--out", required=True, help="PNG file to write")
    ps.add_argument("--split", default="train", help="train, val or test (default train)")
    ps.add_argument("-n", type=int, default=16, help="number of images (default 16)")
    ps.add_argument("--size", type=int, default=96, help="tile size in pixels (default 96)")
    ps.add_argument("--seed", type=int, default=0)
    ps.add_argument("--download", action="store_true",
                    help="let a torchvision dataset (cifar10, places365, voc, celeba) download itself")
    ps.add_argument("--root", default=None, help="where a torchvision dataset lives (default ~/.cache/gan-lessons/NAME)")
    ps.set_defaults(func=_cmd_data_show)
    pg = dsub.add_parser(
        "get", help="install data packs from their public origins, pinned and verified",
        description="Download the data packs' files from their pinned public origins (GitHub repositories "
                    "at fixed commits; cifar10 through torchvision), verify each one, and build the packs. "
                    "An interrupted run resumes where it stopped. Offline: --from a folder of packs "
                    "(<pack>.zip, e.g. a USB stick) or a local mirror.",
    )
    pg.add_argument("names", nargs="+", metavar="NAME",
                    help="course (the packs the lessons use), all, or pack names: "
                         "scenes8 flowers5 imagenet1k celeba10k cbsd68 cifar10")
    pg.add_argument("--dir", default=None,
                    help="where to install (default: LESSONS_DATA's first folder when set, else the per-user "
                         "data folder, e.g. ~/.local/share/gan-lessons)")
    pg.add_argument("--from", dest="source", default=None, metavar="FOLDER_OR_URL",
                    help="install from a folder (<pack>.zip files, or a raw-host tree OWNER/REPO/COMMIT/PATH) "
                         "or a mirror URL instead of the public origins")
    pg.add_argument("--jobs", type=int, default=8, help="files downloaded at once (default 8)")
    pg.set_defaults(func=_cmd_data_get)


def _cmd_data_list(args) -> int:
    from .data import format_source_table, list_sources
    from .data.packs import add_pack_rows

    print(format_source_table(add_pack_rows(list_sources())))
    return 0


def _cmd_data_get(args) -> int:
    from .data import data_dirs
    from .data.packs import get_packs, pack_names

    if args.jobs < 1:
        raise LessonsError(f"--jobs is a number of downloads at once, >= 1, got {args.jobs}")
    names = pack_names(args.names)
    paths = get_packs(names, dest=args.dir, source=args.source, jobs=args.jobs)
    searched = data_dirs()
    outside = []
    for name, path in zip(names, paths):
        found = path.parent.resolve() in searched
        print(f"{name}: {path}" + ("" if found else "  (not in a data folder)"))
        if not found:
            outside.append(path.parent)
    if outside:
        folder = outside[0]
        print(f"{folder} is not searched for data packs: set LESSONS_DATA={folder} (e.g. export "
              f"LESSONS_DATA={folder}) so that the lessons and open_source() find them")
    else:
        print("data_dirs() finds them: open_source('<pack>') and the lessons use them")
    return 0


def _cmd_data_show(args) -> int:
    from .data import save_source_grid

    path = save_source_grid(
        args.source, args.out, split=args.split, n=args.n, size=args.size, seed=args.seed,
        download=args.download, root=args.root,
    )
    print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------- train
def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train a recipe (pix2pix, the seed 000 / 003 models, the toy GANs, ...)",
        description="Train a named recipe with the kit's one training engine. Options left out keep "
                    "the recipe's defaults; --set changes any other recipe or training field. "
                    "With --resume the run's recipe and options are read back from its checkpoint.",
    )
    p.add_argument("recipe", nargs="?", help="recipe name (see --list)")
    p.add_argument("--list", action="store_true", help="print the recipes, one line each, and exit")
    p.add_argument("--data", help="image source: scenes8, samples, synthetic, a folder or a .zip")
    p.add_argument("--size", type=int, help="image size in pixels")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float, help="passes over the training data")
    length.add_argument("--steps", type=int, help="training steps (one D and one G update each)")
    p.add_argument("--batch-size", type=int, dest="batch_size", help="images per batch")
    p.add_argument("--out", help="run folder (default runs/RECIPE)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start again in an --out that holds a run")
    p.add_argument("--revalidate", action="store_true",
                   help="no training: score the models the finished run in --out kept at validation again with "
                        "its recipe as it is now (--set changes it, e.g. --set class_corrections=[0,0.5,1]) and "
                        "choose among them again by the recipe's rule")
    p.add_argument("--device", help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--compile", action="store_const", const=True, default=None, help="torch.compile the nets")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any recipe or training field, e.g. --set lambda_l1=50 --set discriminator=nin_patchgan "
                        "(values are read as JSON when they parse: 3, 0.5, true, null, [1, 2])")
    p.add_argument("--nproc", type=int, help="train on N processes of this machine with DDP (one per GPU; on a CPU "
                                             "gloo): launches torchrun --nproc_per_node N; the batch size is "
                                             "the global one and must be divisible by N")
    p.set_defaults(func=_cmd_train)


def _launch_torchrun(nproc: int, argv: list[str]) -> int:
    """`lessons train ... --nproc N`: run the same command under torchrun (torch.distributed.run)
    with N processes on this machine; returns torchrun's exit status."""
    import subprocess  # local: only --nproc starts a process, and subprocess adds ~3-20 ms to every start

    if nproc < 1:
        raise LessonsError(f"--nproc is a number of processes, >= 1, got {nproc}")
    if os.environ.get("WORLD_SIZE"):
        raise LessonsError("--nproc starts torchrun itself; under torchrun leave --nproc out")
    rest, skip = [], False
    for a in argv:   # the command without --nproc
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            rest.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "lessons_lib.cli", *rest]
    print("running: " + " ".join(cmd[1:]), file=sys.stderr)
    return subprocess.call(cmd)


def _parse_value(text: str):
    """A --set value: JSON when it parses (3, 0.5, true, null, [1,2]), None/True/False, else the string."""
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def _train_overrides(args) -> dict:
    overrides: dict = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LessonsError(f"--set expects KEY=VALUE, got {item!r} (e.g. --set lambda_l1=50)")
        overrides[key.strip()] = _parse_value(value)
    for key in ("data", "size", "epochs", "steps", "batch_size", "out", "device", "seed", "lr", "compile"):
        value = getattr(args, key)
        if value is not None:
            overrides[key] = value
    if args.resume:
        overrides["resume"] = True
    if args.overwrite:
        overrides["overwrite"] = True
    return overrides


def _train_command(args, argv: list[str]) -> str:
    """The command line for the model card: the real one when run as `lessons train ...`."""
    if argv[:1] == ["train"]:
        return shlex.join(["lessons", *argv])
    parts = ["lessons", "train", args.recipe]
    for key in ("data", "size", "epochs", "steps", "batch_size", "out", "device", "seed", "lr"):
        value = getattr(args, key)
        if value is not None:
            parts += [f"--{key.replace('_', '-')}", str(value)]
    parts += ["--compile"] * bool(args.compile) + ["--resume"] * args.resume + ["--overwrite"] * args.overwrite
    for item in args.set:
        parts += ["--set", item]
    return shlex.join(parts)


def _cmd_train(args) -> int:
    from .recipes import (apply_overrides, describe_recipes, get_recipe, list_recipes, resume_recipe,
                          revalidate_run, run_recipe)
    from .train import TrainingInterrupted

    if args.list:
        rows = describe_recipes()
        width = max(len(n) for n, _ in rows)
        for name, description in rows:
            print(f"{name.ljust(width)}  {description}")
        return 0
    if not args.recipe:
        raise LessonsError("give a recipe to train (lessons train pix2pix ...), or --list to see them")
    if args.recipe not in list_recipes():
        raise LessonsError(f"unknown recipe {args.recipe!r}; choose one of: {', '.join(list_recipes())} "
                           "(lessons train --list describes them)")
    if args.nproc is not None and args.nproc != 1:
        return _launch_torchrun(args.nproc, args.argv)
    overrides = _train_overrides(args)
    recipe = get_recipe(args.recipe)
    if args.revalidate:
        if args.resume or args.overwrite:
            raise LessonsError("--revalidate scores a finished run as it is; leave out --resume and --overwrite")
        if not args.out or not (Path(args.out) / "checkpoint.pt").is_file():
            raise LessonsError(f"--revalidate scores a finished run: --out RUN, a folder holding checkpoint.pt "
                               f"and evals/ (got {args.out!r})")
        # the run's own recipe (read from its checkpoint), the options given now on top
        cards = revalidate_run(resume_recipe(recipe, {**overrides, "resume": True}))
        print(f"revalidated {len(cards)} models of {args.out}")
        return 0
    # --resume: the run's own recipe and options (read from its checkpoint), the ones given now on top
    recipe = resume_recipe(recipe, overrides) if args.resume else apply_overrides(recipe, **overrides)
    try:
        result = run_recipe(recipe, command=_train_command(args, sys.argv[1:]))
    except TrainingInterrupted:
        return 130  # the engine has said where the checkpoint is and how to resume
    if result.model_path is None:   # a rank > 0 of a torchrun run: rank 0 reports
        return 0
    print(f"trained {recipe.name} for {result.steps} steps ({result.epochs:g} epochs) in {result.wall_s:.0f} s "
          f"on {result.device}, {result.images_per_s:.1f} images/s")
    if result.val_metrics:
        print("validation: " + ", ".join(f"{k} {v:.4g}" for k, v in result.val_metrics.items()))
    print(f"model: {result.model_path}")
    print(f"run folder: {result.out} (metrics.csv, samples/, checkpoint.pt)")
    return 0


# --------------------------------------------------------------------------- colorize
def _add_colorize(sub) -> None:
    p = sub.add_parser(
        "colorize", help="colorize a photo of any size with a trained model",
        description="Colorize IN_IMAGE and write OUT_IMAGE (same size; the format follows OUT_IMAGE's "
                    "extension). The model runs at its training size; its colours are upsampled and "
                    "recombined with the photo's full-resolution lightness, so edges stay sharp.",
    )
    p.add_argument("in_image", metavar="IN_IMAGE", help="the photo (any size and mode; a colour photo is read as gray)")
    p.add_argument("out_image", metavar="OUT_IMAGE", help="where to write the result (.png, .jpg, ...)")
    p.add_argument("--model", help="a shipped model: nogan, pix2pix, seed000_full, colorgan, hints (default: nogan, "
                                   "the best shipped one, or hints when hints are given; `lessons models` lists them)")
    p.add_argument("--weights", help="your own model instead: a run folder of `lessons train` (model.safetensors + "
                                     "model.json), a .safetensors file or its .json card")
    p.add_argument("--device", default="auto", help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("--seed", type=int, default=None,
                   help="colouring of a model with a noise input (ColorGAN); default 0, ignored by others")
    p.add_argument("--chroma", type=float, default=1.0,
                   help="colour gain: 1 = the model's own colours (default), 1.3 = 30%% more saturated, 0 = gray")
    p.add_argument("--temperature", type=float, default=None, metavar="T",
                   help="a colour-class model only (lessons train classes): the annealed mean's T > 0; 1 = the "
                        "mean colour (faithful, pale), towards 0 the most likely one; default: its card's")
    p.add_argument("--correction", type=float, default=None, metavar="ALPHA",
                   help="a colour-class model only: the share of its rare-colour rebalancing undone before "
                        "decoding, 0..1; 0 = Zhang et al.'s decoding (vivid, less faithful), 1 = undone (pale, "
                        "faithful); default: its card's")
    p.add_argument("--hint", action="append", default=[], metavar="X,Y,COLOUR",
                   help="a colour hint: pixel X,Y of IN_IMAGE (from the top-left corner) should be COLOUR "
                        "(#rrggbb or a CSS name: 120,80,#c0392b or 120,80,red); repeat it for more. With "
                        "hints the shipped hint model is used unless --model / --weights names another")
    p.add_argument("--hints", metavar="FILE.json",
                   help='hints from a JSON file: [{"x": 120, "y": 80, "color": "#c0392b"}, ...] (the demo\'s '
                        '"download hints" writes one); adds to --hint')
    p.add_argument("--hint-size", type=int, default=None, dest="hint_size",
                   help="side of each hint's square in model pixels (default 3; the model sees 64 x 64)")
    add_video_options(p)  # a clip: OUT with a video extension (.mp4 .mov .mkv .webm .avi .gif); --hint X,Y,COLOUR@FRAME
    p.set_defaults(func=_cmd_colorize)


def _output_path(out: str, src: str):
    """OUT_IMAGE as a Path, checked: a known image extension, and never the input file itself."""
    from PIL import Image  # local: Pillow costs every start ~15 ms, and only colorize / restore write images

    path = Path(out).expanduser()
    ext = path.suffix.lower()
    if not ext:
        raise LessonsError(f"cannot tell the image format of {out!r}: give it an extension such as .png or .jpg")
    if ext not in Image.registered_extensions():
        raise LessonsError(f"cannot write {out!r}: unknown image format {path.suffix!r}; use .png or .jpg")
    source = Path(src).expanduser()
    same = path.resolve() == source.resolve()
    if not same and path.exists() and source.exists():
        same = path.samefile(source)
    if same:
        raise LessonsError(f"OUT_IMAGE {out!r} is the input file: refusing to overwrite it; choose another name")
    if path.is_dir():
        raise LessonsError(f"OUT_IMAGE {out!r} is a folder; give a file name such as {path / 'colour.png'}")
    return path


def _cmd_colorize(args) -> int:
    if is_video_job(args.in_image, args.out_image):
        return colorize_video_command(args)
    from .data.hints import check_hint_count, load_hints, parse_hint
    from .colorization import HINT_SIZE, Colorizer
    from .inference import save_image
    from .zoo import HINT_MODEL, resolve_model

    out = _output_path(args.out_image, args.in_image)
    # the hints' syntax is checked before any model loads; that they lie inside the photo, once it is open
    hints = [parse_hint(h) for h in args.hint] + (load_hints(args.hints) if args.hints else [])
    check_hint_count(len(hints))  # --hint and --hints together: the same cap as the pipeline's
    model = args.model or (HINT_MODEL if hints and not args.weights else None)
    colorizer = Colorizer(resolve_model("colorization", model, args.weights), device=args.device,
                          chroma=args.chroma, hint_size=HINT_SIZE if args.hint_size is None else args.hint_size,
                          temperature=args.temperature, correction=args.correction)
    colorizer.temperature_for(None)   # a T or correction for a model without a class head: refused now
    result = colorizer(args.in_image, seed=args.seed, hints=hints or None)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_image(result, out)                 # a PNG says "colorized by a model" in its tEXt
    except (OSError, ValueError, KeyError) as e:
        raise LessonsError(f"cannot write {out}: {e}") from e
    w, h = result.size
    with_hints = f" with {len(hints)} hint{'s' if len(hints) != 1 else ''}" if hints else ""
    print(f"wrote {out} ({w}x{h}) colorized by {colorizer.card.get('name') or colorizer.card.get('recipe') or colorizer.weights} "
          f"at {colorizer.size} px on {colorizer.device}{with_hints}")
    return 0


# --------------------------------------------------------------------------- eval
def _json_target(arg: str | None):
    """``--json FILE`` as a path (None without it), refused early when it names a folder."""

    if not arg:
        return None
    out = Path(arg).expanduser()
    if out.is_dir():
        raise LessonsError(f"--json {arg!r} is a folder; give a file name such as {out / 'eval.json'}")
    return out


def _write_json(out, result) -> None:
    """Write ``result`` to ``out`` (from :func:`_json_target`; None: nothing) and say so."""
    if out is None:
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    except OSError as e:
        raise LessonsError(f"cannot write {out}: {e}") from e
    print(f"wrote {out}")


#: ``lessons eval KIND``: one row per kind of model, its help texts and ``task``, which picks
#: the shipped default and checks --weights (:func:`lessons_lib.zoo.resolve_model`);
#: :func:`_eval_parts` gives its pipeline, evaluation and table (imported only when it runs).
_EVAL_KINDS: dict[str, dict[str, str]] = {
    "colorize": {
        "task": "colorization",
        "help": "colorize the gray versions of a source's images and measure them",
        "description": "Turns every image of --data [--split] into gray, colorizes it at --size (centre "
                       "crop) and prints MAE, AuC, PSNR, SSIM, colorfulness and its gap to the photos, "
                       "and the distribution metrics on the kit's feature network (FID_kit, KID_kit, "
                       "LPIPS_kit, precision, recall: not comparable with papers' FID), for the model and "
                       "for the gray input itself; --json writes them.",
        "weights": "a run folder, a .safetensors file or its .json card",
        "model": "a shipped model instead (nogan, pix2pix, seed000_full, colorgan); default: the "
                 "default shipped colorizer when --weights is not given",
        "data": "image source: scenes8, samples, synthetic, a folder or a .zip",
        "size": "evaluation size in pixels (default: the model's size)",
        "items": "images",
        "seed": "noise seed of a model with a noise input (default 0)",
    },
    "restore": {
        "task": "restoration",
        "help": "blur a source's faces with the bank's kernels, restore them and measure",
        "description": "Blurs every face of --data [--split] (centre crop at --size) with a seeded kernel of the "
                       "restorer's kernel bank (the same kernels every time) and prints PSNR, SSIM and the "
                       "perceptual distance (the kit's feature network: not LPIPS) of the blurred input, x_R "
                       "(NAFNet), x_G (inversion) and x_hat (fusion); LPIPS and FID only when their weights "
                       "are on disk. --json writes them.",
        "weights": "a restorer bundle (folder with restorer.json) or a nafnet / inversion / fusion run folder",
        "model": "a shipped restorer instead (default: restorer, when --weights is not given)",
        "data": "face source: celeba10k, samples, synthetic, a folder or a .zip",
        "size": "face size in pixels (default: the restorer's size)",
        "items": "faces",
        "seed": "seed of the kernel choice (default: the restorer's)",
    },
}


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="measure a trained model on a data source (" +
                       ", ".join(f"eval {k}" for k in _EVAL_KINDS) + ")")
    esub = p.add_subparsers(dest="eval_cmd", required=True, metavar="{" + ",".join(_EVAL_KINDS) + "}")
    for kind, t in _EVAL_KINDS.items():
        pe = esub.add_parser(kind, help=t["help"], description=t["description"])
        pe.add_argument("--weights", help=t["weights"])
        pe.add_argument("--model", help=t["model"])
        pe.add_argument("--data", required=True, help=t["data"])
        pe.add_argument("--split", default="val", help="train, val or test (default val)")
        pe.add_argument("--size", type=int, default=None, help=t["size"])
        pe.add_argument("--limit", type=int, default=None, help=f"only the first K {t['items']}")
        pe.add_argument("--batch-size", type=int, default=16, dest="batch_size",
                        help=f"{t['items']} per batch (default 16)")
        pe.add_argument("--seed", type=int, default=None, help=t["seed"])
        pe.add_argument("--json", default=None, help="write the results to this JSON file")
        pe.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, mps")
        pe.add_argument("--no-feature-metrics", action="store_false", dest="feature_metrics",
                        help="skip FID_kit, KID_kit, LPIPS_kit, precision and recall (the kit's feature network)")
        pe.set_defaults(func=_cmd_eval)


def _eval_parts(kind: str):
    """(pipeline class, evaluate function, format function) of ``lessons eval KIND``."""
    if kind == "colorize":
        from .colorization import Colorizer, evaluate_colorizer, format_evaluation

        return Colorizer, evaluate_colorizer, format_evaluation
    from .restoration import Restorer
    from .restoration.evaluation import evaluate_restorer, format_restoration

    return Restorer, evaluate_restorer, format_restoration


def _cmd_eval(args) -> int:
    from .zoo import resolve_model

    out = _json_target(args.json)
    make, evaluate, fmt = _eval_parts(args.eval_cmd)
    model = make(resolve_model(_EVAL_KINDS[args.eval_cmd]["task"], args.model, args.weights), device=args.device)
    result = evaluate(model, args.data, split=args.split, size=args.size, limit=args.limit,
                      batch_size=args.batch_size, seed=args.seed, feature_metrics=args.feature_metrics)
    print(fmt(result))
    _write_json(out, result)
    return 0


# --------------------------------------------------------------------------- restore
def _add_restore(sub) -> None:
    p = sub.add_parser(
        "restore", help="deblur a face photo with a trained restorer (seed 004)",
        description="Restore IN_IMAGE and write OUT_IMAGE (same size; the format follows the extension). The "
                    "face model works on aligned face crops at its training size (64 px for the course run): "
                    "the image is resized to it, restored, and the change is upsampled and added to the "
                    "original, so detail finer than the model's resolution is kept as it was.",
    )
    p.add_argument("in_image", metavar="IN_IMAGE", help="the blurred photo (an aligned face crop works best)")
    p.add_argument("out_image", metavar="OUT_IMAGE", help="where to write the result (.png, .jpg, ...)")
    p.add_argument("--model", help="a shipped restorer (default: restorer; `lessons models` lists them)")
    p.add_argument("--weights", help="your own restorer instead: a bundle (folder with restorer.json, written by "
                                     "`lessons train fusion` into OUT/restorer) or a nafnet / inversion / fusion run folder")
    p.add_argument("--output", choices=("x_hat", "x_G", "x_R"), default=None,
                   help="x_hat (fusion, default when present), x_G (GAN inversion) or x_R (NAFNet)")
    p.add_argument("--device", default="auto", help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    p.set_defaults(func=_cmd_restore)


def _cmd_restore(args) -> int:
    from .restoration import Restorer
    from .inference import save_image
    from .zoo import resolve_model

    out = _output_path(args.out_image, args.in_image)
    restorer = Restorer(resolve_model("restoration", args.model, args.weights), device=args.device,
                        output=args.output)
    result = restorer(args.in_image)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_image(result, out)                 # a PNG says "restored by a model" in its tEXt
    except (OSError, ValueError, KeyError) as e:
        raise LessonsError(f"cannot write {out}: {e}") from e
    w, h = result.size
    print(f"wrote {out} ({w}x{h}): {restorer.output} of the {restorer.model.stage} restorer at {restorer.size} px "
          f"on {restorer.device}")
    if args.output is None and restorer.output_reason:
        print(f"the default output is {restorer.output_reason} (--output x_R|x_G|x_hat picks another)")
    return 0


# --------------------------------------------------------------------------- models
def _add_models(sub) -> None:
    p = sub.add_parser(
        "models", help="list the shipped models with their metrics; retrain one (models train NAME)",
        description="Without a sub-command: the shipped models, their size, steps and held-out metrics. "
                    "`lessons models train NAME` retrains one with its recorded recipe (resuming "
                    "runs/shipped/NAME) and ships it into the package's weights folder.",
    )
    msub = p.add_subparsers(dest="models_cmd", metavar="{list,compare,train,ship}")
    msub.add_parser("list", help="the shipped models (the default)")
    c = msub.add_parser(
        "compare", help="score every shipped model on the same held-out images: one table",
        description="Every shipped colorizer on scenes8 val, imagenet1k val and cbsd68 (with the gray "
                    "input as a row) and the restorer on celeba10k val (with the blurred input): PSNR, "
                    "SSIM, AuC, colourfulness, and FID_kit, KID_kit, LPIPS_kit, precision and recall on "
                    "the kit's feature network. Needs the data packs (../shared/data or LESSONS_DATA); "
                    "about 2 minutes on a 2-core CPU with --limit 100.")
    c.add_argument("--size", type=int, help="colorizers' evaluation size (default: the default colorizer's)")
    c.add_argument("--limit", type=int, help="the first K photos of each held-out set (default all)")
    c.add_argument("--restore-limit", type=int, dest="restore_limit", help="the first K faces (default all 1,000)")
    c.add_argument("--no-feature-metrics", action="store_false", dest="feature_metrics",
                   help="PSNR, SSIM, AuC and colourfulness only")
    c.add_argument("--json", help="also write the table's numbers to this JSON file")
    for what in ("train", "ship"):
        q = msub.add_parser(what, help="retrain and ship a model" if what == "train"
                            else "ship a model from its finished runs (score it and write its card)")
        q.add_argument("name", help="nogan, pix2pix, seed000_full, colorgan or restorer")
        q.add_argument("--runs", help="its run folder (default runs/shipped/NAME)")
        q.add_argument("--limit", type=int, help="score at most this many held-out images per source")
        if what == "train":
            q.add_argument("--steps", type=int, help="train longer (a GPU): steps of the first stage, the "
                                                     "others scaled alike")
            q.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
            q.add_argument("--no-ship", action="store_true", dest="no_ship", help="train only")
    p.set_defaults(func=_cmd_models)


def _cmd_models(args) -> int:
    from . import zoo

    cmd = getattr(args, "models_cmd", None)
    if cmd in (None, "list"):
        print(zoo.format_models())
        return 0
    if cmd == "compare":
        out = _json_target(args.json)              # checked before the minutes of scoring
        result = zoo.compare_models(args.size, limit=args.limit, restore_limit=args.restore_limit,
                                    feature_metrics=args.feature_metrics)
        print(zoo.format_comparison(result))
        _write_json(out, result)
        return 0
    if args.name not in zoo.SPECS:
        raise LessonsError(f"unknown shipped model {args.name!r}; choose one of: {', '.join(zoo.SPECS)}")
    if cmd == "train":
        from . import retrain

        retrain.train_shipped(args.name, args.runs, steps=args.steps, device=args.device)
        if args.no_ship:
            return 0
    path = zoo.ship(args.name, args.runs, limit=args.limit)
    print(f"shipped {args.name} to {path}")
    print(zoo.format_models())
    return 0


# --------------------------------------------------------------------------- demo
def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="start the Gradio demo in the browser (colorize and restore)",
                       description="Start the web demo (demo/app.py) on localhost.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 to share on a network)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="ask Gradio for a public link (needs the internet)")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    try:
        from demo.app import main as demo_main
    except ImportError as e:
        raise LessonsError(f"cannot start the demo ({e}): install the kit with `pip install -e .` (the demo "
                           "package comes with it) and check that gradio is installed") from e
    return int(demo_main(["--host", args.host, "--port", str(args.port), "--device", args.device]
                         + ["--share"] * args.share) or 0)


# --------------------------------------------------------------------------- course
def _default_notebooks():

    return Path(__file__).resolve().parent.parent / "notebooks"


def _add_course(sub) -> None:
    p = sub.add_parser("course", help="the classroom: write the student edition, grade notebooks",
                       description="The committed notebooks are the instructor edition (solutions marked); "
                                   "see notebooks/INSTRUCTOR.md.")
    csub = p.add_subparsers(dest="course_cmd", required=True, metavar="{student,grade}")
    s = csub.add_parser("student", help="write the student edition (solutions and instructor notes removed)")
    s.add_argument("out", help="the folder to write the student notebooks to")
    s.add_argument("--source", default=None, help="the instructor's notebooks (default: this checkout's notebooks/)")
    s.add_argument("--overwrite", action="store_true", help="replace the notebooks in a non-empty OUT folder")
    s.set_defaults(func=_cmd_course_student)
    g = csub.add_parser("grade", help="run notebooks in a fresh kernel with the instructor's hidden checks and "
                                      "print each exercise's verdict")
    g.add_argument("notebooks", nargs="+", help="the notebooks to grade (they are read, never written)")
    g.add_argument("--mode", default="smoke", help="the run mode: smoke (default: seconds), class or full")
    g.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    g.add_argument("--retries", type=int, default=0,
                   help="run a notebook again in a fresh kernel when a cell times out (default 0)")
    g.add_argument("--json", default=None, help="also write the verdicts as JSON to this file")
    g.add_argument("--source", default=None,
                   help="the instructor edition whose hidden checks grade the notebooks: a folder of notebooks "
                        "(matched by name or lesson number) or one notebook (default: this checkout's notebooks/)")
    g.set_defaults(func=_cmd_course_grade)


def _cmd_course_student(args) -> int:
    from .classroom import write_student_edition

    source = args.source or _default_notebooks()
    report = write_student_edition(source, args.out, overwrite=args.overwrite)
    print(report)
    print(f"student edition in {args.out}: hand out these notebooks; the checks in lessons_lib.exercises grade them")
    return 0


def _cmd_course_grade(args) -> int:
    from .classroom.grading import format_grades, grade_notebook

    grades = [grade_notebook(nb, mode=args.mode, timeout=args.timeout, retries=args.retries, source=args.source)
              for nb in args.notebooks]
    print(format_grades(grades))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump([g.to_dict() for g in grades], fh, indent=1)
    return 0


# --------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lessons",
        description="gan-lessons: GAN colorization and restoration, from the lessons' package.",
    )
    parser.add_argument("--version", action="version", version=f"gan-lessons {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _ADDERS:
        add(sub)
    return parser


# Each feature adds its sub-commands here (keep the order of `lessons --help`).
_ADDERS = [_add_data, _add_train, _add_models, _add_colorize, _add_restore, _add_eval, _add_demo, _add_course]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except LessonsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lessons models | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
