"""``_core/runtimes``: reading a runtime's package list, and what a set says about a package."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkdeps._core.errors import InputError, TargetError
from sparkdeps._core.runtimes import (
    MAX_RUNTIME_FILE_BYTES,
    RuntimePackages,
    canonical_name,
    parse_freeze,
    read_runtime_file,
    runtime_packages,
    runtime_profile_names,
)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("Python_Dateutil", "python-dateutil"),
        ("zope.interface", "zope-interface"),
        ("a--_.b", "a-b"),
    ],
    ids=["underscore-case", "dot", "runs"],
)
def test_canonical_name(name: str, canonical: str) -> None:
    assert canonical_name(name) == canonical


def test_parse_freeze_reads_headers_comments_and_pins() -> None:
    text = (
        "# dbr-x: made by hand\n"
        "# python 3.11; spark 3.5.0\n"
        "\n"
        "Six==1.16.0\n"
        "  PyYAML == 6.0.1  \n"
        "# a comment\n"
        "py4j==0.10.9.5\n"
    )
    packages = parse_freeze(text, "custom.txt")
    assert dict(packages.packages) == {"py4j": "0.10.9.5", "pyyaml": "6.0.1", "six": "1.16.0"}
    assert (packages.python_version, packages.spark_version) == ("3.11", "3.5.0")
    # Spark's own packages join the set: the listed py4j is kept, pyspark is the Spark's
    assert dict(packages.builtins) == {"pyspark": "3.5.0", "py4j": "0.10.9.5"}
    assert packages.version_of("PyYAML") == "6.0.1" and packages.version_of("absent") is None


def test_a_legacy_version_is_left_out_not_refused() -> None:
    packages = parse_freeze("six==1.16.0\ndistro-info==1.1build1\n", "freeze.txt")
    assert dict(packages.packages) == {"six": "1.16.0"}


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("-e git+https://x/y", "options"),
        ("--index-url https://x", "options"),
        ("pkg @ https://x/pkg.whl", "URL reference"),
        ("pkg==1.0; python_version < '3.11'", "markers are not allowed"),
        ("pkg>=1.0", "not a 'name==version' line"),
        ("pkg==1.0 extra", "not a 'name==version' line"),
        ("pkg==$(reboot)", "is not a version"),
    ],
    ids=["editable", "option", "url", "marker", "range", "trailing-words", "shell"],
)
def test_parse_freeze_refuses_other_lines_naming_them(line: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as caught:
        parse_freeze(f"six==1.16.0\n{line}\n", "freeze.txt")
    assert "freeze.txt, line 2" in str(caught.value) and "pip list --format=freeze" in str(
        caught.value
    )


def test_parse_freeze_needs_a_package() -> None:
    with pytest.raises(InputError, match="no 'name==version' lines"):
        parse_freeze("# python 3.11\n\n", "empty.txt")


def test_the_digest_names_the_set_not_its_order() -> None:
    one = parse_freeze("a==1\nb==2\n", "x")
    other = parse_freeze("b==2\na==1\n", "y")
    assert one.digest == other.digest
    assert parse_freeze("a==1\nb==3\n", "x").digest != one.digest


def test_protection() -> None:
    plain = RuntimePackages("x", {"numpy": "1.26.4", "six": "1.16.0"})
    assert plain.is_protected("NumPy") and not plain.is_protected("six")
    assert plain.is_protected("pyspark")  # Spark's own, even when not listed
    assert not plain.guards("torch")
    ml = RuntimePackages("x-ml", {"torch": "2.3.1"}, ml=True)
    assert ml.guards("torch") and ml.guards("nvidia-cublas-cu12") and ml.is_protected("jaxlib")
    assert plain.protected() == {"numpy": "1.26.4"}


def test_every_shipped_profile_reads() -> None:
    names = runtime_profile_names()
    assert "dbr-14.3" in names and "dbr-14.3-ml" in names
    assert names.index("dbr-13.3") < names.index("dbr-14.3")  # numeric order
    for name in names:
        packages = runtime_packages(name)
        assert packages.python_version and packages.packages, name
        assert packages.ml == name.endswith("-ml")
        assert "pyspark" in packages.builtins


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(TargetError, match=r"known: .*dbr-14\.3"):
        runtime_packages("dbr-9.1")


def test_read_runtime_file_refuses_huge_and_binary_files(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"#" * (MAX_RUNTIME_FILE_BYTES + 1))
    with pytest.raises(InputError, match="larger than 1024 KB"):
        read_runtime_file(big)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"six==1.16.0\n\xff\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_runtime_file(binary)
    with pytest.raises(InputError, match="cannot read"):
        read_runtime_file(tmp_path / "absent.txt")
