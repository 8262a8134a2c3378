"""The JupyterLab defaults the kit installs (jupyter-settings/): valid for JupyterLab, and in effect.

``pip install -r requirements.txt`` installs ``./jupyter-settings``, a tiny package whose only content is
``cltoolkit.json`` in ``<prefix>/share/jupyter/lab/settings/overrides.d/``; JupyterLab merges it into its
defaults, so the "get notified about news?" pop-up never covers a notebook.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SETTINGS = REPO / "jupyter-settings" / "cltoolkit.json"
INSTALLED = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "cltoolkit.json"


def _schema(plugin: str) -> dict:
    jupyterlab = pytest.importorskip("jupyterlab")
    package, name = plugin.split(":")
    path = Path(jupyterlab.__file__).parent / "schemas" / package / f"{name}.json"
    assert path.is_file(), f"{plugin}: JupyterLab {jupyterlab.__version__} has no settings schema at {path}"
    return json.loads(path.read_text())


def test_settings_are_valid_for_jupyterlab():
    """Every plugin, key and value exists in JupyterLab's own settings schema (a typo would be ignored)."""
    settings = json.loads(SETTINGS.read_text())
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    for plugin, values in settings.items():
        properties = _schema(plugin)["properties"]
        for key, value in values.items():
            assert key in properties, f"{plugin} has no setting {key!r} (it has {sorted(properties)})"
            spec = properties[key]
            if "enum" in spec:
                assert value in spec["enum"], f"{plugin}:{key} = {value!r} is not one of {spec['enum']}"
            elif spec.get("type") == "boolean":
                assert isinstance(value, bool), f"{plugin}:{key} must be true or false, not {value!r}"


def test_requirements_install_the_settings():
    lines = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    assert "./jupyter-settings" in lines, "requirements.txt must install ./jupyter-settings (not editable)"


def test_installed_settings_are_the_repositorys_and_jupyterlab_reads_them():
    """In an environment made with requirements.txt (CI's), JupyterLab's own loader sees the override."""
    if not INSTALLED.is_file():
        pytest.skip(f"{INSTALLED} is not there: this environment was not made with `pip install -r requirements.txt`")
    assert json.loads(INSTALLED.read_text()) == json.loads(SETTINGS.read_text()), (
        f"{INSTALLED} differs from jupyter-settings/cltoolkit.json: `pip install ./jupyter-settings` again"
    )
    settings_utils = pytest.importorskip("jupyterlab_server.settings_utils")
    overrides, error = settings_utils._get_overrides(str(INSTALLED.parent.parent))
    assert not error, error
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
