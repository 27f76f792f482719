"""``_core/wheellisting``: a wheel's listing within the zip limits, its member names, and its
one ``.dist-info`` naming the distribution of its file name."""

from __future__ import annotations

import zipfile

import pytest

from sparkdeps._core.errors import IntegrityError
from sparkdeps._core.wheellisting import check_dist_info, check_listing
from sparkdeps._core.zipsafety import ArchiveLimits

FIX = "rebuild it"


def _infos(*names: str, size: int = 10) -> list[zipfile.ZipInfo]:
    infos = []
    for name in names:
        info = zipfile.ZipInfo(name)
        info.file_size = size
        infos.append(info)
    return infos


def test_a_plain_listing_passes() -> None:
    check_listing(_infos("pkg/__init__.py", "pkg/", "pkg-1.0.dist-info/RECORD"), 100, "w.whl", FIX)


@pytest.mark.parametrize(
    ("infos", "compressed", "limits", "match"),
    [
        (_infos("a", "b", "c"), 30, ArchiveLimits(max_entries=2), "3 entries, more than 2"),
        (_infos("a", size=2 << 20), 100, None, "expands to 2097152 bytes from 100"),
        (_infos("a", size=1000), 1000, ArchiveLimits(max_total_size=999), "limits: 999 bytes"),
        (_infos("pkg", "pkg/m.py"), 100, None, "'pkg' both as a file and as a folder"),
        (_infos("../evil.py"), 100, None, "unsafe member '../evil.py' \\(a '..' part\\)"),
        (_infos("/abs.py"), 100, None, "an absolute path"),
        (_infos("pkg\\m.py"), 100, None, "a backslash"),
        (_infos("pkg/\u202em.py"), 100, None, "invisible or control characters"),
        (_infos("x" * 256), 100, None, "over 255 bytes"),
        (_infos(""), 100, None, "an empty name"),
    ],
    ids=[
        "entries",
        "ratio",
        "size",
        "file-and-folder",
        "dotdot",
        "absolute",
        "backslash",
        "bidi",
        "long",
        "empty",
    ],
)
def test_listings_refused(
    infos: list[zipfile.ZipInfo], compressed: int, limits: ArchiveLimits | None, match: str
) -> None:
    chosen = {} if limits is None else {"limits": limits}
    with pytest.raises(IntegrityError, match=match) as caught:
        check_listing(infos, compressed, "w.whl", FIX, **chosen)
    assert str(caught.value).startswith("w.whl") and str(caught.value).endswith(FIX)


@pytest.mark.parametrize(
    ("names", "filename"),
    [
        (["pkg/m.py", "pkg-1.0.dist-info/METADATA"], "pkg-1.0-py3-none-any.whl"),
        (["Py_Pkg-1.0.0.dist-info/METADATA"], "py_pkg-1.0-py3-none-any.whl"),
    ],
    ids=["plain", "spelled-otherwise"],
)
def test_dist_info_names_the_wheel(names: list[str], filename: str) -> None:
    check_dist_info(names, filename, filename, FIX)


@pytest.mark.parametrize(
    ("names", "match"),
    [
        (["pkg/m.py"], "0 .dist-info folders"),
        (["a-1.0.dist-info/RECORD", "pkg-1.0.dist-info/RECORD"], "2 .dist-info folders"),
        (["other-1.0.dist-info/METADATA"], "names another distribution"),
        (["pkg-2.0.dist-info/METADATA"], "names another distribution"),
        (["pkg-x.y.z.dist-info/METADATA"], "names another distribution"),
    ],
    ids=["none", "two", "other-name", "other-version", "invalid-version"],
)
def test_dist_info_refused(names: list[str], match: str) -> None:
    with pytest.raises(IntegrityError, match=match):
        check_dist_info(names, "pkg-1.0-py3-none-any.whl", "w.whl", FIX)
