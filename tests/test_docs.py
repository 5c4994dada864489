"""The documentation site (mkdocs.yml, docs/): every page of the navigation exists, every public
function and class has an API page, every API directive and every package name a page's code
uses exists, and the site loads nothing remote. (`make docs` builds it with --strict.)"""
import importlib
import importlib.util
import inspect
import os
import re

import pytest

import cnn2snn_tfmot

from helpers import REPO

DOCS = os.path.join(REPO, "docs")


def _read(*parts):
    with open(os.path.join(REPO, *parts), encoding="utf-8") as handle:
        return handle.read()


def _pages():
    """Every Markdown page under docs/ (the griffe extension's folder is not a page)."""
    found = []
    for root, _, files in os.walk(DOCS):
        found += [os.path.relpath(os.path.join(root, name), DOCS) for name in files
                  if name.endswith(".md")]
    return sorted(found)


def _directives():
    """{module path: members (None: all public)} of every `::: module` in the API pages."""
    found = {}
    for page in _pages():
        text = _read("docs", page)
        for match in re.finditer(r"^::: ([\w.]+)\n((?:    .*\n)*)", text, re.M):
            options = match.group(2)
            members = re.search(r"members: (false|\[([^\]]*)\])", options)
            if members is None:
                found[match.group(1)] = None
            elif members.group(1) == "false":
                found[match.group(1)] = []
            else:
                found[match.group(1)] = re.findall(r"\w+", members.group(2))
    return found


def test_every_page_of_the_navigation_exists_and_every_page_is_in_it():
    config = _read("mkdocs.yml")
    nav = re.findall(r"^\s+- (?:[^:\n]+: )?(\S+\.md)\s*$", config, re.M)
    assert nav, "no navigation in mkdocs.yml"
    assert sorted(nav) == _pages()


def test_the_chip_arithmetic_page_stays_where_code_cites_it():
    spec = "docs/akida-v1.md"
    assert os.path.isfile(os.path.join(REPO, spec))
    assert spec.split("/", 1)[1] in _read("mkdocs.yml")  # a page of the site


def test_the_site_loads_no_web_font_and_no_remote_asset():
    config = _read("mkdocs.yml")
    assert re.search(r"^\s+font: false", config, re.M)
    assert "extra_javascript" not in config and "extra_css" not in config


@pytest.mark.parametrize("module, members", sorted(_directives().items()))
def test_every_api_directive_names_existing_objects(module, members):
    imported = importlib.import_module(module)
    for name in members or []:
        assert hasattr(imported, name), f"{module} has no {name}"


def test_every_public_function_and_class_has_an_api_page():
    directives = _directives()
    missing = []
    for name in cnn2snn_tfmot.__all__:
        value = getattr(cnn2snn_tfmot, name)
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        members = directives.get(value.__module__, [])
        if members is not None and name not in members:
            missing.append(f"{name} ({value.__module__})")
    assert not missing, f"public names without an API page: {missing}"
    for module in ("cnn2snn_tfmot.inspection.plots", "cnn2snn_tfmot.data.datasets",
                   "cnn2snn_tfmot.data.zoo", "cnn2snn_tfmot.quantization.layer_table",
                   "cnn2snn_tfmot.akida.statistics"):
        assert directives.get(module, []) is None, module


def _code_blocks(page):
    return re.findall(r"```python\n(.*?)```", _read("docs", page), re.S)


@pytest.mark.parametrize("page", [page for page in _pages() if _code_blocks(page)])
def test_the_package_names_a_page_uses_exist(page):
    for block in _code_blocks(page):
        for module, wrapped, names in re.findall(
                r"^from (cnn2snn_tfmot[\w.]*) import (?:\(([^)]*)\)|([\w, ]+)$)", block, re.M):
            names = wrapped or names
            imported = importlib.import_module(module)
            for name in re.findall(r"\w+", names):
                assert hasattr(imported, name) or importlib.util.find_spec(
                    f"{module}.{name}"), f"{page}: {module} has no {name}"
        for dotted in re.findall(r"\bcnn2snn_tfmot((?:\.\w+)+)", block):
            value = cnn2snn_tfmot
            for part in dotted.strip(".").split("."):
                if not hasattr(value, part):
                    value = importlib.import_module(f"{value.__name__}.{part}")
                else:
                    value = getattr(value, part)
        for function in re.findall(r"\bplots\.(\w+)\(", block):
            assert function in cnn2snn_tfmot.inspection.plots.__all__, f"{page}: plots.{function}"
        for method in re.findall(r"\bakida_model\.(\w+)\(", block):
            assert hasattr(cnn2snn_tfmot.akida.Model, method), f"{page}: Model.{method}"
