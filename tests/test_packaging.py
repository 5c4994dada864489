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
