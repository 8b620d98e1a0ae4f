"""Colour hints by hand: the lesson's hint playground and the hint markers the demo draws.

::

    from lessons_lib.playground import HintPlayground
    from lessons_lib.colorization import Colorizer
    from lessons_lib import zoo

    play = HintPlayground(Colorizer(zoo.model_path("hints")), "grandparents.jpg")
    play.widget()                       # in Jupyter: sliders for x, y, a colour picker, buttons
    play.add(120, 80, "#c0392b")        # or by code (what the tests and smoke runs do)
    play.result()                       # the colorization with the hints so far

A hint is a point of the photo and a colour (:class:`lessons_lib.data.hints.Hint`); the
hint model (Zhang, Zhu et al. 2017) recolours the whole photo from L and the hints on each
change. :func:`draw_hints` marks the hints on a picture (a numbered square of the hint's
colour), for the widget and for the demo's Colour hints tab.
"""
from __future__ import annotations

import io
from typing import Any, Sequence

from . import LessonsError

__all__ = ["draw_hints", "HintPlayground"]


def draw_hints(image, hints: Sequence[Any], selected: int | None = None, side: int = 9,
               cursor: tuple[float, float] | None = None):
    """A copy of the PIL ``image`` with each hint drawn as a numbered square of its colour
    (black and white rims; a thick yellow rim on hint ``selected``) and, with ``cursor``,
    a cross at that point (where the next hint goes)."""
    from PIL import ImageDraw

    from .data.hints import check_hints

    out = image.copy()
    draw = ImageDraw.Draw(out)
    half = max(3, side // 2)
    for i, h in enumerate(check_hints(hints, image.size)):
        x, y = round(h.x), round(h.y)
        box = [x - half, y - half, x + half, y + half]
        draw.rectangle(box, fill=h.rgb, outline=(0, 0, 0), width=1)
        draw.rectangle([box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1], outline=(255, 255, 255), width=1)
        if i == selected:
            draw.rectangle([box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3], outline=(255, 214, 0), width=2)
        draw.text((box[2] + 3, box[1] - 2), str(i + 1), fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
    if cursor is not None:
        x, y = round(cursor[0]), round(cursor[1])
        for colour, w in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            draw.line([x - 2 * half, y, x + 2 * half, y], fill=colour, width=w)
            draw.line([x, y - 2 * half, x, y + 2 * half], fill=colour, width=w)
    return out


class HintPlayground:
    """Place hints on one photo and watch the hint model recolour it.

    Args:
        colorizer: a :class:`~lessons_lib.colorization.Colorizer` of a hint model.
        image: the photo (anything :func:`lessons_lib.data.load_image` opens).
        display_px: the widget's picture width.
    """

    def __init__(self, colorizer, image: Any, display_px: int = 384) -> None:
        from .data import load_image

        if not colorizer.takes_hints:
            colorizer._refuse_hints()
        self.colorizer = colorizer
        self.image = load_image(image)
        self.display_px = int(display_px)
        self.hints: list[Any] = []

    # ------------------------------------------------------------------ by code
    def add(self, x: float, y: float, colour: Any):
        """Add a hint at pixel (x, y) of the photo with ``colour`` (``#rrggbb``, a CSS name or
        an RGB triple); returns the new colorization."""
        from .data.hints import check_hints

        self.hints = self.hints + check_hints([(x, y, colour)], self.image.size)
        return self.result()

    def remove_last(self):
        """Remove the last hint (nothing to remove: a clear error)."""
        if not self.hints:
            raise LessonsError("there is no hint to remove")
        self.hints = self.hints[:-1]
        return self.result()

    def clear(self):
        """No hints: the model colours alone."""
        self.hints = []
        return self.result()

    def result(self):
        """The colorization (PIL) with the hints so far."""
        return self.colorizer(self.image, hints=self.hints or None)

    def marked(self, result=None, cursor: tuple[float, float] | None = None):
        """The colorization with the hints drawn on it (and a cross at ``cursor``)."""
        result = self.result() if result is None else result
        side = max(7, round(self.colorizer.hint_size * max(self.image.size) / self.colorizer.size))
        return draw_hints(result, self.hints, side=side, cursor=cursor)

    # ------------------------------------------------------------------ the widget
    def widget(self):
        """ipywidgets: x and y sliders (a cross shows the point), a colour picker, "add hint",
        "remove last", "clear", the marked colorization and a status line."""
        import ipywidgets as w

        W, H = self.image.size
        x = w.IntSlider(value=W // 2, min=0, max=W - 1, description="x")
        y = w.IntSlider(value=H // 2, min=0, max=H - 1, description="y")
        colour = w.ColorPicker(value="#c0392b", description="colour")
        add, undo, clear = w.Button(description="add hint"), w.Button(description="remove last"), w.Button(
            description="clear")
        picture = w.Image(format="png", width=self.display_px)
        status = w.HTML()
        state = {"result": self.result()}

        def show(_=None) -> None:
            buf = io.BytesIO()
            self.marked(state["result"], cursor=(x.value, y.value)).save(buf, format="PNG")
            picture.value = buf.getvalue()
            status.value = (f"{len(self.hints)} hint(s); the cross is where the next one goes. The network "
                            f"sees the photo at {self.colorizer.size} px.")

        def act(fn):
            def handler(_) -> None:
                try:
                    state["result"] = fn()
                except LessonsError as e:
                    status.value = f"<b>{e}</b>"
                    return
                show()
            return handler

        add.on_click(act(lambda: self.add(x.value, y.value, colour.value)))
        undo.on_click(act(self.remove_last))
        clear.on_click(act(self.clear))
        x.observe(show, names="value")
        y.observe(show, names="value")
        show()
        return w.VBox([w.HBox([w.VBox([x, y, colour, w.HBox([add, undo, clear])]), picture]), status])
