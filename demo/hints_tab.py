"""The demo's Colour hints tab: you say where a colour goes; the network spreads it.

The shipped hint model (Zhang, Zhu et al. 2017; ``lessons_lib.zoo.HINT_MODEL``): a click on
the photo places a hint, by default in the colour the model already paints there (Zhang et
al.'s interface suggests colours the same way), which the colour picker then changes; hints
can be selected, moved (edit x, y in the table), removed, undone and reset, and every change
recolours the photo (:func:`colorize_with_hints`). The hints live in the visitor's
``gr.State`` (:func:`new_hint_state` and the ``hint_*`` functions, each returning a new
state); a refused change leaves them as they were.

``build_hints_tab(models)`` is called by :func:`demo.app.build_app` inside its ``gr.Blocks``;
the endpoint is ``/colorize_hints`` (image, a list of ``{"x", "y", "color"}``).
"""
from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any, Callable

import gradio as gr
from PIL import Image

from lessons_lib import LessonsError
from lessons_lib.data.hints import check_hint_count, check_hints, parse_colour
from lessons_lib.inference import provenance_of
from lessons_lib.playground import draw_hints

from .common import (COLOUR_EXAMPLES, MAX_SIDE, DemoModels, attempt, guard, hex_colour, load_upload, new_hint,
                     photo_input)

__all__ = ["HINT_FROM_MODEL", "HINT_FROM_PICKER", "HINT_COLOUR_MODES", "HINT_HISTORY", "new_hint_state", "hint_add",
           "hint_recolour", "hint_move", "hint_remove", "hint_undo", "hint_reset", "hints_from_table",
           "colorize_with_hints", "predicted_colour", "build_hints_tab"]

#: How a click picks the new hint's colour (the ``/colorize_hints`` API takes colours as data).
HINT_FROM_MODEL = "the model's colour there (then change it with the picker)"
HINT_FROM_PICKER = "the picker's colour"
HINT_COLOUR_MODES = (HINT_FROM_MODEL, HINT_FROM_PICKER)
#: Undo remembers this many steps.
HINT_HISTORY = 50


# =========================================================================== the hints' state
def new_hint_state() -> dict[str, Any]:
    """The hints of one visitor's page: the hints, the undo stack, the selected hint and the
    last colorization (whose colour a click suggests). Held in a ``gr.State``."""
    return {"hints": [], "history": [], "selected": None, "result": None}


def _push(state: dict[str, Any], hints: list[dict[str, Any]], selected: int | None) -> dict[str, Any]:
    """A new state with ``hints`` (the current ones go on the undo stack)."""
    history = (state["history"] + [(state["hints"], state["selected"])])[-HINT_HISTORY:]
    return {**state, "hints": hints, "history": history, "selected": selected}


def hint_add(state: dict[str, Any], x: float, y: float, colour: Any) -> dict[str, Any]:
    """Place a hint at pixel (x, y) of the working image; it becomes the selected one."""
    hints = state["hints"] + [new_hint(x, y, colour)]
    return _push(state, hints, len(hints) - 1)


def _index(state: dict[str, Any], i: Any) -> int:
    try:
        k = int(i)
    except (TypeError, ValueError):
        raise LessonsError("select a hint first (click on the photo to place one)") from None
    if not 0 <= k < len(state["hints"]):
        raise LessonsError(f"there is no hint {k + 1}: the photo has {len(state['hints'])}")
    return k


def hint_recolour(state: dict[str, Any], i: Any, colour: Any) -> dict[str, Any]:
    """Give hint ``i`` another colour."""
    k = _index(state, i)
    hints = [dict(h) for h in state["hints"]]
    hints[k]["color"] = hex_colour(parse_colour(colour))
    return _push(state, hints, k)


def hint_move(state: dict[str, Any], i: Any, x: float, y: float) -> dict[str, Any]:
    """Move hint ``i`` to pixel (x, y)."""
    k = _index(state, i)
    hints = [dict(h) for h in state["hints"]]
    hints[k].update(x=round(float(x)), y=round(float(y)))
    return _push(state, hints, k)


def hint_remove(state: dict[str, Any], i: Any) -> dict[str, Any]:
    """Remove hint ``i``."""
    k = _index(state, i)
    hints = state["hints"][:k] + state["hints"][k + 1:]
    return _push(state, hints, min(k, len(hints) - 1) if hints else None)


def hint_undo(state: dict[str, Any]) -> dict[str, Any]:
    """The hints as they were before the last change (nothing to undo: unchanged)."""
    if not state["history"]:
        raise LessonsError("nothing to undo")
    hints, selected = state["history"][-1]
    return {**state, "hints": hints, "selected": selected, "history": state["history"][:-1]}


def hint_reset(state: dict[str, Any]) -> dict[str, Any]:
    """No hints (undo brings them back)."""
    return _push(state, [], None)


def hints_from_table(state: dict[str, Any], rows: Any) -> dict[str, Any]:
    """The hints as edited in the table (columns x, y, colour): moved, recoloured, deleted."""
    if hasattr(rows, "values") and hasattr(rows, "columns"):      # a pandas DataFrame
        rows = rows.values.tolist()
    rows = [r for r in (rows or []) if any(str(v).strip() for v in r)]
    parsed = check_hints([tuple(r[:3]) for r in rows], source="table row")
    hints = [h.to_dict() | {"x": round(h.x), "y": round(h.y)} for h in parsed]
    sel = state["selected"] if state["selected"] is not None and state["selected"] < len(hints) else None
    return _push(state, hints, sel)


# =========================================================================== colorize with hints
def colorize_with_hints(models: DemoModels, image: Any, hints: Any = None, selected: int | None = None
                        ) -> tuple[Image.Image, Image.Image, str]:
    """The hint model on one photo: ``(colorized, colorized with the hints drawn, status)``.

    ``hints``: a list of ``{"x", "y", "color"}`` (pixels of the working image, colour
    ``#rrggbb`` or a CSS name), ``"X,Y,COLOUR"`` strings, or a JSON string of such a list;
    none: the hint model colorizes alone. At most
    :data:`lessons_lib.data.hints.MAX_HINTS` (500): a longer list is refused at once."""
    if isinstance(hints, str):
        try:
            hints = json.loads(hints) if hints.strip() else []
        except json.JSONDecodeError as e:
            raise LessonsError(f"the hints are not valid JSON ({e.msg}); send a list like "
                               '[{"x": 120, "y": 80, "color": "#c0392b"}]') from None
    if hints is None:
        hints = []
    if not isinstance(hints, (list, tuple)):
        raise LessonsError(f"the hints must be a list of {{\"x\", \"y\", \"color\"}}, got {type(hints).__name__}")
    check_hint_count(len(hints))        # refused before the photo is decoded or a model loads
    colorizer = models.hint_colorizer()
    img, notes = load_upload(image, max_side=MAX_SIDE)
    checked = check_hints(hints, img.size)
    t0 = time.perf_counter()
    out = colorizer(img, hints=checked or None)
    dt = time.perf_counter() - t0
    side = max(7, round(colorizer.hint_size * max(img.size) / colorizer.size))
    marked = draw_hints(out, checked, selected, side=side)   # lessons_lib.playground's markers
    marked.info.update(provenance_of(out))                    # generated too: it says so in its file
    n = len(checked)
    what = f"{n} hint{'s' if n != 1 else ''}" if n else "no hints (the model colours alone)"
    lines = [f"**Colorized** {img.width}x{img.height} with **{models.hint_model_name}** and {what} in {dt:.2f} s "
             f"(the network ran at {colorizer.size} px; each hint is a {colorizer.hint_size}x{colorizer.hint_size} "
             f"square there, about {side} px here)."]
    return out, marked, "\n\n".join(lines + notes)


def predicted_colour(result: Image.Image | None, x: float, y: float) -> str:
    """The colour (``#rrggbb``) of the last colorization at pixel (x, y): the click's suggestion."""
    if result is None:
        return "#808080"
    W, H = result.size
    return hex_colour(result.getpixel((min(max(int(x), 0), W - 1), min(max(int(y), 0), H - 1))))


# =========================================================================== the tab
def _render(models: DemoModels, image: Any, state: dict[str, Any]) -> tuple:
    """Every output of the tab after a change of the hints: the marked and the plain colorization,
    the status, the new state, the picker (the selected hint's colour), the hint list, the
    table and the JSON."""
    if image is None:
        raise LessonsError("upload a photo first (or pick a bundled one), then click on it")
    out, marked, status = colorize_with_hints(models, image, state["hints"], state["selected"])
    state = {**state, "result": out}
    sel = state["selected"]
    choices = [(f"{i + 1}: ({h['x']}, {h['y']}) {h['color']}", i) for i, h in enumerate(state["hints"])]
    table = [[h["x"], h["y"], h["color"]] for h in state["hints"]]
    picker = state["hints"][sel]["color"] if sel is not None else gr.skip()
    return (marked, out, status, state, picker, gr.Dropdown(choices=choices, value=sel), table,
            json.dumps(state["hints"], indent=1))


def _hint_guard(fn: Callable[[], tuple]) -> tuple:
    """:func:`demo.common.attempt` for the tab's changes: on failure only the status changes."""
    out, msg = attempt(fn, "a hints request")
    if msg is None:
        return out
    # the visitor's hints and pictures stay as they were
    return (gr.skip(),) * 2 + (f"**Could not do that:** {msg}",) + (gr.skip(),) * 5


def _hints_layout() -> SimpleNamespace:
    """The tab's components, laid out (call inside ``gr.Blocks``)."""
    with gr.Tab("Colour hints", id="hints"):
        state = gr.State(new_hint_state())
        gr.Markdown("**You say where a colour goes; the network spreads it.** Click on the photo to place a "
                    "hint: it takes the colour the model already paints there, which you then change with the "
                    "picker (or set the picker first and choose \"the picker's colour\"). Each change "
                    "recolours the whole photo (Zhang, Zhu et al. 2017).")
        with gr.Row():
            with gr.Column(scale=1):
                inp = photo_input("your photo (gray or colour)", "hints-input", COLOUR_EXAMPLES, "bundled photos")
                mode = gr.Radio(list(HINT_COLOUR_MODES), value=HINT_FROM_MODEL, label="a click's colour",
                                elem_id="hints-mode")
                picker = gr.ColorPicker(value="#c0392b", label="hint colour (changes the selected hint)",
                                        elem_id="hints-colour")
                selected = gr.Dropdown(choices=[], value=None, label="selected hint", elem_id="hints-selected")
                with gr.Row():
                    remove = gr.Button("Remove selected", elem_id="hints-remove")
                    undo = gr.Button("Undo", elem_id="hints-undo")
                    reset = gr.Button("Reset", elem_id="hints-reset")
                table = gr.Dataframe(headers=["x", "y", "colour"], datatype=["number", "number", "str"],
                                     value=[], interactive=True, label="the hints (edit x, y to move one)",
                                     elem_id="hints-table")
                as_json = gr.Code(value="[]", language="json", interactive=False, elem_id="hints-json",
                                  label="the hints as JSON (save as a file for `lessons colorize --hints`)")
            with gr.Column(scale=2):
                view = gr.Image(label="click to place a hint", format="png", type="pil", interactive=False,
                                elem_id="hints-view")
                status = gr.Markdown("Upload a photo, then click on it to place a hint.", elem_id="hints-status")
                result = gr.Image(label="the colorization (generated by a model)", format="png", type="pil",
                                  interactive=False, elem_id="hints-result")
                api_hints = gr.JSON(value=[], visible=False)
                api_btn = gr.Button(visible=False)
    return SimpleNamespace(state=state, inp=inp, mode=mode, picker=picker, selected=selected, remove=remove,
                           undo=undo, reset=reset, table=table, json=as_json, view=view, status=status,
                           result=result, api_hints=api_hints, api_btn=api_btn)


def build_hints_tab(models: DemoModels) -> None:
    """The Colour hints tab and its events (call inside ``gr.Blocks``): every change goes
    through one render (:func:`_render`); an error leaves the state as it was."""
    ui = _hints_layout()

    def on_hint_photo(image):
        if image is None:
            return (None, None, "Upload a photo, then click on it to place a hint.", new_hint_state(),
                    gr.skip(), gr.Dropdown(choices=[], value=None), [], "[]")
        return _hint_guard(lambda: _render(models, image, new_hint_state()))

    def on_hint_click(image, state, mode, picker, evt: gr.SelectData):
        def run():
            if image is None:
                raise LessonsError("upload a photo first")
            x, y = evt.index[:2]
            colour = picker if mode == HINT_FROM_PICKER else predicted_colour(state.get("result"), x, y)
            return _render(models, image, hint_add(state, x, y, colour))
        return _hint_guard(run)

    def on_hint_edit(op):
        def handler(image, state, *args):
            return _hint_guard(lambda: _render(models, image, op(state, *args)))
        return handler

    def on_hint_pick(state, selected):
        try:
            k = _index(state, selected)
        except LessonsError:
            return gr.skip(), state
        return state["hints"][k]["color"], {**state, "selected": k}

    def on_hints_api(image, hints):
        return guard(lambda: colorize_with_hints(models, image, hints)[::2], 1)

    outs = [ui.view, ui.result, ui.status, ui.state, ui.picker, ui.selected, ui.table, ui.json]
    ui.inp.change(on_hint_photo, [ui.inp], outs, api_visibility="private")
    ui.view.select(on_hint_click, [ui.inp, ui.state, ui.mode, ui.picker], outs, api_visibility="private")
    ui.picker.input(on_hint_edit(hint_recolour), [ui.inp, ui.state, ui.selected, ui.picker], outs,
                    api_visibility="private")
    ui.selected.input(on_hint_pick, [ui.state, ui.selected], [ui.picker, ui.state], api_visibility="private")
    ui.remove.click(on_hint_edit(hint_remove), [ui.inp, ui.state, ui.selected], outs, api_visibility="private")
    ui.undo.click(on_hint_edit(hint_undo), [ui.inp, ui.state], outs, api_visibility="private")
    ui.reset.click(on_hint_edit(hint_reset), [ui.inp, ui.state], outs, api_visibility="private")
    ui.table.input(on_hint_edit(hints_from_table), [ui.inp, ui.state, ui.table], outs, api_visibility="private")
    ui.api_btn.click(on_hints_api, [ui.inp, ui.api_hints], [ui.result, ui.status], api_name="colorize_hints")
