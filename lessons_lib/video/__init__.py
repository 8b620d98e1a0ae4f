"""Video: colorize a clip without flicker, and carry a user's hints through it (issue 24).

* :mod:`.io` - PyAV (FFmpeg) decoding and atomic encoding, keeping size, timing and audio;
* :mod:`.flow` - OpenCV optical flow (DIS, Farneback), warping, the forward-backward check,
  Lai et al.'s warping error;
* :mod:`.temporal` - the confidence-weighted blend of each frame's colours with the previous
  output, warped; scene cuts;
* :mod:`.colorize` - the per-frame loop and ``colorize_clip`` (the CLI and the demo);
* :mod:`.synthetic` - clips with known motion, true flow and true colours.

Nothing heavy is imported here: ``import lessons_lib.video`` costs nothing until used.
"""
from __future__ import annotations

__all__ = ["colorize", "flow", "io", "synthetic", "temporal"]
