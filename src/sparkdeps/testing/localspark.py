"""Local Spark with executors on a clean interpreter, for tests and benchmarks.

``local-cluster[N,cores,memMB]`` runs separate executor JVMs and Python
workers, each with its own working folder, fetching files from the driver as
on a real cluster (docs/facts.md, fact 8). The executors' Python is a fresh venv
holding only pyspark's own runtime dependencies (pyarrow, pandas, numpy and what
they need, as every real cluster has them: fact 12), linked from this
interpreter's installed copies, so no index is needed; pyspark reaches the workers
through Spark's own PYTHONPATH. Any other package imported there can only come
from what sparkdeps shipped (fact 7). Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._core.errors import SparkdepsError
from .._core.runner import run
from ._runtime_deps import link_runtime_deps

__all__ = [
    "SANDBOX_NEEDS",
    "WorkerPip",
    "clean_python",
    "connect_session",
    "end_jvm",
    "local_cluster_session",
    "sandbox_missing",
    "sandboxed_connect_session",
    "sandboxed_python",
    "spark_env",
    "spark_home",
]

logger = logging.getLogger(__name__)


def clean_python(
    folder: str | os.PathLike[str],
    python: str | os.PathLike[str] | None = None,
    *,
    runtime_deps: bool = True,
) -> Path:
    """A venv of ``python`` (default: this interpreter); its python path.

    With ``runtime_deps`` it holds pyspark's runtime dependencies (see
    :mod:`sparkdeps.testing._runtime_deps`) when ``python`` has this interpreter's
    minor version, and nothing else. Reused when ``folder`` already holds one.
    """
    root = Path(folder).absolute()
    executable = root / "bin" / "python"
    if executable.exists():
        return executable
    base = os.fspath(python or _base_python())
    subprocess.run(
        [base, "-m", "venv", "--without-pip", os.fspath(root)],
        check=True,
        capture_output=True,
        text=True,
    )
    if runtime_deps:
        link_runtime_deps(root)
    return executable


def _base_python() -> str:
    """The interpreter this venv was made from (a venv of a venv would work too, but
    this keeps the chain short)."""
    candidate = (
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    return os.fspath(candidate) if candidate.exists() else sys.executable


def spark_home(folder: str | os.PathLike[str]) -> Path:
    """A Spark home made of symlinks to pyspark's own files, so Spark writes ``work/`` here."""
    import pyspark  # noqa: PLC0415

    source = Path(pyspark.__file__).parent
    home = Path(folder).absolute()
    home.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name in ("work", "__pycache__"):
            continue
        link = home / entry.name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(entry)
    (home / "work").mkdir(exist_ok=True)
    return home


_CONNECT_MODE_VARIABLES = ("SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE", "SPARK_REMOTE")
_connect_server_started = False
_sandboxed_jvm = False
"""True once this process's JVM runs the sandboxed stand-in (its workers and local dirs)."""


def _refuse_after_sandbox(what: str) -> None:
    # The JVM keeps the workers' interpreter (PYSPARK_PYTHON, read from its environment)
    # and its local folders (cached for its lifetime) from the first session it served.
    if _sandboxed_jvm:
        raise SparkdepsError(
            f"this process runs the sandboxed Connect stand-in, so it cannot start {what}: "
            "its JVM keeps the sandboxed workers and local folders; run it in another process "
            "(docs/delivery.md)"
        )


def spark_env(python: str | os.PathLike[str]) -> dict[str, str]:
    """Environment settings a local Spark needs; set before the JVM starts (it inherits them)."""
    return {
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": os.fspath(python),
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }


def _apply_env(python: str | os.PathLike[str]) -> None:
    for key, value in spark_env(python).items():
        os.environ[key] = value


def _settings(python: str | os.PathLike[str], conf: Mapping[str, str] | None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.pyspark.python": os.fspath(python),
        "spark.pyspark.driver.python": sys.executable,
        "spark.python.worker.reuse": "true",
    }
    settings.update(conf or {})
    return settings


def _common_conf(
    builder: Any, python: str | os.PathLike[str], conf: Mapping[str, str] | None
) -> Any:
    return builder.config(map=_settings(python, conf))


def local_cluster_session(
    executors: int = 2,
    cores: int = 1,
    memory_mb: int = 1024,
    *,
    python: str | os.PathLike[str],
    app_name: str = "sparkdeps-local-cluster",
    conf: Mapping[str, str] | None = None,
    wait_seconds: float = 90.0,
    work_dir: str | os.PathLike[str] | None = None,
) -> Any:
    """A classic session on ``local-cluster[executors,cores,memory_mb]``; waits for every executor.

    Unless ``SPARK_HOME`` is set, Spark gets a home of symlinks in ``work_dir``
    (default: a fresh temporary folder) so executors work there, not in pyspark's
    own folder inside site-packages (Spark's default).
    """
    from pyspark.sql import SparkSession  # noqa: PLC0415

    _refuse_after_sandbox("a local-cluster session")
    _apply_env(python)
    # A process started by one that ran a local Connect server inherits pyspark's
    # Connect-mode variables, which turn any builder into a Connect client: a classic
    # session was asked for here. Kept when this process runs its own Connect server.
    inherited = {key: os.environ.pop(key) for key in _CONNECT_MODE_VARIABLES if key in os.environ}
    if "SPARK_HOME" not in os.environ:
        # local-cluster workers work in $SPARK_HOME/work, which for a pip-installed
        # pyspark is inside site-packages: give Spark a home of symlinks instead.
        home = spark_home(work_dir) if work_dir is not None else _temporary_home()
        os.environ["SPARK_HOME"] = os.fspath(home)
    builder = SparkSession.builder.master(
        f"local-cluster[{executors},{cores},{memory_mb}]"
    ).appName(app_name)
    builder = _common_conf(
        builder, python, {"spark.executor.memory": f"{max(256, memory_mb - 256)}m", **(conf or {})}
    )
    try:
        session = builder.getOrCreate()
    finally:
        if _connect_server_started:
            os.environ.update(inherited)
    _wait_for_executors(session, executors, wait_seconds)
    return session


def end_jvm(wait_seconds: float = 30.0) -> bool:
    """End this process's Spark JVM once no SparkContext is active, so the next session
    starts a fresh one; False when there is none to end, or a context is still active.

    pyspark starts one JVM per process and keeps it: a session started later inherits
    what an earlier one left in it. After a local Connect server, that is the
    ``SPARK_HOME`` the server's JVM started with (a local-cluster's executors then work
    inside pyspark's package) and the server's session state, under which a later
    classic session's jobs ran in an artifact folder of their own, without the files
    the session added (``ModuleNotFoundError`` for the stub module)."""
    from pyspark import SparkContext  # noqa: PLC0415

    gateway = SparkContext._gateway
    if gateway is None or SparkContext._active_spark_context is not None:
        return False
    SparkContext._gateway = None
    SparkContext._jvm = None
    proc = getattr(gateway, "proc", None)
    try:
        gateway.shutdown()
    finally:
        if proc is not None:  # the JVM exits when its stdin closes (pyspark's own protocol)
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(wait_seconds)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(wait_seconds)
    return True


def _temporary_home() -> Path:
    """A fresh Spark home for this process, removed when it exits: the executors' work
    folders land in it (payloads, extracted wheelhouses, logs: 30 MB a session and more),
    and a folder per session left in the temporary folder fills it."""
    folder = tempfile.mkdtemp(prefix="sparkdeps-spark-home-")
    atexit.register(_remove_home, folder)
    return spark_home(folder)


def _remove_home(folder: str) -> None:
    """At exit: stop the session first (its local-cluster workers go on starting and
    stopping executors in the folder until then), then remove the folder."""
    try:
        from pyspark import SparkContext  # noqa: PLC0415

        active = SparkContext._active_spark_context
        if active is not None:
            active.stop()
    except Exception:  # at exit: remove what can be removed, whatever stopping did
        logger.debug("stopping the session at exit failed", exc_info=True)
    shutil.rmtree(folder, ignore_errors=True)


def _wait_for_executors(session: Any, wanted: int, wait_seconds: float) -> None:
    # Without this the first job may run before every executor registered, and a test
    # that wants "every executor answered" would see only one.
    tracker = session.sparkContext._jsc.sc()
    deadline = time.monotonic() + wait_seconds
    while True:
        registered = int(tracker.getExecutorMemoryStatus().size()) - 1  # minus the driver
        if registered >= wanted:
            return
        if time.monotonic() > deadline:
            raise SparkdepsError(
                f"only {registered} of {wanted} local-cluster executors registered in "
                f"{wait_seconds:.0f}s",
                fix="check Java 17, memory, and SPARK_LOCAL_IP=127.0.0.1",
            )
        time.sleep(0.25)


def connect_session(
    *,
    python: str | os.PathLike[str],
    master: str = "local[2]",
    conf: Mapping[str, str] | None = None,
) -> Any:
    """A Spark Connect session on a local server of this process, on a port the OS picks.

    ``SparkSession.builder.remote(master)`` would listen on 15002, so two test runs on
    one machine would clash: the server is started as pyspark starts it, but on port 0,
    and the client is pointed at the port the server got. Where pyspark can reuse a
    persistent local server (4.3: ``SPARK_LOCAL_CONNECT_REUSE=1`` or
    ``spark.local.connect.reuse``), asking for that hands the start to pyspark.
    """
    _refuse_after_sandbox("an unsandboxed Connect session")
    return _start_connect(python, master, conf)


def _start_connect(
    python: str | os.PathLike[str], master: str, conf: Mapping[str, str] | None
) -> Any:
    from pyspark.sql import SparkSession  # noqa: PLC0415

    global _connect_server_started
    _apply_env(python)
    _connect_server_started = True
    settings = _settings(python, conf)
    with warnings.catch_warnings():
        # The local server takes the static settings at start; setting them again on
        # the session afterwards only warns ("Cannot modify the value ...").
        warnings.filterwarnings("ignore", message="Failed to set spark", category=UserWarning)
        if _reuse_asked(settings):
            return SparkSession.builder.remote(master).config(map=settings).getOrCreate()
        return _own_server_session(master, settings)


def _reuse_asked(settings: Mapping[str, Any]) -> bool:
    asked = settings.get("spark.local.connect.reuse", os.environ.get("SPARK_LOCAL_CONNECT_REUSE"))
    if str(asked).lower() not in ("1", "true"):
        return False
    if importlib.util.find_spec("pyspark.sql.connect.local_server") is None:
        logger.warning("this pyspark cannot reuse a local Connect server; starting one")
        return False
    return True


def _own_server_session(master: str, settings: Mapping[str, Any]) -> Any:
    from pyspark import SparkContext  # noqa: PLC0415
    from pyspark.sql import SparkSession  # noqa: PLC0415
    from pyspark.sql.connect.session import SparkSession as ConnectSession  # noqa: PLC0415

    options = dict(settings)
    if SparkContext._active_spark_context is None:
        options.setdefault("spark.connect.grpc.binding.port", "0")
        # As remote("local") does: the variable makes the session's stop() end the server.
        os.environ["SPARK_LOCAL_REMOTE"] = "1"
        try:
            ConnectSession._start_connect_server(master, options)  # trims options
        except BaseException:
            os.environ.pop("SPARK_LOCAL_REMOTE", None)
            raise
    elif "SPARK_LOCAL_REMOTE" not in os.environ:
        raise SparkdepsError(
            "a classic Spark session runs in this process; stop it before asking for a "
            "Spark Connect one"
        )
    # pyspark's own way to find an ephemeral port (DefaultChannelBuilder.default_port)
    jvm = SparkSession._instantiatedSession._jvm  # type: ignore[union-attr]
    service = getattr(jvm, "org.apache.spark.sql.connect.service.SparkConnectService$")
    port = int(getattr(service, "MODULE$").localPort())
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    url = f"sc://localhost:{port}"  # localhost: pyspark sends the local token only there
    return ConnectSession.builder.remote(url).config(map=options).getOrCreate()


# --------------------------------------------------------------------------- the sandbox

SANDBOX_NEEDS = (
    "Linux with util-linux's unshare, and root (unshare -m) or unprivileged user "
    "namespaces (unshare -Urm; kernel.unprivileged_userns_clone=1 where that switch exists)"
)
"""What the sandboxed Connect stand-in needs (docs/delivery.md)."""


def _unshare_flags() -> str:
    # root may make a mount namespace alone; anyone else needs a user namespace with it
    return "-m" if os.geteuid() == 0 else "-Urm"


def sandbox_missing() -> str | None:
    """Why the sandboxed stand-in cannot run here, or None when it can."""
    if sys.platform != "linux":
        return f"the sandboxed Connect stand-in needs Linux ({SANDBOX_NEEDS})"
    probe = tempfile.mkdtemp(prefix="sparkdeps-sandbox-probe-")
    try:
        completed = subprocess.run(
            ["unshare", _unshare_flags(), "sh", "-c", 'mount -t tmpfs none "$0"', probe],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        return f"cannot run unshare ({exc}); the sandbox needs {SANDBOX_NEEDS}"
    finally:
        Path(probe).rmdir()
    if completed.returncode != 0:
        return (
            f"unshare {_unshare_flags()} could not mount a tmpfs "
            f"({completed.stderr.strip() or completed.returncode}); needs {SANDBOX_NEEDS}"
        )
    return None


def sandboxed_python(python: str | os.PathLike[str], hidden: str | os.PathLike[str]) -> Path:
    """A wrapper that runs ``python`` in a mount namespace where ``hidden`` is an empty tmpfs.

    Spark starts the Python workers through it (``PYSPARK_PYTHON``): with
    ``spark.local.dir`` set to ``hidden``, every file the session added (artifacts,
    archives, pyfiles) lies under a folder the workers see empty, as reported of
    Databricks serverless UDF sandboxes (docs/facts.md, fact 17). Written beside
    ``hidden`` as ``<hidden>-python``.
    """
    folder = Path(hidden).absolute()
    wrapper = folder.with_name(f"{folder.name}-python")
    # "$0" is the real interpreter, "$@" what Spark passes it (-m pyspark.daemon ...)
    inner = f'mount -t tmpfs none {shlex.quote(os.fspath(folder))} && exec "$0" "$@"'
    wrapper.write_text(
        "#!/bin/sh\n"
        "# sparkdeps.testing: a Python worker that cannot see the session's files\n"
        f"exec unshare {_unshare_flags()} sh -c {shlex.quote(inner)} "
        f'{shlex.quote(os.fspath(python))} "$@"\n',
        "utf-8",
    )
    wrapper.chmod(0o755)
    return wrapper


def sandboxed_connect_session(
    *,
    python: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    master: str = "local[2]",
    conf: Mapping[str, str] | None = None,
) -> Any:
    """A Spark Connect session whose Python workers cannot see the session's artifacts.

    ``spark.local.dir`` is ``<folder>/local``, and the workers run ``python``
    through :func:`sandboxed_python`, which mounts an empty tmpfs over that
    folder first: a plain UDF runs, files added with ``addArtifacts`` are not
    there (docs/facts.md, fact 23). One local Connect server per process, and its
    workers' interpreter is fixed when the JVM starts: a process holds either this
    session or :func:`connect_session`, not both.
    """
    from pyspark import SparkContext  # noqa: PLC0415

    global _sandboxed_jvm
    reason = sandbox_missing()
    if reason:
        raise SparkdepsError(reason)
    if SparkContext._gateway is not None and not _sandboxed_jvm:
        raise SparkdepsError(
            "the sandboxed Connect stand-in needs a process whose JVM it starts: this one "
            "already ran Spark, whose JVM keeps its workers' interpreter and local folders",
            fix="run the sandboxed tests in their own process (docs/delivery.md)",
        )
    hidden = Path(folder).absolute() / "local"
    hidden.mkdir(parents=True, exist_ok=True)
    wrapper = sandboxed_python(python, hidden)
    settings = {"spark.local.dir": os.fspath(hidden), **(conf or {})}
    _sandboxed_jvm = True
    return _start_connect(wrapper, master, settings)


class WorkerPip:
    """The stand-in's notebook ``%pip``: installs into the interpreter the sandboxed workers run.

    On Databricks serverless a notebook's ``%pip`` is synced to the Python workers of
    UDFs (docs/facts.md, fact 17); here the equivalent of that sync is pip installing
    straight into the workers' interpreter (this interpreter's pip, ``--python``).
    ``--no-index``: tests install only files they made, and send nothing off the machine.
    Register it with ``sparkdeps._core.databricks.set_notebook_pip`` (the pytest plugin's
    ``sparkdeps_notebook_pip`` fixture does).
    """

    def __init__(self, python: str | os.PathLike[str]) -> None:
        self.python = Path(python)
        self.where = f"the stand-in's %pip into the workers' interpreter ({self.python})"

    def pip(self, line: str) -> None:
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                self.python,
                *shlex.split(line),
                "--no-index",
            ],
            what=f"%pip {line} (stand-in)",
        )
