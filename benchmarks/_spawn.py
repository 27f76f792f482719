"""Run a command and write its wall time and peak RSS to a JSON file.

    python _spawn.py RESULT.json ARGV...

Why a launcher: Linux carries a process's peak RSS across fork+exec, so a
command started straight from the (large) harness would report the harness's
peak as its own. Started from this small process, its ``ru_maxrss`` is its own.
The wall time is taken here, around fork/exec/wait, so this launcher's own
start-up is not counted.
"""

import json
import os
import sys
import time


def main() -> int:
    result, argv = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _pid, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as handle:
        cpu = usage.ru_utime + usage.ru_stime  # the command and every child it waited for
        json.dump(
            {"seconds": seconds, "cpu_s": cpu, "maxrss_kb": usage.ru_maxrss, "returncode": code},
            handle,
        )
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    raise SystemExit(main())
