//! `hubscope props` as a script would run it: the real binary against the embedded endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use azure_messaging_eventhubs::SendEventOptions;
use common::{hubscope, stderr};
use hubscope::profiles::{Profile, ProfileKind, ProfileStore, ProfilesFile, Secret};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_partition_properties_as_json_and_text() {
    let emu = common::emulator().await;
    let producer = common::producer(&emu, "eh1").await;
    for i in 0..3 {
        let options = SendEventOptions {
            partition_id: Some("1".into()),
        };
        tokio::time::timeout(
            common::PATIENCE,
            producer.send_event(format!("e{i}"), Some(options)),
        )
        .await
        .expect("in time")
        .expect("sent");
    }
    let cs = emu.connection_string();
    let dir = tempfile::tempdir().unwrap();
    let json = tokio::task::spawn_blocking({
        let (cs, dir) = (cs.clone(), dir.path().to_path_buf());
        move || {
            hubscope(
                &[
                    "props",
                    "--connection-string",
                    &cs,
                    "--hub",
                    "eh1",
                    "--output",
                    "json",
                ],
                &dir,
            )
        }
    })
    .await
    .unwrap();
    assert!(json.status.success(), "{}", stderr(&json));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON out");
    assert_eq!(value["name"], "eh1");
    let partitions = value["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 2);
    assert_eq!(partitions[0]["is_empty"], true);
    assert_eq!(partitions[1]["is_empty"], false);
    assert_eq!(partitions[1]["last_enqueued_sequence_number"], 2);
    assert!(partitions[1]["last_enqueued_time"]
        .as_str()
        .expect("time")
        .ends_with('Z'));

    let text = tokio::task::spawn_blocking({
        let (cs, dir) = (format!("{cs}EntityPath=eh1"), dir.path().to_path_buf());
        move || hubscope(&["props", "--connection-string", &cs], &dir)
    })
    .await
    .unwrap();
    assert!(text.status.success(), "{}", stderr(&text));
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.starts_with("hub eh1 at "), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with('1') && l.trim_end().ends_with('3')),
        "{out}"
    );
    producer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_saved_by_the_app_work_by_name() {
    let emu = common::emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut profile = Profile::new_connection_string();
    profile.name = "Team Hub".into();
    profile.kind = ProfileKind::ConnectionString {
        connection_string: Secret::new(emu.connection_string()),
        hub: Some("eh1".into()),
    };
    let mut local = Profile::local_emulator();
    if let ProfileKind::LocalEmulator { port, .. } = &mut local.kind {
        *port = emu.local_addr.port();
    }
    ProfileStore::in_dir(dir.path())
        .save(&ProfilesFile {
            profiles: vec![profile, local],
            ..ProfilesFile::default()
        })
        .unwrap();
    let path = dir.path().to_path_buf();
    let (by_name, local, missing) = tokio::task::spawn_blocking(move || {
        (
            hubscope(
                &["props", "--profile", "team hub", "--output", "json"],
                &path,
            ),
            hubscope(
                &["props", "--profile", "Local emulator", "--output", "json"],
                &path,
            ),
            hubscope(&["props", "--profile", "nope"], &path),
        )
    })
    .await
    .unwrap();
    assert!(by_name.status.success(), "{}", stderr(&by_name));
    assert!(
        local.status.success(),
        "a local-emulator profile dials its port: {}",
        stderr(&local)
    );
    assert!(!missing.status.success());
    let message = stderr(&missing);
    assert!(
        message.contains("no profile named `nope`") && message.contains("Team Hub"),
        "{message}"
    );
}

#[test]
fn bad_input_and_dead_endpoints_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let malformed = hubscope(
        &[
            "props",
            "--connection-string",
            "SharedAccessKeyName=a;SharedAccessKey=b",
            "--hub",
            "h",
        ],
        dir.path(),
    );
    assert!(!malformed.status.success());
    assert!(
        stderr(&malformed).contains("`Endpoint` is missing"),
        "{}",
        stderr(&malformed)
    );

    let no_hub = hubscope(
        &[
            "props",
            "--connection-string",
            "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b",
        ],
        dir.path(),
    );
    assert!(
        stderr(&no_hub).contains("no EntityPath"),
        "{}",
        stderr(&no_hub)
    );

    let port = common::free_port();
    let started = Instant::now();
    let dead = hubscope(
        &[
            "props",
            "--connection-string",
            &format!("Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true"),
            "--hub",
            "eh1",
            "--timeout-secs",
            "5",
        ],
        dir.path(),
    );
    assert!(!dead.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "no hang on a dead endpoint"
    );
    assert!(
        stderr(&dead).starts_with("error: could not"),
        "{}",
        stderr(&dead)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_hub_is_named_in_the_error() {
    let emu = common::emulator().await;
    let cs = emu.connection_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        hubscope(
            &["props", "--connection-string", &cs, "--hub", "nosuchhub"],
            &path,
        )
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(message.contains("nosuchhub"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_refused_with_a_clear_message() {
    use hubscope::emulator::{AuthMode, EmulatorConfig, DEFAULT_KEY_NAME};
    let emu = common::emulator_with(EmulatorConfig {
        auth: AuthMode::SharedAccessKey {
            key_name: DEFAULT_KEY_NAME.to_owned(),
            key: "the-right-key".to_owned(),
        },
        ..EmulatorConfig::default()
    })
    .await;
    // The emulator's printed connection string carries the default key, not the one it verifies.
    let cs = emu.connection_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        hubscope(
            &["props", "--connection-string", &cs, "--hub", "eh1"],
            &path,
        )
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "refused within the timeout"
    );
    let message = stderr(&out);
    assert!(message.starts_with("error: could not"), "{message}");
    assert!(message.to_lowercase().contains("authoriz"), "{message}");
}

#[test]
fn completions_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = common::hubscope(&["completions", shell], dir.path());
        assert!(out.status.success(), "{}", common::stderr(&out));
        let script = common::stdout(&out);
        for command in ["props", "send", "tail", "load", "lag", "emulator"] {
            assert!(script.contains(command), "{shell} completes {command}");
        }
    }
    let bad = common::hubscope(&["completions", "tcsh"], dir.path());
    assert!(!bad.status.success());
}
