//! A load run survives the endpoint going away: failures are counted, nothing hangs, sending
//! resumes when the endpoint is back, and what is reported as sent is what the hub holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use hubscope::emulator::EmulatorConfig;
use hubscope::hub::Target;
use hubscope::loadgen::run::{run, Progress};
use hubscope::loadgen::{Plan, Rate, Routing, Sink};
use hubscope::producer::pool::{PoolConfig, ProducerPool};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_dies_and_returns_mid_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..EmulatorConfig::default()
    };
    let port = common::free_port();
    let emu = common::emulator_on(port, &config).await;
    let target = Target::from_connection_string(&emu.connection_string(), Some("eh1")).unwrap();
    let pool = ProducerPool::new(
        target,
        PoolConfig {
            connections: 2,
            in_flight_per_connection: 4,
            send_timeout: Duration::from_secs(2),
            ..PoolConfig::default()
        },
    );
    pool.warm_up(&["0".into(), "1".into()]).await.unwrap();
    let plan = Plan {
        rate: Rate::Fixed { per_sec: 300.0 },
        duration: Some(Duration::from_secs(6)),
        events: None,
        event_size: 100,
        template: None,
        batch_size: Some(10),
        routing: Routing::RoundRobin,
        pool_size: 2,
        in_flight_per_connection: 4,
    };
    let (progress, _watch) = tokio::sync::watch::channel(Progress::default());
    let running = tokio::spawn(run(
        plan,
        Sink::Amqp(pool.clone()),
        vec!["0".into(), "1".into()],
        CancellationToken::new(),
        progress,
        None,
    ));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    emu.shutdown().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let emu = common::emulator_on(port, &config).await;

    let outcome = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the run ends: nothing hangs")
        .unwrap()
        .expect("the run reports");
    let report = outcome.report;
    assert!(
        report.events_failed > 0,
        "the outage is counted: {report:?}"
    );
    assert!(!report.errors.is_empty());
    assert!(
        report.events_sent > 600,
        "sending went on before and after the outage: {report:?}"
    );
    let state = pool.state();
    assert!(
        state.discarded_total > 0,
        "broken connections were replaced: {state:?}"
    );

    let client = common::consumer(&emu, "eh1", None).await;
    let mut held = 0;
    for id in ["0", "1"] {
        let p = client.get_partition_properties(id).await.unwrap();
        if !p.is_empty {
            held +=
                u64::try_from(p.last_enqueued_sequence_number - p.beginning_sequence_number + 1)
                    .unwrap();
        }
    }
    client.close().await.unwrap();
    // Exact, because a clean shutdown settles every stored delivery before it closes the links;
    // a crash could leave a stored event reported as failed.
    assert_eq!(
        held, report.events_sent,
        "events_sent is exactly what the hub acknowledged and kept"
    );
    pool.close().await;
}
