//! The Consumer groups tab driven by label: the app on its embedded endpoint, a profile whose
//! checkpoint store is Azurite, checkpoints written there as the SDKs write them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ui::{app_port, send_to_partition_0, shows, type_into, wait_for, App};
use egui_kittest::kittest::{NodeT as _, Queryable};
use hubscope::checkpoints::Layout;
use hubscope::profiles::{CheckpointStoreSettings, Profile, ProfileStore, ProfilesFile, Secret};

/// The app on a first-run-like profiles file whose emulator profile has a checkpoint store.
fn app_with_store(dir: &std::path::Path, container: &str) -> App {
    let profile = Profile {
        checkpoint_store: Some(CheckpointStoreSettings {
            store: Secret::new(common::azurite::connection_string()),
            container: container.to_string(),
            layout: Layout::Auto,
            // A group the user added: shown before it ever checkpoints.
            groups: vec!["reporting".into()],
            ..CheckpointStoreSettings::default()
        }),
        ..Profile::local_emulator()
    };
    let file = ProfilesFile {
        selected: Some(profile.name.clone()),
        profiles: vec![profile],
        ..ProfilesFile::default()
    };
    ProfileStore::in_dir(dir).save(&file).unwrap();
    common::ui::app(dir, [1400.0, 1000.0])
}

#[test]
fn the_tab_shows_each_groups_lag_and_the_most_urgent_one() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let container = runtime.block_on(common::azurite::new_container());
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app_with_store(dir.path(), &container);
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    let port = app_port(&harness);
    runtime.block_on(async {
        send_to_partition_0(port, (0..6).map(|i| format!("event {i}"))).await;
        // cg1 has read partition 0 up to sequence number 2: 3 of the 6 are left.
        let prefix = format!("127.0.0.1:{port}/eh1/cg1");
        common::azurite::write_checkpoint(&container, &prefix, "0", 2).await;
    });

    harness.get_by_label("Consumer groups").click();
    // $Default lags more (all 6), but nobody checkpoints it: cg1 is the group that is behind.
    wait_for(&mut harness, "the groups", |h| {
        shows(h, "cg1 (most urgent)") && shows(h, "$Default (no checkpoints)")
    });
    assert!(
        shows(&harness, "reporting (no checkpoints)"),
        "a group the user added"
    );
    assert!(shows(
        &harness,
        &format!("Checkpoints in container `{container}`")
    ));
    assert!(
        shows(&harness, "Consumer group cg1"),
        "the most urgent group is open"
    );
    // Partition 1 was never checkpointed and is empty; partition 0 has 3 left.
    assert!(shows(&harness, "none"));
    assert!(
        harness.query_all_by_label("3").next().is_some(),
        "cg1's lag on partition 0"
    );

    harness.get_by_label("$Default (no checkpoints)").click();
    wait_for(&mut harness, "$Default's partitions", |h| {
        shows(h, "Consumer group $Default")
    });
    assert!(
        harness.query_all_by_label("6").next().is_some(),
        "everything retained"
    );
}

#[test]
fn kafka_groups_are_shown_beside_checkpoint_groups_without_a_store() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut harness = common::ui::app(dir.path(), [1400.0, 1000.0]);
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    let port = app_port(&harness);
    harness.get_by_label("Consumer groups").click();
    wait_for(&mut harness, "the Kafka source", |h| {
        shows(h, "Kafka groups on 127.0.0.1:")
    });
    // The embedded endpoint's Kafka port is its own: the tab says where it reads.
    let source = harness
        .query_all_by_label_contains("Kafka groups on 127.0.0.1:")
        .next()
        .and_then(|node| {
            let node = node.accesskit_node();
            node.label().or_else(|| node.value())
        })
        .unwrap();
    let kafka = source.rsplit("Kafka groups on ").next().unwrap().to_owned();
    assert!(
        shows(&harness, "only Kafka groups are shown"),
        "the profile has no store, and the tab says what that means"
    );
    runtime.block_on(async {
        send_to_partition_0(port, (0..6).map(|i| format!("event {i}"))).await;
        // A standalone consumer committed offset 2: it reads event 2 next, 4 are left.
        common::kafka::commit(&kafka, "orders-app", "eh1", 2).await;
    });
    // The one group that is read and behind: the most urgent, and open.
    wait_for(&mut harness, "the Kafka group", |h| {
        shows(h, "orders-app (most urgent)") && shows(h, "Kafka consumer group orders-app")
    });
    assert!(shows(&harness, "Committed offset"));
    assert!(
        harness.query_all_by_label("4").next().is_some(),
        "the group's lag on partition 0"
    );
    assert!(
        shows(&harness, "no consumer is in the group"),
        "nobody is a member: the group is not being read"
    );
}

#[test]
fn a_missing_container_is_said_in_the_tab() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app_with_store(dir.path(), "no-such-container");
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    harness.get_by_label("Consumer groups").click();
    wait_for(&mut harness, "the error", |h| {
        shows(h, "container `no-such-container` does not exist")
    });
}

#[test]
fn the_profile_editor_checks_the_store_and_saves_it_masked() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = common::ui::app(dir.path(), [1400.0, 1000.0]);
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    harness.get_by_label("Edit").click();
    harness.run_steps(3);
    type_into(&mut harness, "Checkpoint store", "AccountName=acme");
    assert!(
        shows(&harness, "`AccountKey` is missing"),
        "the store is checked inline"
    );
    assert!(
        shows(&harness, "name the container"),
        "and so is its container"
    );
    type_into(
        &mut harness,
        "Checkpoint store",
        &common::azurite::connection_string(),
    );
    type_into(&mut harness, "Checkpoint container", "checkpoints");
    type_into(&mut harness, "Hub retention", "7w");
    assert!(
        shows(&harness, "unknown unit"),
        "a retention is checked too"
    );
    type_into(&mut harness, "Hub retention", "7d");
    assert!(!shows(&harness, "is missing") && !shows(&harness, "unknown unit"));
    harness.get_by_label("Save").click();
    harness.run_steps(3);
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        let file = ProfileStore::in_dir(dir.path()).load().unwrap().file;
        let store = file
            .profiles
            .first()
            .and_then(|p| p.checkpoint_store.clone());
        if let Some(store) = store {
            assert_eq!(store.container, "checkpoints");
            assert_eq!(store.retention, "7d");
            // Masked in Debug, as every secret.
            assert!(!format!("{store:?}").contains("AccountKey"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never saved");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
