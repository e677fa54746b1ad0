//! The pooled producer against the embedded endpoint: idle close, lifespan recycle, a failed
//! connection replaced, and the ready message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use hubscope::emulator::{EmulatorConfig, RunningEmulator};
use hubscope::hub::Target;
use hubscope::producer::pool::{PoolConfig, ProducerPool};
use hubscope::producer::{OutgoingEvent, Packing};

fn one() -> Vec<OutgoingEvent> {
    vec![OutgoingEvent::text("x")]
}

async fn stored(emu: &RunningEmulator) -> i64 {
    let client = common::consumer(emu, "eh1", None).await;
    let mut total = 0;
    for id in ["0", "1"] {
        let p = client.get_partition_properties(id).await.unwrap();
        if !p.is_empty {
            total += p.last_enqueued_sequence_number - p.beginning_sequence_number + 1;
        }
    }
    client.close().await.unwrap();
    total
}

fn config() -> PoolConfig {
    PoolConfig {
        connections: 2,
        in_flight_per_connection: 2,
        idle_timeout: None,
        max_lifespan: None,
        ready_message: None,
        send_timeout: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_and_old_ones_are_recycled() {
    let emu = common::emulator().await;
    let target = Target::from_connection_string(&emu.connection_string(), Some("eh1")).unwrap();
    let pool = ProducerPool::new(
        target.clone(),
        PoolConfig {
            idle_timeout: Some(Duration::from_millis(200)),
            ..config()
        },
    );
    pool.send(&one(), Packing::Batches).await.unwrap();
    pool.send(&one(), Packing::Batches).await.unwrap();
    assert_eq!(pool.state().ready, 2);
    assert_eq!(pool.state().opened_total, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    pool.close_idle().await;
    let state = pool.state();
    assert_eq!((state.ready, state.retired_total), (0, 2), "{state:?}");

    let pool = ProducerPool::new(
        target,
        PoolConfig {
            connections: 1,
            max_lifespan: Some(Duration::from_millis(200)),
            ..config()
        },
    );
    pool.send(&one(), Packing::Batches).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    pool.send(&one(), Packing::Batches).await.unwrap();
    let state = pool.state();
    assert_eq!(
        (state.opened_total, state.retired_total),
        (2, 1),
        "recycled for age: {state:?}"
    );
    assert_eq!(stored(&emu).await, 4);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connection_is_replaced_and_ready_messages_prove_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config_with_dir = EmulatorConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..EmulatorConfig::default()
    };
    let emu = RunningEmulator::start(config_with_dir.clone(), &format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let target = Target::from_connection_string(&emu.connection_string(), Some("eh1")).unwrap();
    let pool = ProducerPool::new(
        target,
        PoolConfig {
            connections: 1,
            ready_message: Some("ready".into()),
            send_timeout: Duration::from_secs(3),
            ..config()
        },
    );
    pool.send(&one(), Packing::Batches).await.unwrap();
    assert_eq!(stored(&emu).await, 2, "the ready message, then the event");

    emu.shutdown().await;
    let failed = tokio::time::timeout(Duration::from_secs(20), pool.send(&one(), Packing::Batches))
        .await
        .expect("no hang");
    assert!(failed.is_err());
    assert_eq!(pool.state().discarded_total, 1);

    let emu = common::emulator_on(port, &config_with_dir).await;
    pool.send(&one(), Packing::Batches)
        .await
        .expect("a fresh connection takes over");
    let state = pool.state();
    assert_eq!(state.opened_total, 2, "{state:?}");
    assert_eq!(
        stored(&emu).await,
        4,
        "two ready messages and two events: none lost, none extra"
    );
    pool.close().await;
}
