"""One build -> load -> verify -> cleanup pipeline in a fresh process; print one JSON line.

Usage: python hardening_pipeline_app.py OPTIONS_JSON

OPTIONS_JSON: ``source`` (a folder holding wheels and one ``sdpipe_<n>.py``),
``dest``, ``run_id``, ``find_links``, ``module`` (``sdpipe_<n>``), ``others`` (the other
pipelines' module names) and ``go`` (a file to wait for, so all start at once).

No Spark session: ``load`` is driver-only, and the verify step is an import check in a
fresh interpreter whose ``sys.path`` starts with the install folder (the executor side
is covered by the executor-kill test on a real local-cluster).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CHECK = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
own = {name: importlib.import_module(name).__file__ for name in sys.argv[2].split(",")}
seen = []
for name in sys.argv[3].split(",") if sys.argv[3] else []:
    try:
        importlib.import_module(name)
        seen.append(name)
    except ImportError:
        pass
print(json.dumps({"own": own, "others_importable": seen}))
"""


def main() -> int:
    options: dict[str, Any] = json.loads(sys.argv[1])
    go = Path(options["go"])
    deadline = time.monotonic() + 120
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    from sparkdeps._build.publish import build
    from sparkdeps._runtime.cleanup import cleanup
    from sparkdeps._runtime.load import load

    report: dict[str, Any] = {"pid": os.getpid()}
    started = time.perf_counter()
    built = build(
        options["source"],
        dest=options["dest"],
        run_id=options["run_id"],
        no_index=True,
        find_links=options["find_links"],
        task_value_key=None,
    )
    report["build_seconds"] = time.perf_counter() - started
    report["uri"] = built.uri
    report["run_uri"] = built.run_uri
    report["run_files"] = sorted(p.name for p in Path(built.run_uri).iterdir())
    loaded = load(built.uri, delivery="driver-only")
    report["folder"] = str(loaded.folder)
    report["top_level"] = list(loaded.top_level)
    report["reused"] = loaded.reused
    wanted = ",".join([options["module"], "sdhard_dep", "sdhard_leaf"])
    check = subprocess.run(
        [sys.executable, "-c", CHECK, str(loaded.folder), wanted, ",".join(options["others"])],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    report["verify"] = json.loads(check.stdout)
    report["cleanup"] = list(cleanup(built.run_uri).removed)
    report["run_folder_exists"] = Path(built.run_uri).exists()
    report["seconds"] = time.perf_counter() - started
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
