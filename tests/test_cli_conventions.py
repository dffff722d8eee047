"""What a newcomer expects: --version, help with defaults, one spelling per option, an overview, a license."""

import argparse
import doctest
import re
from pathlib import Path

import pytest

import mlpkit
from mlpkit.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def project_field(name: str) -> str:
    """A ``[project]`` line of pyproject.toml, as written (tomllib is not in Python 3.10)."""
    return re.search(rf"^{name} = (.*)$", (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    version = project_field("version").strip('"')
    assert capsys.readouterr().out.strip() == f"mlpkit {version}" == f"mlpkit {mlpkit.__version__}"


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_every_option_has_help_text(command):
    for action in subcommands()[command]._actions:
        assert action.help and action.help.strip(), (command, action.option_strings)


def test_train_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option, default in [
        ("--lr", "0.001"),
        ("--hidden", "256,128, or 100 under 2,000 training rows"),
        ("--out", "model.npz"),
        ("--seed", "0"),
    ]:
        assert re.search(rf"{option} \S+ .*?\(default: {re.escape(default)}\)", text), option
    assert "(default: from the data size)" in text  # --epochs and --batch-size: chosen from m


OUTPUT_FILES = {
    "train": [],
    "predict": ["MODEL.npz", "rows.csv"],
    "export": ["MODEL.npz"],
    "plot": ["MODEL.npz", "--kind", "curves"],
}


@pytest.mark.parametrize("command", sorted(OUTPUT_FILES))
@pytest.mark.parametrize("spelling", ["--out", "-o"])
def test_the_output_file_is_out_or_o_in_every_command(command, spelling):
    args = build_parser().parse_args([command, *OUTPUT_FILES[command], spelling, "f.x"])
    assert args.out == "f.x"


@pytest.mark.parametrize("command, old", [("predict", "--output"), ("export", "--onnx")])
def test_the_old_output_spellings_still_work(command, old):
    assert build_parser().parse_args([command, *OUTPUT_FILES[command], old, "f.x"]).out == "f.x"


@pytest.mark.parametrize("command", ["train", "explain", "gradcheck"])
def test_the_output_activation_has_its_own_name_and_keeps_the_old_one(command):
    for spelling in ("--output-activation", "--output"):
        assert build_parser().parse_args([command, spelling, "sigmoid"]).output == "sigmoid"


def test_help_of_the_package_opens_on_an_overview_whose_example_runs():
    description = mlpkit.__doc__.strip().splitlines()
    assert len(description) >= 20
    for name in ("DNN", "train", "MLPClassifier", "mlpkit train", "docs/cli.md"):
        assert name in mlpkit.__doc__
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner()
    for test in finder.find(mlpkit):
        runner.run(test)
    assert runner.summarize(verbose=False).attempted >= 5 and runner.summarize(verbose=False).failed == 0


def test_a_mit_license_file_matches_the_project_metadata():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) the mlpkit developers" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    assert project_field("license") == '{ text = "MIT" }'


def test_the_readme_says_which_named_sets_need_the_sklearn_extra():
    from mlpkit.datasets.toy import SKLEARN_SETS

    readme = " ".join((ROOT / "README.md").read_text().split())
    sentence = readme[readme.index("The small named sets") :].split(". ")[0]
    assert 'pip install "mlpkit[sklearn]"' in sentence
    assert all(f"`{name}`" in sentence for name in [*SKLEARN_SETS, "moons", "circles"])
