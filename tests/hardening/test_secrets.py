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
from tests.support.remote import s3, s3_server, workspace

from sparkdeps._build.publish import build
from sparkdeps._core.errors import ResolutionError, SparkdepsError

pytestmark = pytest.mark.network

__all__ = ["s3", "s3_server", "workspace"]  # fixtures for the storage cases
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


# --- storage beyond the local disk (issue 26): keys, tokens, presigned query strings ---

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SIGNATURE = "c2lnbmF0dXJlLXRoYXQtb3BlbnMtdGhlLWJ1Y2tldA"


@pytest.mark.parametrize(
    ("text", "secrets"),
    [
        (
            f"http://127.0.0.1:9/b/k.zip?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature={SIGNATURE}"
            "&Expires=1796461110",
            ["AKIAIOSFODNN7EXAMPLE", SIGNATURE],
        ),
        (
            "https://b.s3.amazonaws.com/k.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261205%2Fus-east-1%2Fs3%2Faws4_request"
            f"&X-Amz-Security-Token=FwoGZXIvYXdzE{SIGNATURE}&X-Amz-Signature={SIGNATURE}",
            ["AKIAIOSFODNN7EXAMPLE", SIGNATURE],
        ),
        (
            f"https://storage.googleapis.com/b/k.zip?X-Goog-Credential=sa%40p.iam&X-Goog-Signature={SIGNATURE}",
            [SIGNATURE, "sa%40p.iam"],
        ),
        (
            f"https://acct.blob.core.windows.net/c/k.zip?sv=2022-11-02&se=2026&sig={SIGNATURE}",
            [SIGNATURE],
        ),
        ("Authorization: Bearer dapi0123456789abcdef0123456789abcdef", ["0123456789abcdef"]),
        ("token dapi0123456789abcdef0123456789abcdef-2 refused", ["0123456789abcdef"]),
        (f"aws_secret_access_key={AWS_SECRET}", [AWS_SECRET]),
        (f"{{'Authorization': 'AWS4-HMAC-SHA256 Credential={SIGNATURE}'}}", [SIGNATURE]),
    ],
    ids=[
        "s3-presigned-v2",
        "s3-presigned-v4",
        "gcs-signed-url",
        "azure-sas",
        "bearer-header",
        "databricks-token",
        "aws-secret-setting",
        "authorization-dict",
    ],
)
def test_storage_credentials_are_redacted(text: str, secrets: list[str]) -> None:
    from sparkdeps._core.runner import redact

    for secret in secrets:
        assert secret not in redact(text), redact(text)
        assert secret not in str(SparkdepsError(text))
    assert "***" in redact(text)


def _remote_texts(result: object, caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = [r.getMessage() for r in caplog.records if r.name.startswith("sparkdeps")]
    return [*texts, repr(result), json.dumps(getattr(result, "to_dict", dict)())]


@pytest.mark.parametrize("backend", ["s3", "files-api"])
def test_remote_build_load_cleanup_keep_keys_and_tokens_out(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The secret key and the token are used (the server checks the token) and appear in
    no log line, result, error, run.json or manifest."""
    from tests.support.remote import BUCKET, VOLUME
    from tests.support.s3server import SECRET_KEY
    from tests.support.wheels import make_wheel

    from sparkdeps._core.storage import storage_for
    from sparkdeps._runtime.cleanup import cleanup
    from sparkdeps._runtime.load import load

    caplog.set_level(logging.DEBUG)
    server = request.getfixturevalue("s3" if backend == "s3" else "workspace")
    secret = SECRET_KEY if backend == "s3" else server.token
    base = f"s3://{BUCKET}/secrets" if backend == "s3" else f"{VOLUME}/secrets"
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "sdsecret-pkg", "1.0", {"sdsecret_pkg/__init__.py": "X = 1\n"})
    built = build(wheels, dest=base, no_index=True, task_value_key=None)
    texts = [*_remote_texts(built, caplog), built.manifest.to_json().decode()]
    storage = storage_for(base)
    for name in ("run.json", "wheelhouse.zip"):
        copy = tmp_path / name
        storage.download(f"{built.run_uri}/{name}", copy)
        assert secret.encode() not in copy.read_bytes()
    loaded = load(built.uri, delivery="driver-only", cache_dir=tmp_path / "cache")
    texts += _remote_texts(loaded, caplog) + _remote_texts(cleanup(built.uri), caplog)
    for text in texts:
        assert secret not in text, text[-2000:]
    assert _files_holding(tmp_path, secret.encode()) == []


def test_wrong_databricks_token_error_keeps_both_tokens_out(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.support.remote import VOLUME

    from sparkdeps._core.storage import filesapi

    caplog.set_level(logging.DEBUG)
    workspace = request.getfixturevalue("workspace")
    wrong = "dapi" + "f" * 32
    monkeypatch.setenv("DATABRICKS_TOKEN", wrong)
    filesapi._clients.clear()
    with pytest.raises(SparkdepsError) as caught:
        build(_requirements(tmp_path), dest=f"{VOLUME}/runs", no_index=True, task_value_key=None)
    assert "unauthenticated" in str(caught.value).lower()
    assert "DATABRICKS_TOKEN" in str(caught.value), "the fix names what to set"
    texts = _texts_of(caught.value) + [r.getMessage() for r in caplog.records]
    for text in texts:
        assert wrong not in text and workspace.token not in text, text[-2000:]


def test_presigned_url_load_keeps_the_signature_out(
    request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A presigned URL is a credential: loading from one logs and returns it redacted."""
    import fsspec
    from tests.support.remote import BUCKET
    from tests.support.wheels import make_wheel

    from sparkdeps._runtime.load import load

    caplog.set_level(logging.DEBUG)
    request.getfixturevalue("s3")
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "sdsecret-url", "1.0", {"sdsecret_url/__init__.py": "X = 1\n"})
    built = build(wheels, dest=f"s3://{BUCKET}/presigned", no_index=True, task_value_key=None)
    url = fsspec.filesystem("s3").sign(built.uri, expiration=600)
    signature = url.split("Signature=")[1].split("&")[0]
    assert len(signature) > 10
    loaded = load(url, delivery="driver-only", cache_dir=tmp_path / "cache")
    assert loaded.digest == built.digest, "the wheelhouse really came through the URL"
    texts = _remote_texts(loaded, caplog)
    for text in texts:
        assert signature not in text, text[-2000:]
    assert _files_holding(tmp_path, signature.encode()) == []
