"""Root pytest configuration, loaded before any test or notebook kernel starts.

Lessons run in smoke mode under the test command: tiny data, a few steps. The variable is
set here, in the test process, so the Jupyter kernels nbval starts inherit it.
"""
import os
import tempfile

os.environ["LESSONS_SMOKE"] = "1"
os.environ["LESSONS_MODE"] = "smoke"     # wins over a user's LESSONS_MODE=class in the shell
# Notebooks and tests draw with a non-interactive backend; nothing opens a window.
os.environ.setdefault("MPLBACKEND", "Agg")
# Smoke-mode tensors are tiny: one thread per process is faster than two threads that
# spin-wait (measured: a lesson 05 run 15 s with 1 thread vs 67 s with 2 under load).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The tests and the smoke-mode lessons see what a fresh clone sees: no data packs, not even
# ../shared/data next to this checkout or the user's installed ones (LESSONS_DATA, when set,
# is the only folder searched). A test that needs the real packs finds ../shared/data by
# its path and says so; tests/test_lessons_course.py installs them for the class-mode leg.
os.environ["LESSONS_DATA"] = tempfile.mkdtemp(prefix="lessons-no-packs-")


import pytest  # noqa: E402


@pytest.fixture
def one_thread():
    """One torch thread for the test (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    the tests' nets are tiny, and on the shared 2-core machine a second thread only adds
    waiting (a recipe test ran 25x slower with two threads under load)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def demo_url():
    """The demo (``demo.app.build_app`` on the CPU) served on a free port of 127.0.0.1 for one
    test module; its URL. Shared by the browser test and the Video tab's tests."""
    import socket

    pytest.importorskip("gradio")
    from demo.app import build_app

    app = build_app(device="cpu")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()
