"""ExecutionEngine(backend="ray"): batches through Ray tasks give the same verdicts as the local pool."""
from __future__ import annotations

import pytest

from acecoder_lib.execution import ExecConfig, ExecutionEngine

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray
CFG = ExecConfig(test_timeout_s=0.5, setup_timeout_s=1.0, wall_factor=2.0, wall_slack_s=0.5)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _batch():
    programs, tests = [], []
    for i in range(30):
        kind = i % 5
        if kind == 0:
            programs.append(f"def f(x):\n    return x + {i}\n")
        elif kind == 1:
            programs.append(f"def f(x):\n    return x + {i + 1}\n")  # wrong
        elif kind == 2:
            programs.append("def f(x):\n    while True:\n        pass\n")
        elif kind == 3:
            programs.append("def f(x:\n")
        else:
            programs.append("import os\ndef f(x):\n    os._exit(1)\n")
        tests.append([f"assert f(1) == {1 + i}", f"assert f(2) == {2 + i}"])
    programs.append(b"\xff")
    tests.append(["assert 1"])
    return programs, tests


def test_ray_backend_matches_local(local_ray):
    programs, tests = _batch()
    with ExecutionEngine(backend="ray", config=CFG, ray_batch_size=7) as eng:
        remote = eng.run(programs, tests)
    with ExecutionEngine(workers=2, config=CFG) as eng:
        local = eng.run(programs, tests)
    assert [r.index for r in remote] == list(range(len(programs)))
    assert [(r.status, r.verdicts) for r in remote] == [(r.status, r.verdicts) for r in local]
    assert remote[0].verdicts == ["pass", "pass"] and remote[1].verdicts == ["fail", "fail"]
    assert remote[2].verdicts == ["timeout", "timeout"] and remote[3].status == "syntax_error"
    assert remote[4].verdicts == ["crash", "crash"] and remote[-1].status == "invalid_input"
    assert ray.is_initialized()  # an engine that did not start Ray leaves it running
