//! The namespace tree, driven by labels: hubs and consumer groups created, worked on and deleted
//! from the app, against its own endpoint's management API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ui::{app, shows, type_into, wait_for, App};
use egui_kittest::kittest::{NodeT as _, Queryable};
use hubscope::bridge::NamespaceState;

fn hub_names(harness: &App) -> Vec<String> {
    match &harness.state().snapshot().namespace {
        NamespaceState::Ready(info) => info.hubs.iter().map(|h| h.name.clone()).collect(),
        _ => Vec::new(),
    }
}

fn groups_of(harness: &App, hub: &str) -> Vec<String> {
    match &harness.state().snapshot().namespace {
        NamespaceState::Ready(info) => info
            .hubs
            .iter()
            .find(|h| h.name == hub)
            .map(|h| h.consumer_groups.clone())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Opens a dialog with the button labelled `button` and waits until `field` is in it; a dialog
/// is laid out in a sizing pass before it is where it shows, so a few frames pass first, as
/// they would before a person's first click.
fn open_dialog(harness: &mut App, button: &str, field: &str) {
    harness.get_by_label(button).click();
    wait_for(harness, "the dialog", |h| shows(h, field));
    harness.run_steps(5);
}

#[test]
fn hubs_and_groups_are_made_worked_on_and_deleted_from_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1400.0, 1000.0]);
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    wait_for(&mut harness, "the tree", |h| {
        shows(h, "eh1 · 2 partitions · 1 d · Active")
    });
    assert!(
        shows(
            &harness,
            "eh1 · 2 partitions · 1 d · Active (working on it)"
        ),
        "the hub worked on is marked"
    );

    // A bad count is said in the dialog, and nothing is sent.
    open_dialog(&mut harness, "New hub…", "Hub name");
    type_into(&mut harness, "Hub name", "orders");
    type_into(&mut harness, "Partitions (1–32)", "40");
    harness.get_by_label("Create").click();
    wait_for(&mut harness, "the dialog's reason", |h| {
        shows(h, "Partitions must be a number from 1 to 32.")
    });
    type_into(&mut harness, "Partitions (1–32)", "3");
    harness.get_by_label("Create").click();
    wait_for(&mut harness, "the new hub", |h| {
        shows(h, "orders · 3 partitions")
    });

    // Working on it: the inspector follows, the endpoint and the tree stay.
    harness
        .get_by_label("orders · 3 partitions · 1 d · Active")
        .click();
    harness.run_steps(3);
    harness.get_by_label("Work on orders").click();
    // The profile stays connected while the other hub is opened: no reconnect, frame by frame.
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while !shows(&harness, "Hub orders") {
        assert!(
            !shows(&harness, "(connecting…)") && !shows(&harness, "Connecting to"),
            "a hub switch must not reconnect the profile"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the switch never came"
        );
        harness.run_steps(1);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    wait_for(&mut harness, "the marker", |h| {
        shows(h, "orders · 3 partitions · 1 d · Active (working on it)")
    });

    open_dialog(
        &mut harness,
        "New consumer group on orders…",
        "Consumer group name",
    );
    type_into(&mut harness, "Consumer group name", "audit");
    harness.get_by_label("Create").click();
    wait_for(&mut harness, "the group", |h| {
        groups_of(h, "orders") == ["$Default", "audit"]
    });

    // A refusal says the namespace's reason.
    open_dialog(&mut harness, "New hub…", "Hub name");
    type_into(&mut harness, "Hub name", "eh1");
    harness.get_by_label("Create").click();
    wait_for(&mut harness, "the refusal", |h| shows(h, "already exists"));

    // Deleting asks for the name.
    open_dialog(&mut harness, "Delete orders…", "Type orders to confirm");
    assert!(
        harness
            .get_by_label("Delete for good")
            .accesskit_node()
            .is_disabled(),
        "not before the name is typed"
    );
    type_into(&mut harness, "Type orders to confirm", "orders");
    harness.get_by_label("Delete for good").click();
    wait_for(&mut harness, "the deletion", |h| hub_names(h) == ["eh1"]);
}

/// The app, with a new profile's editor open on a namespace-level connection string: no
/// `EntityPath` and no hub, the namespace whose hubs the tree offers.
fn editing_a_namespace_profile(dir: &std::path::Path) -> App {
    let mut harness = common::ui::app(dir, [1400.0, 1100.0]);
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    harness.get_by_label("New profile").click();
    harness.run_steps(3);
    type_into(
        &mut harness,
        "Connection string",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s",
    );
    harness.run_steps(2);
    harness
}

#[test]
fn a_namespace_level_connection_string_is_a_profile_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let harness = editing_a_namespace_profile(dir.path());
    assert!(
        !harness.get_by_label("Save").accesskit_node().is_disabled(),
        "a namespace-level profile can be saved"
    );
    assert!(!shows(&harness, "name the hub"));
}

#[test]
fn resource_managers_coordinates_are_asked_for_once_a_subscription_is_typed() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = editing_a_namespace_profile(dir.path());
    assert!(!shows(&harness, "Resource group"), "no fallback, no rows");
    type_into(&mut harness, "Azure subscription", "0000-1111");
    harness.run_steps(3);
    assert!(shows(
        &harness,
        "the namespace's resource group, as the Azure portal shows it"
    ));
    assert!(
        harness.get_by_label("Save").accesskit_node().is_disabled(),
        "half a Resource Manager address is not saved"
    );
    type_into(&mut harness, "Resource group", "streams");
    harness.run_steps(3);
    assert!(!harness.get_by_label("Save").accesskit_node().is_disabled());
}
