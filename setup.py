"""Packaging shim: the metadata lives in setup.cfg.

The only thing computed here is the package list, because the import names
(`clientnest`, `clientnest.api`) differ from the folders on disk (`core/`,
`api/`) and setuptools' finder cannot map that by itself.
"""
from setuptools import find_packages, setup


def _packages(folder: str, prefix: str) -> list[str]:
    return [prefix] + [f"{prefix}.{name}" for name in find_packages(folder)]


setup(packages=_packages("core", "clientnest") + _packages("api", "clientnest.api"))
