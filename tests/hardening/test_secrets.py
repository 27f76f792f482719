"""Credentials in an index URL never appear in logs, errors, results, the manifest, or any
file sparkdeps leaves (run folder, build cache, uv cache, temporary files)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.hardening.corpus import Resources, Sandbox, sandboxed
from tests.hardening.runs import REPO, app_env
from tests.support.index import IndexServer

from sparkdeps._build.pipeline import build
from sparkdeps._core.errors import ResolutionError, SparkdepsError

pytestmark = pytest.mark.network

USER = "sduser"
PASSWORD = "s3cr3t-Pa55word-hardening"


@pytest.fixture
def auth_index(hardening_resources: Resources) -> Iterator[IndexServer]:
    with IndexServer(hardening_resources.packages, username=USER, password=PASSWORD) as server:
        yield server


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = Sandbox(tmp_path / "sandbox").create()
    with sandboxed(sandbox):
        yield sandbox


def _requirements(folder: Path, text: str = "sdhard-dep\n") -> Path:
    path = folder / "requirements.txt"
    path.write_text(text)
    return path


def _texts_of(error: BaseException) -> list[str]:
    """The message of an error and of everything it chains to, commands and output too."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(str(current))
        texts.append(repr(current))
        for attribute in ("command", "output", "hint"):
            value = getattr(current, attribute, None)
            if value:
                texts.append(str(value))
        current = current.__cause__ or current.__context__
    return texts


def _files_holding(root: Path, secret: bytes) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if secret in path.read_bytes():
                    found.append(os.fspath(path.relative_to(root)))
            except OSError:
                continue
    return found


def _assert_clean(texts: list[str], box: Sandbox) -> None:
    for text in texts:
        assert PASSWORD not in text, text[-2000:]
    assert _files_holding(box.root, PASSWORD.encode()) == []


def test_successful_build_keeps_credentials_out_of_everything(
    box: Sandbox, auth_index: IndexServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert PASSWORD in auth_index.url
    result = build(
        _requirements(box.inputs), dest=box.dest, index_url=auth_index.url, task_value_key=None
    )
    assert {w.name for w in result.wheels} == {"sdhard-dep", "sdhard-leaf"}
    assert any("/files/" in path for path in auth_index.requests), "the index was really used"
    texts = [record.getMessage() for record in caplog.records]
    texts += [json.dumps(result.to_dict()), result.manifest.to_json().decode(), repr(result)]
    _assert_clean(texts, box)


@pytest.mark.parametrize(
    "requirement",
    ["sdhard-absent\n", "sdhard-dep==9.9\n"],
    ids=["unknown-package", "unsatisfiable-version"],
)
def test_failed_resolution_keeps_credentials_out(
    box: Sandbox, auth_index: IndexServer, caplog: pytest.LogCaptureFixture, requirement: str
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ResolutionError) as caught:
        build(
            _requirements(box.inputs, requirement),
            dest=box.dest,
            index_url=auth_index.url,
            task_value_key=None,
        )
    texts = _texts_of(caught.value) + [r.getMessage() for r in caplog.records]
    assert any("***@127.0.0.1" in text for text in texts), "the index is named, redacted"
    _assert_clean(texts, box)


def test_wrong_password_keeps_both_passwords_out(
    box: Sandbox, auth_index: IndexServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = auth_index.url.replace(PASSWORD, PASSWORD + "-wrong")
    with pytest.raises(SparkdepsError) as caught:
        build(_requirements(box.inputs), dest=box.dest, index_url=wrong, task_value_key=None)
    texts = _texts_of(caught.value) + [r.getMessage() for r in caplog.records]
    _assert_clean(texts, box)


def test_unreachable_index_with_credentials(box: Sandbox) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/simple/"
    with pytest.raises(ResolutionError) as caught:
        build(
            _requirements(box.inputs),
            dest=box.dest,
            index_url=url,
            index_timeout=2,
            index_retries=0,
            task_value_key=None,
        )
    texts = _texts_of(caught.value)
    assert f"***@127.0.0.1:{port}" in str(caught.value)
    _assert_clean(texts, box)


def test_index_url_from_requirements_file_when_allowed(
    box: Sandbox, auth_index: IndexServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = _requirements(box.inputs, f"--index-url {auth_index.url}\nsdhard-dep\n")
    result = build(source, dest=box.dest, allow_index_options=True, task_value_key=None)
    texts = [r.getMessage() for r in caplog.records]
    texts += [json.dumps(result.to_dict()), result.manifest.to_json().decode()]
    for text in texts:
        assert PASSWORD not in text
    # the input itself holds the password (the user put it there): every other file must not
    holding = _files_holding(box.root, PASSWORD.encode())
    assert holding == ["inputs/requirements.txt"], holding


@pytest.mark.parametrize("fails", [False, True], ids=["cli-success", "cli-failure"])
def test_cli_output_keeps_credentials_out(
    tmp_path: Path, auth_index: IndexServer, fails: bool
) -> None:
    box = Sandbox(tmp_path / "sandbox").create()
    source = _requirements(box.inputs, "sdhard-absent\n" if fails else "sdhard-dep\n")
    env = app_env(box.cache, box.tmp, HOME=os.fspath(box.home))
    command = [sys.executable, "-m", "sparkdeps", "build", os.fspath(source), "-vv"]
    command += ["--dest", os.fspath(box.dest), "--index-url", auth_index.url, "--json"]
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )
    assert (completed.returncode != 0) is fails, completed.stderr[-3000:]
    # -vv logs every command, index URL included: redacted
    assert f"***@127.0.0.1:{auth_index.port}" in completed.stderr, completed.stderr[-3000:]
    assert PASSWORD not in completed.stdout
    assert PASSWORD not in completed.stderr, completed.stderr[-3000:]
    holding = _files_holding(box.root, PASSWORD.encode())
    assert holding == [], holding


@pytest.mark.parametrize(
    "text",
    [
        f"pip -i https://{USER}:{PASSWORD}@x@127.0.0.1/simple/ sdhard-dep",
        f"uv pip compile --index-url=https://{USER}:{PASSWORD}@127.0.0.1:9/simple",
        f"pip wheel --config-settings=password={PASSWORD} .",
    ],
    ids=["password-with-at-sign", "index-url", "config-settings"],
)
def test_one_redaction_for_logs_and_errors(text: str) -> None:
    """Issue 10, section 6: one function redacts, and every SparkdepsError runs it."""
    from sparkdeps._core.runner import redact

    assert PASSWORD not in redact(text)
    assert "x@127.0.0.1" not in redact(text)
    assert PASSWORD not in str(SparkdepsError(text))
    assert PASSWORD not in repr(SparkdepsError(text))


def test_load_logs_no_password(box: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    from sparkdeps._runtime.load import load

    caplog.set_level(logging.DEBUG, logger="sparkdeps")
    with pytest.raises(SparkdepsError) as caught:
        load(f"https://{USER}:{PASSWORD}@127.0.0.1:9/wheelhouse.zip", delivery="driver-only")
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in caplog.text
