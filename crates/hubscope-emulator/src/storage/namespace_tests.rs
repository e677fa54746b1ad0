//! Tests of the namespace: the memory bound on opening, and hubs and groups made at run time.

use super::*;
use crate::storage::store::tests::events;

#[test]
fn the_memory_bound_applies_to_what_journals_held_on_opening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = EmulatorConfig {
        data_dir: Some(dir.path().to_owned()),
        ..EmulatorConfig::default()
    };
    let ns = Namespace::open(&config).expect("open");
    let hub = ns.hub("eh1").expect("eh1");
    // Partition 0 holds the older events; then both get ten newer ones each.
    let _ = hub.partitions[0].append(events(10, 100));
    std::thread::sleep(Duration::from_millis(5));
    for p in &hub.partitions {
        let _ = p.append(events(10, 100));
    }
    drop(ns);
    config.max_retained_bytes = 1500;
    let ns = Namespace::open(&config).expect("reopen");
    let hub = ns.hub("eh1").expect("eh1");
    let retained: Vec<usize> = hub
        .partitions
        .iter()
        .map(|p| p.info().retained_events)
        .collect();
    // 3000 bytes on disk, 1500 allowed: partition 0's ten older events go, then the oldest five
    // of the newer twenty (partition 0's are as old as partition 1's or older).
    assert_eq!(retained, vec![5, 10]);
    assert_eq!(hub.partitions[0].info().begin_sequence_number, 15);
    // Appends go on numbering where the journal left off.
    assert_eq!(hub.partitions[0].append(events(1, 100)).ok(), Some(20));
}

fn spec(name: &str, partitions: u32) -> HubSpec {
    HubSpec {
        name: name.into(),
        partition_count: partitions,
        retention: Duration::from_secs(86_400),
    }
}

#[test]
fn hubs_and_groups_created_at_run_time_obey_the_limits() {
    let ns = Namespace::open(&EmulatorConfig::default()).expect("open");
    let hub = ns.create_hub(&spec("orders", 4)).expect("created");
    assert_eq!(hub.partitions.len(), 4);
    assert_eq!(ns.hub("ORDERS").expect("found").name, "orders");
    assert!(
        matches!(ns.create_hub(&spec("Orders", 1)), Err(ManageError::HubExists(n)) if n == "orders")
    );
    assert!(matches!(
        ns.create_hub(&spec("big", 33)),
        Err(ManageError::PartitionCount(33))
    ));
    assert!(matches!(
        ns.create_hub(&spec("bad name", 1)),
        Err(ManageError::InvalidName { .. })
    ));
    for i in 0..MAX_CONSUMER_GROUPS {
        ns.create_group("orders", &format!("g{i}"))
            .expect("within the limit");
    }
    assert!(matches!(
        ns.create_group("orders", "one-more"),
        Err(ManageError::TooManyGroups(_))
    ));
    assert!(matches!(
        ns.create_group("orders", "G1"),
        Err(ManageError::GroupExists { .. })
    ));
    assert!(matches!(
        ns.create_group("nosuch", "g"),
        Err(ManageError::HubNotFound(_))
    ));
    assert!(matches!(
        ns.delete_group("orders", "$default"),
        Err(ManageError::DefaultGroup)
    ));
    ns.delete_group("orders", "g1").expect("deleted");
    assert!(hub.consumer_group("g1").is_none());
    ns.delete_hub("Orders").expect("deleted");
    assert!(ns.hub("orders").is_none());
    assert!(matches!(
        ns.delete_hub("orders"),
        Err(ManageError::HubNotFound(_))
    ));
}

#[test]
fn a_deleted_hub_takes_its_events_and_refuses_more() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EmulatorConfig {
        data_dir: Some(dir.path().to_owned()),
        ..EmulatorConfig::default()
    };
    let ns = Namespace::open(&config).expect("open");
    let hub = ns.create_hub(&spec("gone", 1)).expect("created");
    let _ = hub.partitions[0].append(events(3, 100));
    assert!(dir.path().join("gone").exists());
    ns.delete_hub("gone").expect("deleted");
    assert!(
        !dir.path().join("gone").exists(),
        "its journals are deleted"
    );
    assert!(matches!(
        hub.partitions[0].append(events(1, 100)),
        Err(StoreError::Deleted)
    ));
    // Created again under the same name: empty.
    let again = ns.create_hub(&spec("gone", 1)).expect("created again");
    assert!(again.partitions[0].info().is_empty);
}

#[test]
fn run_time_changes_survive_a_restart_and_leave_the_configuration_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EmulatorConfig {
        data_dir: Some(dir.path().to_owned()),
        ..EmulatorConfig::default()
    };
    let ns = Namespace::open(&config).expect("open");
    let _ = ns.create_hub(&spec("orders", 3)).expect("created");
    let _ = ns.create_group("orders", "audit").expect("group");
    let _ = ns
        .create_group("eh1", "extra")
        .expect("group on a configured hub");
    ns.delete_group("eh1", "cg1")
        .expect("configured group deleted");
    let _ = ns.hub("orders").expect("orders").partitions[2].append(events(2, 10));
    drop(ns);
    let ns = Namespace::open(&config).expect("reopen");
    let names: Vec<String> = ns.hubs().iter().map(|h| h.name.clone()).collect();
    assert_eq!(names, vec!["eh1", "orders"]);
    let orders = ns.hub("orders").expect("orders");
    assert_eq!(orders.partitions.len(), 3);
    assert_eq!(orders.partitions[2].info().retained_events, 2);
    let groups =
        |hub: &Hub| -> Vec<String> { hub.consumer_groups().into_iter().map(|g| g.name).collect() };
    assert_eq!(groups(&orders), vec!["$Default", "audit"]);
    assert_eq!(
        groups(&ns.hub("eh1").expect("eh1")),
        vec!["$Default", "extra"]
    );
    ns.delete_hub("eh1").expect("configured hub deleted");
    drop(ns);
    let ns = Namespace::open(&config).expect("reopen");
    assert!(
        ns.hub("eh1").is_none(),
        "a deleted configured hub stays deleted"
    );
    // Without a data directory, changes last for the run.
    let memory = Namespace::open(&EmulatorConfig::default()).expect("open");
    let _ = memory.create_hub(&spec("orders", 1)).expect("created");
    drop(memory);
    assert!(Namespace::open(&EmulatorConfig::default())
        .expect("open")
        .hub("orders")
        .is_none());
}
