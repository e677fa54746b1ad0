//! The namespace management API, through the app's own client over HTTP against the endpoint:
//! list, create, delete, limits, errors, SAS verification, persistence across a restart; and the
//! Rust SDK using a hub the moment it is created; Resource Manager as the fallback for a refused
//! credential.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_messaging_eventhubs::StartLocation;
use hubscope::emulator::{AuthMode, EmulatorConfig, RunningEmulator};
use hubscope::management::{Access, ArmAccess, ManagementClient, ManagementError};
use hubscope::profiles::ResourceManagerSettings;

fn client(emu: &RunningEmulator) -> ManagementClient {
    let url = emu.management_url().expect("the API is served");
    ManagementClient::new(Access::local(&url), Duration::from_secs(10)).expect("client")
}

#[tokio::test]
async fn hubs_and_groups_are_created_used_and_deleted() {
    let emu = common::emulator().await;
    let api = client(&emu);
    let before = api.namespace().await.expect("lists");
    assert_eq!(before.hubs.len(), 1);
    assert_eq!(before.hubs[0].consumer_groups, vec!["$Default", "cg1"]);

    let created = api.create_hub("orders", 3, 2).await.expect("created");
    assert_eq!(created.partition_ids, vec!["0", "1", "2"]);
    assert_eq!(created.retention_secs, 2 * 86_400);
    api.create_group("orders", "audit").await.expect("group");

    // The SDK sees the new hub and group at once.
    let producer = common::producer(&emu, "orders").await;
    let props = producer
        .get_eventhub_properties()
        .await
        .expect("properties");
    assert_eq!(props.partition_ids.len(), 3);
    let batch = producer
        .create_batch(Some(azure_messaging_eventhubs::EventDataBatchOptions {
            partition_id: Some("2".into()),
            ..Default::default()
        }))
        .await
        .expect("batch");
    assert!(batch.try_add_event_data("hello", None).expect("fits"));
    producer.send_batch(batch, None).await.expect("sent");
    let consumer = common::consumer(&emu, "orders", Some("audit")).await;
    let receiver = common::receiver(&consumer, "2", common::from(StartLocation::Earliest, true))
        .await
        .expect("receiver");
    assert_eq!(
        common::take(&receiver, 1).await[0].event_data().body(),
        Some(&b"hello"[..])
    );

    // Refusals, in the service's words, one line each.
    let exists = api.create_hub("ORDERS", 1, 1).await.expect_err("exists");
    assert!(
        matches!(&exists, ManagementError::Refused { status: 409, .. }),
        "{exists}"
    );
    assert!(exists.to_string().contains("already exists"), "{exists}");
    let too_big = api
        .create_hub("big", 33, 1)
        .await
        .expect_err("too many partitions");
    assert!(
        too_big.to_string().contains("1 to 32 partitions"),
        "{too_big}"
    );
    let bad = api
        .create_group("orders", "-x")
        .await
        .expect_err("bad name");
    assert!(
        bad.to_string().contains("not a valid consumer group name"),
        "{bad}"
    );
    let missing = api.list_groups("nosuch").await.expect_err("no such hub");
    assert!(matches!(missing, ManagementError::NotFound(_)), "{missing}");
    let default = api
        .delete_group("orders", "$Default")
        .await
        .expect_err("kept");
    assert!(
        default.to_string().contains("cannot be deleted"),
        "{default}"
    );

    api.delete_group("orders", "audit")
        .await
        .expect("group deleted");
    api.delete_hub("orders").await.expect("hub deleted");
    let gone = api.delete_hub("orders").await.expect_err("already gone");
    assert!(matches!(gone, ManagementError::NotFound(_)), "{gone}");
    // A producer still attached to the deleted hub is told so, and nothing is stored.
    let batch = producer.create_batch(None).await.expect("batch");
    assert!(batch.try_add_event_data("late", None).expect("fits"));
    let refused = producer
        .send_batch(batch, None)
        .await
        .expect_err("the hub is gone");
    assert!(
        refused.to_string().contains("could not be found"),
        "{refused}"
    );
    assert_eq!(api.list_hubs().await.expect("lists").len(), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn the_limits_of_a_namespace_hold() {
    let emu = common::emulator().await;
    let api = client(&emu);
    for i in 0..19 {
        api.create_group("eh1", &format!("g{i}"))
            .await
            .expect("within the limit");
    }
    let over = api.create_group("eh1", "one-more").await.expect_err("over");
    assert!(
        matches!(&over, ManagementError::Refused { status: 403, .. }),
        "{over}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn with_a_key_only_its_signature_manages_the_namespace() {
    let config = EmulatorConfig {
        auth: AuthMode::SharedAccessKey {
            key_name: "admin".into(),
            key: "s3cret".into(),
        },
        ..EmulatorConfig::default()
    };
    let emu = common::emulator_with(config).await;
    let url = emu.management_url().expect("served");
    let cs = |key: &str| {
        format!(
            "Endpoint=sb://{};SharedAccessKeyName=admin;SharedAccessKey={key};UseDevelopmentEmulator=true",
            emu.local_addr
        )
    };
    let signed = |key: &str| {
        let access = Access::from_connection_string(&cs(key), Some(&url)).expect("access");
        ManagementClient::new(access, Duration::from_secs(10)).expect("client")
    };
    signed("s3cret")
        .create_hub("orders", 1, 1)
        .await
        .expect("the key manages");
    let refused = signed("guess").list_hubs().await.expect_err("a wrong key");
    assert!(refused.is_denied(), "{refused}");
    assert!(
        refused.to_string().contains("invalid signature"),
        "{refused}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn what_was_created_survives_a_restart_with_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        data_dir: Some(dir.path().to_owned()),
        ..EmulatorConfig::default()
    };
    let emu = common::emulator_with(config.clone()).await;
    let api = client(&emu);
    api.create_hub("orders", 2, 1).await.expect("created");
    api.create_group("orders", "audit").await.expect("group");
    api.delete_group("eh1", "cg1")
        .await
        .expect("a configured group deleted");
    emu.shutdown().await;

    let emu = common::emulator_with(config).await;
    let after = client(&emu).namespace().await.expect("lists");
    let summary: Vec<(String, Vec<String>)> = after
        .hubs
        .iter()
        .map(|h| (h.name.clone(), h.consumer_groups.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("eh1".to_string(), vec!["$Default".to_string()]),
            (
                "orders".to_string(),
                vec!["$Default".to_string(), "audit".to_string()]
            ),
        ]
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_dead_endpoint_is_one_clear_line() {
    let access = Access::local("http://127.0.0.1:1");
    let api = ManagementClient::new(access, Duration::from_secs(2)).expect("client");
    let error = api.list_hubs().await.expect_err("nothing listens");
    assert!(
        matches!(error, ManagementError::Unreachable { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("the management API at http://127.0.0.1:1 cannot be reached"),
        "{error}"
    );
}

/// A namespace that refuses the profile's key, and a Resource Manager (another endpoint, serving
/// ARM's shape of the API) that takes its Entra ID token: the client turns to the second and
/// everything works there.
#[tokio::test]
async fn a_refused_credential_falls_back_to_resource_manager_when_the_profile_names_it() {
    let namespace = common::emulator_with(EmulatorConfig {
        auth: AuthMode::SharedAccessKey {
            key_name: "admin".into(),
            key: "s3cret".into(),
        },
        ..EmulatorConfig::default()
    })
    .await;
    let resource_manager = common::emulator_with(common::hubs(&[("arm-a", 2), ("arm-b", 1)])).await;
    let arm_url = resource_manager.management_url().expect("served");
    let settings = ResourceManagerSettings {
        subscription_id: "00000000-0000-0000-0000-000000000001".into(),
        resource_group: "streams".into(),
        endpoint: Some(arm_url.clone()),
    };
    let fallback = |key: &str, token: Arc<dyn TokenCredential>| {
        let cs = format!(
            "Endpoint=sb://{};SharedAccessKeyName=admin;SharedAccessKey={key};UseDevelopmentEmulator=true",
            namespace.local_addr
        );
        let mut access = Access::from_connection_string(&cs, namespace.management_url().as_deref())
            .expect("access");
        access.arm = Some(ArmAccess::new(&settings, &access.namespace, token).expect("arm"));
        ManagementClient::new(access, Duration::from_secs(10)).expect("client")
    };

    let api = fallback("guess", Arc::new(common::StaticToken));
    let seen = api
        .namespace()
        .await
        .expect("listed through Resource Manager");
    assert!(api.on_resource_manager());
    assert_eq!(api.base_url(), arm_url);
    assert_eq!(seen.resource_manager.as_deref(), Some(arm_url.as_str()));
    let names: Vec<_> = seen.hubs.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["arm-a", "arm-b"]);
    assert_eq!(seen.hubs[0].partition_ids, ["0", "1"]);
    assert_eq!(seen.hubs[0].consumer_groups, ["$Default", "cg1"]);

    let created = api.create_hub("orders", 3, 2).await.expect("created");
    assert_eq!(
        (created.partition_count, created.retention_secs),
        (3, 2 * 86_400)
    );
    let again = api.create_hub("orders", 3, 2).await.expect_err("exists");
    assert!(
        matches!(again, ManagementError::Refused { status: 409, .. }),
        "{again}"
    );
    let too_many = api
        .create_hub("wide", 40, 1)
        .await
        .expect_err("33+ partitions");
    assert!(
        matches!(&too_many, ManagementError::Refused { status: 400, detail } if detail.contains("partitions")),
        "{too_many}"
    );
    api.create_group("orders", "audit").await.expect("group");
    assert_eq!(
        api.list_groups("orders").await.expect("groups"),
        ["$Default", "audit"]
    );
    api.delete_group("orders", "audit").await.expect("deleted");
    let gone = api.delete_group("orders", "audit").await.expect_err("gone");
    assert!(matches!(gone, ManagementError::NotFound(_)), "{gone}");
    let no_hub = api.list_groups("nope").await.expect_err("no such hub");
    assert!(matches!(no_hub, ManagementError::NotFound(_)), "{no_hub}");

    // The change is the endpoint's own: its Atom API and the SDK see the hub.
    let direct = client(&resource_manager).list_hubs().await.expect("lists");
    assert!(direct
        .iter()
        .any(|h| h.name == "orders" && h.partition_count == 3));
    let producer = common::producer(&resource_manager, "orders").await;
    let props = producer
        .get_eventhub_properties()
        .await
        .expect("properties");
    assert_eq!(props.partition_ids.len(), 3);
    producer.close().await.ok();
    api.delete_hub("orders").await.expect("deleted");
    let gone = api.delete_hub("orders").await.expect_err("gone");
    assert!(matches!(gone, ManagementError::NotFound(_)), "{gone}");

    // The right key never leaves the namespace's own API.
    let keyed = fallback("s3cret", Arc::new(common::StaticToken));
    assert_eq!(keyed.list_hubs().await.expect("lists").len(), 1);
    assert!(!keyed.on_resource_manager());
    namespace.shutdown().await;
    resource_manager.shutdown().await;
}

/// When Resource Manager refuses too, the user reads that, in one line naming it.
#[tokio::test]
async fn a_refusal_from_both_says_resource_manager_refused() {
    let verifying = || EmulatorConfig {
        auth: AuthMode::SharedAccessKey {
            key_name: "admin".into(),
            key: "s3cret".into(),
        },
        ..EmulatorConfig::default()
    };
    let namespace = common::emulator_with(verifying()).await;
    let resource_manager = common::emulator_with(verifying()).await;
    let cs = format!(
        "Endpoint=sb://{};SharedAccessKeyName=admin;SharedAccessKey=guess;UseDevelopmentEmulator=true",
        namespace.local_addr
    );
    let access =
        Access::from_connection_string(&cs, namespace.management_url().as_deref()).expect("access");
    let settings = ResourceManagerSettings {
        subscription_id: "s".into(),
        resource_group: "g".into(),
        endpoint: resource_manager.management_url(),
    };
    let mut access = access;
    access.arm = Some(
        ArmAccess::new(&settings, &access.namespace, Arc::new(common::StaticToken)).expect("arm"),
    );
    let api = ManagementClient::new(access, Duration::from_secs(10)).expect("client");
    let refused = api.list_hubs().await.expect_err("both refuse");
    assert!(refused.is_denied(), "{refused}");
    let text = refused.to_string();
    assert!(
        text.starts_with("Resource Manager refused the credential: ") && !text.contains('{'),
        "{text}"
    );
    namespace.shutdown().await;
    resource_manager.shutdown().await;
}
