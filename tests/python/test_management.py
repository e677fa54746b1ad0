"""Hubs and consumer groups made through `hubscope hubs` / `hubscope groups` (the management API)
are at once what the official Python client sends to and reads from."""
import json
import os
import subprocess
from pathlib import Path

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

from helpers import collect

ROOT = Path(__file__).resolve().parents[2]
HUBSCOPE = Path(os.environ.get("HUBSCOPE_BIN", ROOT / "target" / "debug" / "hubscope"))


def hubscope(emu, *args, key=None, env=None):
    namespace_cs = emu.connection_string(key=key).rsplit(";EntityPath=", 1)[0]
    command = [
        str(HUBSCOPE),
        *args,
        "--connection-string",
        namespace_cs,
        "--management-endpoint",
        emu.management_url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def test_a_created_hub_and_group_are_used_by_the_python_client(verifying_emulator):
    emu = verifying_emulator
    made = hubscope(emu, "hubs", "create", "orders", "--partitions", "3")
    assert made.returncode == 0, made.stderr
    made = hubscope(emu, "groups", "create", "--hub", "orders", "audit")
    assert made.returncode == 0, made.stderr

    listed = hubscope(emu, "hubs", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    hubs = {h["name"]: h for h in json.loads(listed.stdout)["hubs"]}
    assert hubs["orders"]["partition_ids"] == ["0", "1", "2"]
    assert hubs["orders"]["consumer_groups"] == ["$Default", "audit"]

    with EventHubProducerClient.from_connection_string(emu.connection_string("orders")) as p:
        assert p.get_eventhub_properties()["partition_ids"] == ["0", "1", "2"]
        batch = p.create_batch(partition_id="1")
        for i in range(3):
            batch.add(EventData(f"new-{i}"))
        p.send_batch(batch)
    consumer = EventHubConsumerClient.from_connection_string(
        emu.connection_string("orders"), consumer_group="audit"
    )
    events, errors, _ = collect(consumer, 3, starting_position="-1")
    assert not errors
    assert sorted(e.body_as_str() for e in events) == ["new-0", "new-1", "new-2"]

    gone = hubscope(emu, "hubs", "delete", "orders")
    assert gone.returncode == 0, gone.stderr
    again = hubscope(emu, "hubs", "delete", "orders")
    assert again.returncode != 0
    assert "could not be found" in again.stderr


def test_a_wrong_key_is_refused_in_one_line(verifying_emulator):
    refused = hubscope(verifying_emulator, "hubs", key="guess")
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "refused the credential" in lines[0] and "invalid signature" in lines[0]
    assert "Error {" not in refused.stderr and "Some(" not in refused.stderr


def test_a_refused_key_falls_back_to_resource_manager_with_the_cli_sign_in(
    verifying_emulator, emulator, tmp_path
):
    """The namespace refuses the key; Resource Manager (the second endpoint, which serves ARM's
    shape of the API) takes the Azure CLI's token. `az` is a stand-in here: the one piece of the
    path that needs a real sign-in."""
    az = tmp_path / "az"
    asked = tmp_path / "az-asked"
    az.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {asked}\n'
        'echo \'{"accessToken":"eyJhbGciOiJub25lIn0.e30.","expiresOn":"2099-01-01 00:00:00.000000",'
        '"expires_on":4070908800,"tokenType":"Bearer"}\'\n'
    )
    az.chmod(0o755)
    signed_in = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    arm = ["--subscription", "s1", "--resource-group", "streams", "--arm-endpoint", emulator.management_url]
    made = hubscope(verifying_emulator, "hubs", "create", "orders", "--partitions", "2", *arm, key="guess", env=signed_in)
    assert made.returncode == 0, made.stderr
    listed = hubscope(verifying_emulator, "hubs", "--output", "json", *arm, key="guess", env=signed_in)
    assert listed.returncode == 0, listed.stderr
    names = [h["name"] for h in json.loads(listed.stdout)["hubs"]]
    assert names == ["eh1", "orders"], listed.stdout
    assert json.loads(listed.stdout)["resource_manager"] == emulator.management_url, listed.stdout
    # The token is for the Resource Manager named, as a sovereign cloud's is for its own.
    assert f"--scope {emulator.management_url}/.default" in asked.read_text(), asked.read_text()
    # The hub is the second endpoint's; the namespace that refused the key is unchanged.
    producer = EventHubProducerClient.from_connection_string(emulator.connection_string(hub="orders"))
    with producer:
        assert producer.get_partition_ids() == ["0", "1"]
    own = hubscope(verifying_emulator, "hubs", "--output", "json", key=None)
    assert [h["name"] for h in json.loads(own.stdout)["hubs"]] == ["eh1"], own.stderr
    assert json.loads(own.stdout)["resource_manager"] is None

    signed_out = {**os.environ, "PATH": str(tmp_path / "nothing-here")}
    refused = hubscope(verifying_emulator, "hubs", *arm, key="guess", env=signed_out)
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "Resource Manager needs an Entra ID sign-in" in lines[0], lines[0]


def test_health_and_the_banner(emulator):
    import urllib.request

    with urllib.request.urlopen(f"{emulator.management_url}/health", timeout=10) as answer:
        assert json.loads(answer.read())["status"] == "healthy"


def test_the_api_is_https_when_the_endpoint_has_tls(tmp_path):
    import ssl
    import urllib.request

    from conftest import start, stop

    emu = start("--tls-port", "0", "--data-dir", str(tmp_path / "data"))
    try:
        assert emu.management_url.startswith("https://"), emu.management_url
        trust = ssl.create_default_context(cafile=emu.tls_certificate)
        with urllib.request.urlopen(f"{emu.management_url}/health", context=trust, timeout=10) as answer:
            assert json.loads(answer.read())["status"] == "healthy"
        request = urllib.request.Request(f"{emu.management_url}/$Resources/EventHubs?api-version=2014-01")
        with urllib.request.urlopen(request, context=trust, timeout=10) as answer:
            feed = answer.read().decode()
        assert "<title type=\"text\">eh1</title>" in feed, feed
    finally:
        stop(emu)
