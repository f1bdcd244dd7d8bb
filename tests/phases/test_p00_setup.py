"""Setup check (phase 00): which models it prepares on its own."""
from __future__ import annotations

from acecoder_lib.llm import models
from acecoder_lib.phases import p00_setup


def test_model_rows_build_the_embedded_models_and_a_packaged_one_only_when_asked(monkeypatch):
    infos = {"small": {"name": "small", "kind": "embedded", "ready": False, "buildable": True},
             "big": {"name": "big", "kind": "packaged", "ready": False, "buildable": True},
             "gone": {"name": "gone", "kind": "packaged", "ready": False, "buildable": False, "why_not": "no parts"}}
    built = []
    monkeypatch.setattr(models, "list_models", lambda: [dict(i, ready=i["name"] in built) for i in infos.values()])
    monkeypatch.setattr(models, "model_info", lambda name: dict(infos[name], ready=name in built))
    monkeypatch.setattr(models, "resolve_model", lambda name: built.append(name))
    rows = {r["component"]: r for r in p00_setup.model_rows(build=True)}
    assert built == ["small"]  # the packaged model (GBs, minutes) is listed, not built
    assert rows["big"]["available"] and not rows["gone"]["available"] and rows["gone"]["why_not"] == "no parts"
    p00_setup.model_rows(build=True, also=("big",))
    assert built == ["small", "big"]
    built.clear()
    p00_setup.model_rows(build=False, also=("big",))
    assert built == []
