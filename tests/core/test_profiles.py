"""Every key of every shipped profile is a parameter of its notebook; every notebook declares RUN_NAME."""
from __future__ import annotations

import pytest

from acecoder_lib.core import profiles


@pytest.mark.parametrize("name", profiles.PROFILES)
def test_profile_keys_exist_in_their_notebooks(name):
    profile = profiles.load_profile(name)
    profiles.check_profile(profile)  # raises ProfileError listing every unknown key


def test_every_notebook_takes_run_name_and_profile():
    notebooks = profiles.notebook_paths()
    assert notebooks, "no numbered notebooks found"
    for nb in notebooks:
        declared = profiles.notebook_parameters(nb)
        assert {"RUN_NAME", "PROFILE"} <= set(declared), f"{nb.name} lacks RUN_NAME/PROFILE parameters"
        assert declared["RUN_NAME"]["default"].strip("'\"") == "smoke", f"{nb.name}: smoke is the default run"


def test_every_parameter_is_typed_and_commented():
    for nb in profiles.notebook_paths():
        for key, info in profiles.notebook_parameters(nb).items():
            assert info["inferred_type_name"] != "None", f"{nb.name}: parameter {key} has no type annotation"
            assert info["help"], f"{nb.name}: parameter {key} has no comment saying what it is"


def test_papermill_parses_every_line_of_every_parameters_cell():
    """papermill skips (with only a log line) a parameter whose comment holds '=' and the like; none may be lost."""
    import re

    import nbformat

    for nb in profiles.notebook_paths():
        cell = next(c for c in nbformat.read(nb, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
        assigned = re.findall(r"^([A-Z_][A-Z0-9_]*)\s*:", cell.source, re.M)
        assert sorted(assigned) == sorted(profiles.notebook_parameters(nb)), f"{nb.name}: a parameter is not parsed"


def test_parameter_values_keeps_upper_case_literals_only():
    from IPython.display import HTML

    ns = {"RUN_NAME": "x", "N_SAMPLES": 4, "METHODS": ["llm"], "ARGS": {}, "HTML": HTML, "pd": object(), "low": 1}
    assert profiles.parameter_values(ns) == {"N_SAMPLES": 4, "METHODS": ["llm"], "ARGS": {}}
