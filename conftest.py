"""Root pytest configuration, loaded before any test or notebook kernel starts.

Lessons run in smoke mode under the test command: tiny data, a few steps. The variable is
set here, in the test process, so the Jupyter kernels nbval starts inherit it.
"""
import os

os.environ["LESSONS_SMOKE"] = "1"
# Notebooks and tests draw with a non-interactive backend; nothing opens a window.
os.environ.setdefault("MPLBACKEND", "Agg")
# Keep runs on the 2-core course machine from oversubscribing threads.
os.environ.setdefault("OMP_NUM_THREADS", str(min(4, os.cpu_count() or 1)))
