"""Griffe extension of the documentation build: reads the package's docstrings as written.

The docstrings follow the house style (Google sections with "Arguments:" and a runnable
"Example:", Sphinx roles such as :class:`Model` in the prose). Griffe reads "Examples:" (plural)
as a section of code examples and would take "Example:" for an admonition whose ">>>" lines
render as prose, and Markdown shows Sphinx roles literally. This extension, applied to every
object as it is loaded, turns "Example:" headers into "Examples:" and roles into code spans;
the docstrings themselves stay as the doctests need them.
"""
import re

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.M)
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):`~?\.?([^`]+)`")


class HouseStyle(griffe.Extension):
    """Rewrites each docstring once, when its object is loaded."""

    def on_instance(self, *, obj, **kwargs):
        docstring = obj.docstring
        if docstring is None:
            return
        value = _EXAMPLE.sub(r"\1Examples:", docstring.value)
        docstring.value = _ROLE.sub(r"`\1`", value)
