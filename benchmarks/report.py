"""Render a benchmark JSON as the Markdown used in benchmarks/RESULTS.md.

python benchmarks/report.py benchmarks/out/<timestamp>.json > /tmp/results.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import markdown_table


def render(document: dict[str, Any]) -> str:
    m = document["machine"]
    lines = [
        f"Run {document['created']} ({document['seconds']:.0f} s), "
        f"{document['config']['runs']} runs after {document['config']['warmups']} warm-up(s), "
        "A and B alternating; values are median [min-max]."
        + ("" if document.get("complete", True) else " INCOMPLETE: the run stopped early."),
        "",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GB RAM, Linux {m['kernel']}",
        f"- Python {m['python']}, {m['pip']}, {m['uv']}, pyspark {m['pyspark']}, {m['java']}",
        f"- load average at start {tuple(round(x, 1) for x in m['loadavg_start'])}, "
        f"at end {tuple(round(x, 1) for x in m.get('loadavg_end', ()))}",
        "",
        markdown_table(document["results"]),
        "",
    ]
    if document.get("scaling"):
        lines += [
            "| workload | wheels | wheelhouse MB | installed MB | files | install s | MB/s "
            "| peak RSS MB | RSS growth MB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in document["scaling"]:
            lines.append(
                f"| {r['workload']} | {r['wheels']} | {r['wheelhouse_mb']:.1f} | "
                f"{r['installed_mb']:.1f} | {r['files']} | {r['install_s']:.3f} | "
                f"{r['mb_per_s']:.1f} | {r['peak_rss_mb']:.1f} | {r['rss_delta_mb']:.1f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(json.loads(Path(sys.argv[1]).read_text())))
