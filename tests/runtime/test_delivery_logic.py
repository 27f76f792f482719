"""Executor delivery's pure parts, without a JVM: the payload's archive name and the
workers' report (probe and verify) made in this process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sparkdeps._runtime.delivery import archive_name
from sparkdeps._runtime.worker_report import report_json

DIGEST = "0123456789abcdef" + "f" * 48


def test_archive_name_is_short_and_names_the_digest() -> None:
    assert archive_name(DIGEST) == "sparkdeps_0123456789abcdef"


def test_probe_reports_where_each_module_came_from(tmp_path: Path) -> None:
    (tmp_path / "sdprobe_ok.py").write_text("")
    (tmp_path / "sdprobe_bad.py").write_text("raise ValueError('broken on import')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        report = json.loads(report_json(["sdprobe_ok", "sdprobe_bad", "sdprobe_absent"]))
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("sdprobe_ok", "sdprobe_bad"):
            sys.modules.pop(name, None)
    assert report["python"] == sys.executable
    assert report["version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    imports = report["imports"]
    assert imports["sdprobe_ok"] == {"ok": True, "file": str(tmp_path / "sdprobe_ok.py")}
    assert imports["sdprobe_bad"] == {"ok": False, "error": "ValueError: broken on import"}
    assert imports["sdprobe_absent"]["ok"] is False
    assert "ModuleNotFoundError" in imports["sdprobe_absent"]["error"]
