"""Load a wheelhouse in a fresh process and print the LoadResult as JSON.

Usage: python load_app.py WHEELHOUSE [GO_FILE]

With GO_FILE, wait until it exists first, so several processes start loading
at the same moment (the concurrency test).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> int:
    wheelhouse = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-" else None
    if len(sys.argv) > 2:
        go = Path(sys.argv[2])
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    from sparkdeps._runtime.load import load

    result = load(wheelhouse)
    import sdload_pure  # noqa: F401 - importable right after load, in this process

    print(json.dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
