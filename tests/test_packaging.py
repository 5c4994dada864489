"""Packaging facts that a clean install relies on."""
import configparser
import os
import re

from helpers import REPO


def requirement_specs(lines):
    specs = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", line)
        if match:
            specs[match.group(1).lower().replace("_", "-")] = match.group(2).replace(" ", "")
    return specs


def test_build_requirements_agree_with_install_requires():
    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, "setup.cfg"))
    install = requirement_specs(config["options"]["install_requires"].splitlines())
    with open(os.path.join(REPO, "requirements-build.txt")) as handle:
        build = requirement_specs(handle)
    for package in ("tensorflow", "tf-keras"):
        assert build[package] == install[package], package


def test_test_extra_includes_the_akida_runtime():
    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, "setup.cfg"))
    assert "akida" in requirement_specs(config["options.extras_require"]["test"].splitlines())


def test_readme_has_exactly_the_two_setup_commands():
    with open(os.path.join(REPO, "README.md")) as handle:
        readme = handle.read()
    commands = re.findall(r"^\s*(make \w+)\s*$", readme, flags=re.M)
    assert commands[:2] == ["make demo", "make test"]


def test_every_reference_to_the_chip_spec_points_to_the_repository_copy():
    """docs/akida-v1.md is in the repository, and every citation names it and one of its
    sections."""
    import glob

    with open(os.path.join(REPO, "docs", "akida-v1.md")) as handle:
        spec = handle.read()
    sections = set(re.findall(r"^## (\d+)\.", spec, flags=re.M))
    assert {"1", "2", "3", "4", "5", "6", "7", "8"} <= sections
    files = [path for pattern in ("cnn2snn_tfmot/**/*.py", "tests/*.py", "custom_ops/*",
                                  "benchmarks/*.py", "examples/*.py", "README.md")
             for path in glob.glob(os.path.join(REPO, pattern), recursive=True)]
    cited = 0
    for path in files:
        if path.endswith("test_packaging.py"):
            continue  # this test's own pattern
        with open(path, errors="replace") as handle:
            text = handle.read()
        for match in re.finditer(r"([\w./-]*)akida-v1\.md(?:,? sections? ([\d, and to]+))?",
                                 text):
            cited += 1
            assert match.group(1) == "docs/", f"{path}: cites {match.group(0)!r}"
            for number in re.findall(r"\d+", match.group(2) or ""):
                assert number in sections, f"{path}: cites section {number} of docs/akida-v1.md"
    assert cited >= 15


def test_mnist_ships_inside_the_package():
    import cnn2snn_tfmot
    from cnn2snn_tfmot.data.datasets import DEFAULT_MNIST_DIR

    package = os.path.dirname(cnn2snn_tfmot.__file__)
    assert os.path.commonpath([package, DEFAULT_MNIST_DIR]) == package
    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, "setup.cfg"))
    assert "mnist/*.gz" in config["options.package_data"]["cnn2snn_tfmot.data"]


def test_no_benchmark_shadows_a_standard_module():
    """A script's folder comes first on sys.path: benchmarks/statistics.py once hid the
    standard statistics module from every other benchmark."""
    import sys

    names = {name[:-3] for name in os.listdir(os.path.join(REPO, "benchmarks"))
             if name.endswith(".py")}
    assert not names & set(sys.stdlib_module_names), names & set(sys.stdlib_module_names)
