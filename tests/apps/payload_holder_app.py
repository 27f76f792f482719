"""Hold a node payload as a live Spark driver would, until a release file appears.

Usage: payload_holder_app.py WHEELHOUSE CACHE_DIR RELEASE_FILE

Loads for the driver, makes the executor payload exactly as delivery does
(``payload_files``: the stub zip, the linked wheelhouse, the holder file), prints
``{"archive": ..., "stubs": ...}`` and waits (tests/runtime/test_cleanup_holders.py,
the corpus case ``cleanup-live-payload``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sparkdeps._runtime.delivery import payload_files
from sparkdeps._runtime.load import load


def main() -> int:
    wheelhouse, cache, release = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    loaded = load(wheelhouse, delivery="driver-only", cache_dir=cache)
    archive, stubs = payload_files(
        loaded.folder,
        loaded.digest,
        cache / "node" / "payloads",
        source=(wheelhouse, wheelhouse),
        site=None,
    )
    print(json.dumps({"archive": str(archive), "stubs": str(stubs)}), flush=True)
    deadline = time.monotonic() + 600  # never outlive a forgotten test by long
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
