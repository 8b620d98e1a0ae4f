"""The kit's one way to execute a notebook from Python: :func:`notebook_client`.

Grading (:func:`lessons_lib.classroom.grading.grade_notebook`), ``benchmarks/lesson_times.py``,
``benchmarks/notebook_stall.py`` and the class-mode course test all create their
``nbclient.NotebookClient`` here, so that they share the fix below. (nbval, which runs the
notebooks under ``pytest``, has its own blocking client that never sends while it waits and
is not affected.)

The widget-cell stall (issue 22)
--------------------------------
A cell that displays ``ipywidgets.interact`` puts its output into an ``Output`` widget.
nbclient mimics that widget in the client (``nbclient.output_widget.OutputWidget``): each
output routed into it is synced back to the kernel as a ``comm_msg`` sent on the *shell*
channel - while nbclient is waiting on that same channel for the cell's ``execute_reply``
(``NotebookClient._async_poll_for_reply`` awaiting ``shell_channel.get_msg(timeout=cell
timeout)``). jupyter_client's ``Session.send`` sends on the asyncio socket through a blocking
shadow of it (``zmq.Socket.shadow``), out of pyzmq's asyncio bookkeeping. ZeroMQ signals
readability through an edge-triggered file descriptor, and a send processes the socket's
pending commands: when the reply has just arrived (the client still busy with the cell's
last outputs, which happens on a loaded machine), that send consumes the reply's wake-up.
The waiting poll is then woken only by its own timeout, whose final ``poll(0)`` finds the
reply: the cell ends exactly one cell timeout late (599 s for a 600 s limit), with no
error. Known upstream, unfixed in the newest releases: jupyter/nbclient#312 (and its PR
#311), jupyter/jupyter_client#1059 and #1010 (the shadow send), the edge-triggered FD
hazard in zeromq/pyzmq#199.

The fix, :class:`RearmingShellChannel`: after every send on the shell channel, read the
socket's ``EVENTS`` through the asyncio socket. That processes any pending command, and
pyzmq's asyncio socket then schedules whatever waits on it when a message is readable (it
does so for every ``get(zmq.EVENTS)`` for this very reason); a reply arriving after that
read signals the descriptor again as usual. No timeout changes.

The same collision has a kernel-side twin in ipykernel 7.0-7.3 (a request landing while
the kernel sends a reply raw on its ROUTER stayed unread: the kernel idle, no reply, a real
cell timeout - ipython/ipykernel#1554, fixed by #1529 in 7.4.0). pyproject.toml excludes
those releases.
"""
from __future__ import annotations

from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from nbclient import NotebookClient
from traitlets import Type

__all__ = ["RearmingShellChannel", "LessonsKernelClient", "LessonsNotebookClient", "notebook_client",
           "rearm"]


def rearm(socket: Any) -> None:
    """Let pyzmq's asyncio socket look at its pending events again (after a send that went
    around it): a message that is readable now wakes whatever awaits it on this socket."""
    if socket is not None and not socket.closed and isinstance(socket, zmq.asyncio.Socket):
        socket.get(zmq.EVENTS)


class RearmingShellChannel(AsyncZMQSocketChannel):
    """The shell channel of :class:`LessonsKernelClient`: every send re-arms the socket."""

    def send(self, msg: dict[str, Any]) -> None:
        super().send(msg)
        rearm(self.socket)


class LessonsKernelClient(AsyncKernelClient):
    """nbclient's asynchronous kernel client with a :class:`RearmingShellChannel`."""

    shell_channel_class = Type(RearmingShellChannel)


class LessonsNotebookClient(NotebookClient):
    """``NotebookClient`` whose kernel client is a :class:`LessonsKernelClient`."""

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.client_factory = LessonsKernelClient
        return km


def notebook_client(nb: Any, *, timeout: int | None, cwd: str | None = None, kernel: str | None = None,
                    **options: Any) -> LessonsNotebookClient:
    """The client that executes ``nb`` (``.execute()``) in a fresh kernel.

    Args:
        nb: the notebook (an ``nbformat`` node; outputs are written into it).
        timeout: seconds allowed per cell (None: no limit).
        cwd: the kernel's working folder (a lesson runs in ``notebooks/``).
        kernel: the Jupyter kernel name (default: the notebook's own, else python3).
        options: any other ``NotebookClient`` option (``on_cell_executed``, ``record_timing``, ...).
    """
    if cwd is not None:
        options.setdefault("resources", {"metadata": {"path": str(cwd)}})
    if kernel:
        options["kernel_name"] = kernel
    return LessonsNotebookClient(nb, timeout=timeout, **options)
