//! The desktop app driven like a person would, by labels, through `egui_kittest`, against the
//! real runtime and the embedded endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ui::{app, shows, type_into, wait_for};

use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use hubscope::emulator::{EmulatorConfig, RunningEmulator};
use hubscope::profiles::{ProfileStore, ProfilesFile};

fn saved(dir: &Path) -> ProfilesFile {
    ProfileStore::in_dir(dir).load().expect("load").file
}

fn wait_until_saved(dir: &Path, what: &str, done: impl Fn(&ProfilesFile) -> bool) {
    let deadline = Instant::now() + common::PATIENCE;
    while !done(&saved(dir)) {
        assert!(
            Instant::now() < deadline,
            "profiles file never showed {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn background_emulator() -> (tokio::runtime::Runtime, RunningEmulator) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let emulator = runtime
        .block_on(RunningEmulator::start(
            EmulatorConfig::default(),
            "127.0.0.1:0",
        ))
        .expect("emulator");
    (runtime, emulator)
}

#[test]
fn first_run_connects_to_the_embedded_endpoint_and_previews_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1280.0, 800.0]);
    wait_for(&mut harness, "the inspector", |h| shows(h, "Hub eh1"));
    assert!(shows(&harness, "Connected to Local emulator"));
    assert_eq!(harness.get_all_by_label("Retained events").count(), 1);
    // Two partitions, both empty.
    assert_eq!(harness.get_all_by_label("yes").count(), 2);

    type_into(&mut harness, "Partition key", "device-42");
    let expected = hubscope::partition_key::partition_index("device-42", 2);
    assert!(shows(&harness, &format!("goes to partition {expected}")));
    // Nothing was written: the user has not changed anything yet.
    assert!(!dir.path().join("profiles.json").exists());
}

#[test]
fn a_new_profile_is_validated_saved_tested_edited_and_deleted() {
    let (_runtime, emulator) = background_emulator();
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1280.0, 800.0]);
    wait_for(&mut harness, "the first connection", |h| {
        shows(h, "Hub eh1")
    });

    harness.get_by_label("New profile").click();
    harness.run_steps(3);
    type_into(&mut harness, "Name", "staging");
    type_into(
        &mut harness,
        "Connection string",
        "SharedAccessKeyName=a;SharedAccessKey=b",
    );
    assert!(
        shows(&harness, "`Endpoint` is missing"),
        "validation is shown inline"
    );
    harness.get_by_label("Save").click();
    harness.run_steps(3);
    assert!(
        harness.query_by_label("Cancel").is_some(),
        "an invalid profile cannot be saved: the editor stays"
    );
    assert!(harness.query_by_label("staging").is_none());

    let cs = format!("{}EntityPath=eh1", emulator.connection_string());
    type_into(&mut harness, "Connection string", &cs);
    assert!(!shows(&harness, "is missing"));
    harness.get_by_label("Save").click();
    harness.run_steps(3);
    assert!(
        harness.query_by_label("staging").is_some(),
        "listed after saving"
    );
    wait_until_saved(dir.path(), "the new profile", |f| {
        f.find("staging").is_some()
    });

    harness.get_by_label("Test").click();
    wait_for(&mut harness, "the test result", |h| {
        shows(h, "Test of staging")
    });
    assert!(
        shows(&harness, "Test of staging passed"),
        "test against the embedded endpoint"
    );
    assert!(shows(&harness, "partitions 0, 1"));

    harness.get_by_label("Edit").click();
    harness.run_steps(3);
    type_into(&mut harness, "Name", "staging-2");
    harness.get_by_label("Save").click();
    harness.run_steps(3);
    assert!(harness.query_by_label("staging-2").is_some());
    wait_until_saved(dir.path(), "the rename", |f| {
        f.find("staging-2").is_some() && f.find("staging").is_none_or(|p| p.name != "staging")
    });

    harness.get_by_label("Delete").click();
    harness.run_steps(3);
    harness.get_by_label("Yes, delete").click();
    harness.run_steps(3);
    assert!(harness.query_by_label("staging-2").is_none());
    wait_until_saved(dir.path(), "the deletion", |f| {
        f.find("staging-2").is_none() && !f.profiles.is_empty()
    });
}

#[test]
fn an_unreachable_endpoint_fails_the_test_with_a_clear_message() {
    // A port that was free a moment ago: nothing listens there.
    let port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1280.0, 800.0]);
    harness.get_by_label("New profile").click();
    harness.run_steps(3);
    type_into(&mut harness, "Name", "dead");
    type_into(
        &mut harness,
        "Connection string",
        &format!("Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;EntityPath=eh1"),
    );
    harness.get_by_label("Save").click();
    harness.run_steps(3);
    let started = Instant::now();
    harness.get_by_label("Test").click();
    wait_for(&mut harness, "the test result", |h| {
        shows(h, "Test of dead")
    });
    assert!(shows(&harness, "Test of dead failed"));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "within the test timeout"
    );
}

#[test]
fn a_corrupt_profiles_file_is_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("profiles.json"), "{ this is not json").unwrap();
    let mut harness = app(dir.path(), [1280.0, 800.0]);
    harness.run_steps(3);
    assert!(shows(&harness, "Your profiles file could not be used"));
    let kept = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
    assert!(kept, "the unreadable file is set aside, not overwritten");
}

#[test]
fn a_connection_string_profile_on_the_embedded_endpoint_reconnects_after_a_restart() {
    use hubscope::profiles::{Profile, ProfileKind, Secret};
    let port = common::free_port();
    let local = Profile {
        kind: ProfileKind::LocalEmulator {
            port,
            config_path: None,
            hub: "eh1".into(),
        },
        ..Profile::local_emulator()
    };
    // The profile the user connected last: a connection string copied from the in-app endpoint.
    let copied = Profile {
        name: "copied".into(),
        kind: ProfileKind::ConnectionString {
            connection_string: Secret::new(format!(
                "Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=k;SharedAccessKey=v;\
                 UseDevelopmentEmulator=true;EntityPath=eh1"
            )),
            hub: None,
        },
        ..Profile::local_emulator()
    };
    let file = ProfilesFile {
        selected: Some("copied".into()),
        profiles: vec![local, copied],
        ..ProfilesFile::default()
    };
    let dir = tempfile::tempdir().unwrap();
    ProfileStore::in_dir(dir.path()).save(&file).unwrap();
    let mut harness = app(dir.path(), [1280.0, 800.0]);
    wait_for(&mut harness, "the reconnection", |h| {
        shows(h, "Hub eh1") && shows(h, "copied (connected)")
    });
    assert!(shows(&harness, "Connected to copied"));
}

#[test]
fn the_profile_list_never_claims_more_than_the_status_bar() {
    use hubscope::profiles::{Profile, ProfileKind, Secret};
    let dead = Profile {
        name: "dead".into(),
        kind: ProfileKind::ConnectionString {
            connection_string: Secret::new(format!(
                "Endpoint=sb://127.0.0.1:{};SharedAccessKeyName=k;SharedAccessKey=v;\
                 UseDevelopmentEmulator=true;EntityPath=eh1",
                common::free_port()
            )),
            hub: None,
        },
        ..Profile::local_emulator()
    };
    let file = ProfilesFile {
        selected: Some("dead".into()),
        profiles: vec![dead],
        ..ProfilesFile::default()
    };
    let dir = tempfile::tempdir().unwrap();
    ProfileStore::in_dir(dir.path()).save(&file).unwrap();
    // The narrowest window the app is made for: the status line is longer than its room.
    let mut harness = app(dir.path(), [900.0, 600.0]);
    wait_for(&mut harness, "the failure", |h| {
        shows(h, "Not connected to dead")
    });
    assert!(shows(&harness, "dead (not connected)"));
    assert!(!shows(&harness, "dead (connected)"));
    // Cut short before the status bar's controls, not run under them.
    let line = harness
        .get_by_label_contains("Not connected to dead")
        .rect();
    let theme = harness.get_by_label("Theme").rect();
    assert!(
        line.max.x <= theme.min.x,
        "the status line {line:?} runs under the theme control {theme:?}"
    );
}

#[test]
fn an_empty_hub_offers_next_steps() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1280.0, 800.0]);
    wait_for(&mut harness, "the first connection", |h| {
        shows(h, "This hub is empty.")
    });
    assert_eq!(
        harness.query_all_by_label("-1").count(),
        0,
        "an empty partition shows no -1"
    );
    harness.get_by_label("Send 20 sample events").click();
    // Dealt over both partitions: ten each, and the hub is no longer empty.
    wait_for(&mut harness, "the samples", |h| {
        !shows(h, "This hub is empty.") && h.query_all_by_label("10").count() >= 2
    });
    assert_eq!(
        harness.query_all_by_label("-1").count(),
        0,
        "no -1 for a last event"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut fresh = app(dir.path(), [1280.0, 800.0]);
    wait_for(&mut fresh, "an empty hub", |h| {
        shows(h, "This hub is empty.")
    });
    fresh.get_by_label("Open the Live tab").click();
    wait_for(&mut fresh, "the Live tab", |h| {
        shows(h, "Choose where to start and press Start")
    });
    drop(fresh);

    let dir = tempfile::tempdir().unwrap();
    let mut demo = app(dir.path(), [1280.0, 800.0]);
    wait_for(&mut demo, "an empty hub", |h| {
        shows(h, "This hub is empty.")
    });
    demo.get_by_label("Start a 30-second demo load").click();
    wait_for(&mut demo, "the demo load to run", |h| {
        shows(h, "Stop load") && shows(h, "sent, 0 failed")
    });
    assert_eq!(demo.state().view, hubscope::ui::View::Load);
    assert_eq!(demo.state().load.rate, "200");
}

#[test]
fn profiles_go_out_and_come_back_through_the_apps_file_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1280.0, 800.0]);
    wait_for(&mut harness, "the first connection", |h| {
        shows(h, "Hub eh1")
    });
    let file = dir.path().join("exported.json");
    harness.get_by_label("Export…").click();
    wait_for(&mut harness, "the prompt", |h| {
        shows(h, "Export profiles without secrets")
    });
    type_into(&mut harness, "File", file.to_str().unwrap());
    harness.get_by_label("Export").click();
    wait_for(&mut harness, "the export", |h| {
        shows(h, "Exported 1 profile(s) to")
    });
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("Local emulator"));

    // A corrupt file is refused with the reason, and nothing changes.
    let corrupt = dir.path().join("corrupt.json");
    std::fs::write(&corrupt, "{ not json").unwrap();
    harness.get_by_label("Import…").click();
    wait_for(&mut harness, "the prompt", |h| shows(h, "Import profiles"));
    type_into(
        &mut harness,
        "File",
        dir.path().join("absent.json").to_str().unwrap(),
    );
    harness.get_by_label("Import").click();
    harness.run_steps(2);
    assert!(
        shows(&harness, "does not exist"),
        "a missing file is said in the prompt"
    );
    type_into(&mut harness, "File", corrupt.to_str().unwrap());
    harness.get_by_label("Import").click();
    wait_for(&mut harness, "the refusal", |h| {
        shows(h, "Nothing was imported")
    });
    assert_eq!(harness.state().profiles.file.profiles.len(), 1);

    harness.get_by_label("Import…").click();
    wait_for(&mut harness, "the prompt", |h| shows(h, "Import profiles"));
    type_into(&mut harness, "File", file.to_str().unwrap());
    harness.get_by_label("Import").click();
    wait_for(&mut harness, "the import", |h| {
        shows(h, "Imported 1 profile(s)")
    });
    assert_eq!(harness.state().profiles.file.profiles.len(), 2);
}

#[test]
fn a_draft_is_tested_before_it_is_saved() {
    let (_runtime, emulator) = background_emulator();
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1280.0, 800.0]);
    wait_for(&mut harness, "the first connection", |h| {
        shows(h, "Hub eh1")
    });
    harness.get_by_label("New profile").click();
    harness.run_steps(3);
    type_into(&mut harness, "Name", "draft");
    let cs = format!("{}EntityPath=eh1", emulator.connection_string());
    type_into(&mut harness, "Connection string", &cs);
    harness.get_by_label("Test this profile").click();
    wait_for(&mut harness, "the draft's test", |h| {
        shows(h, "Test of draft passed")
    });
    assert!(
        harness.query_by_label("Cancel").is_some(),
        "still editing: nothing was saved"
    );
    assert!(saved(dir.path()).find("draft").is_none());
}

#[test]
fn keyboard_shortcuts_switch_tabs_pause_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1280.0, 800.0]);
    wait_for(&mut harness, "the first connection", |h| {
        shows(h, "Hub eh1")
    });
    harness.key_press(egui::Key::F1);
    harness.run_steps(3);
    assert!(shows(&harness, "Keyboard shortcuts"), "F1 lists them");
    harness.key_press(egui::Key::Escape);
    harness.run_steps(3);
    assert!(
        !shows(&harness, "Keyboard shortcuts"),
        "Esc closes the list"
    );
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num3);
    harness.run_steps(3);
    assert_eq!(harness.state().view, hubscope::ui::View::Live);
    harness.get_by_label("Start").click();
    wait_for(&mut harness, "the readers", |h| {
        h.query_by_label("Pause").is_some()
    });
    harness.key_press(egui::Key::Space);
    wait_for(&mut harness, "the pause", |h| {
        h.query_by_label("Resume").is_some()
    });
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num1);
    harness.run_steps(3);
    assert_eq!(harness.state().view, hubscope::ui::View::Inspector);
}
