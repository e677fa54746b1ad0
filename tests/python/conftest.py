"""Fixtures: a fresh `hubscope emulator` process per test, reached by the official client."""
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The headless endpoint (`hubscope-emulator`, no GUI linked); `hubscope emulator` is the same.
BINARY = Path(
    os.environ.get("HUBSCOPE_EMULATOR_BIN", ROOT / "target" / "debug" / "hubscope-emulator")
)


class Emulator:
    def __init__(self, process, port, key="SAS_KEY_VALUE", key_name="RootManageSharedAccessKey"):
        self.process = process
        self.port = port
        self.key = key
        self.key_name = key_name
        # Filled from the banner when the emulator serves them.
        self.tls_port = None
        self.ws_port = None
        self.tls_certificate = None
        self.management_url = None
        self.kafka_bootstrap = None
        self.kafka_tls_bootstrap = None

    def kafka_config(self, password=None):
        """confluent-kafka's settings for the plain Kafka port, as Microsoft's emulator wants."""
        return {
            "bootstrap.servers": self.kafka_bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "$ConnectionString",
            "sasl.password": password or self.connection_string(),
        }

    def connection_string(self, hub="eh1", key=None, key_name=None):
        return (
            f"Endpoint=sb://127.0.0.1:{self.port};"
            f"SharedAccessKeyName={key_name or self.key_name};"
            f"SharedAccessKey={key or self.key};UseDevelopmentEmulator=true;EntityPath={hub}"
        )


def start(*args, key=None):
    # A free port for the management API: tests run endpoints one after another, and 5300 may
    # be someone else's.
    command = [str(BINARY), "--port", "0", "--management-port", "0", "--kafka-port", "0", *args]
    env = dict(os.environ)
    if key:
        env["HUBSCOPE_SAS_KEY"] = key
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    first = process.stdout.readline()
    if "listening on" not in first:
        process.kill()
        raise RuntimeError(f"emulator did not start: {first!r}")
    port = int(first.strip().rsplit(":", 1)[1])
    emulator = Emulator(process, port, key=key or "SAS_KEY_VALUE")
    # The banner names each listener, then the connection string, then the certificate.
    while True:
        line = process.stdout.readline()
        if not line or line.startswith("connection string"):
            break
        if " Kafka on " in line:
            address = line.split(" Kafka on ", 1)[1].split(" ", 1)[0]
            if "SASL_SSL" in line:
                emulator.kafka_tls_bootstrap = address
            else:
                emulator.kafka_bootstrap = address
            continue
        scheme, _, address = line.strip().rpartition(" ")[2].partition("://")
        if scheme == "amqps":
            emulator.tls_port = int(address.rsplit(":", 1)[1])
        elif scheme == "ws":
            emulator.ws_port = int(address.rsplit(":", 1)[1])
        elif scheme in ("http", "https"):
            emulator.management_url = f"{scheme}://{address}"
    if emulator.tls_port or emulator.kafka_tls_bootstrap:
        line = process.stdout.readline()
        assert line.startswith("tls certificate: "), line
        emulator.tls_certificate = line.split(": ", 1)[1].strip()
    # Keep draining its output, as a terminal would.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return emulator


def stop(emulator):
    emulator.process.terminate()
    try:
        emulator.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        emulator.process.kill()
        raise


@pytest.fixture
def emulator():
    emu = start()
    yield emu
    stop(emu)


@pytest.fixture
def topology(tmp_path):
    """An emulator serving a Config.json in the official emulator's format."""
    config = {
        "UserConfig": {
            "NamespaceConfig": [
                {
                    "Type": "EventHub",
                    "Name": "emulatorNs1",
                    "Entities": [
                        {"Name": "eh1", "PartitionCount": "2", "ConsumerGroups": [{"Name": "cg1"}]},
                        {"Name": "four", "PartitionCount": 4, "ConsumerGroups": []},
                    ],
                }
            ],
            "LoggingConfig": {"Type": "File"},
        }
    }
    path = tmp_path / "Config.json"
    path.write_text(json.dumps(config))
    emu = start("--config", str(path))
    yield emu
    stop(emu)


@pytest.fixture
def verifying_emulator():
    emu = start(key="py-s3cret")
    yield emu
    stop(emu)


def wait_until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
