"""``python -m demo [--host H] [--port P] [--share]``: start the web demo."""
from __future__ import annotations

import sys

from .app import main

if __name__ == "__main__":
    sys.exit(main())
