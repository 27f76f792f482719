"""``_cli/arguments``: the build options as flags and back, and the job requests."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from sparkdeps._cli import build_parser
from sparkdeps._cli.arguments import build_options, option_arguments, request
from sparkdeps._core.options import BuildOptions, option_fields, option_of
from sparkdeps._jobs.tasks import CleanupRequest, ProcessDepsRequest


def test_no_flags_give_the_default_options() -> None:
    parser = argparse.ArgumentParser()
    option_arguments(parser)
    assert build_options(parser.parse_args([])) == BuildOptions()


def test_every_flagged_option_is_a_flag_with_its_aliases_hidden() -> None:
    parser = argparse.ArgumentParser()
    option_arguments(parser)
    shown = {flag: action.help for action in parser._actions for flag in action.option_strings}
    for item in option_fields():
        option = option_of(item)
        if option.flag is None:
            continue
        assert shown[option.flag] not in (None, argparse.SUPPRESS), option.flag
        for alias in option.aliases:
            assert shown[alias] == argparse.SUPPRESS, alias


def test_an_override_changes_one_command_default_only() -> None:
    parser = argparse.ArgumentParser()
    option_arguments(parser, {"target": ("auto", "the compute's runtime")})
    assert build_options(parser.parse_args([])).target == "auto"
    plain = argparse.ArgumentParser()
    option_arguments(plain)
    assert build_options(plain.parse_args([])).target == BuildOptions().target


def test_repeated_flags_become_tuples_in_the_request() -> None:
    args = build_parser().parse_args(
        ["process-deps", "--source", "r.txt", "--find-links", "a", "--find-links", "b"]
    )
    made = request(ProcessDepsRequest, args)
    assert made.options.find_links == ("a", "b")
    assert made.source == "r.txt" and made.options.target == "auto"


def test_a_request_takes_each_of_its_fields_from_the_flags() -> None:
    args = build_parser().parse_args(
        ["cleanup", "dbfs:/x/run-1", "--wheelhouse", "dbfs:/y/wheelhouse.zip", "--dry-run"]
    )
    made = request(CleanupRequest, args)
    assert made.run_uri == ("dbfs:/x/run-1",)
    assert made.wheelhouse == ("dbfs:/y/wheelhouse.zip",)
    assert {field.name for field in dataclasses.fields(CleanupRequest)} <= set(vars(args))


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        pytest.param(["-v", "build", "r.txt"], 1, id="before"),
        pytest.param(["build", "r.txt", "-vv"], 2, id="after"),
        pytest.param(["build", "r.txt"], 0, id="none"),
    ],
)
def test_verbosity_is_taken_before_or_after_the_command(argv: list[str], verbose: int) -> None:
    assert build_parser().parse_args(argv).verbose == verbose
