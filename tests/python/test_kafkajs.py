"""kafkajs (npm) against the endpoint's Kafka face: the script tests/kafkajs/suite.js does what a
Node.js service does, and this checks what it saw."""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Installed by scripts/test next to Azurite.
KAFKAJS = Path(os.environ.get("KAFKAJS_DIR", ROOT / "target" / "tools" / "kafkajs"))


# scripts/test installs it and sets KAFKAJS_DIR, so there a missing install fails; only a bare
# pytest run without it skips.
@pytest.mark.skipif(
    "KAFKAJS_DIR" not in os.environ and not (KAFKAJS / "node_modules" / "kafkajs").is_dir(),
    reason="kafkajs is installed by scripts/test",
)
def test_kafkajs_produces_consumes_commits_resumes_and_rebalances(emulator):
    run = subprocess.run(
        ["node", str(ROOT / "tests" / "kafkajs" / "suite.js")],
        env={
            **os.environ,
            "NODE_PATH": str(KAFKAJS / "node_modules"),
            "BOOTSTRAP": emulator.kafka_bootstrap,
            "PASSWORD": emulator.connection_string(),
        },
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["sent"] == [{"partition": 0, "baseOffset": "0", "errorCode": 0}]
    first, resumed = result["first"], result["resumed"]
    assert [m["value"] for m in first] == [f"js-value-{i}" for i in range(5)]
    assert first[0]["key"] == "js-key-0"
    assert first[0]["headers"] == {"source": "kafkajs", "n": "0"}
    assert [m["value"] for m in resumed] == [f"js-value-{i}" for i in range(5, 10)]
    assert sorted(result["rebalanced"]["a"] + result["rebalanced"]["b"]) == [0, 1, 2, 3]
    assert {"js-group", "js-rebalance"} <= set(result["groups"])
