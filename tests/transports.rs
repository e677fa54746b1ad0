//! AMQP over `WebSockets` inside TLS, through the Rust SDK's WebSocket transport and through an app
//! profile that asks for it. The SDK dials `wss://…/$servicebus/websocket/` and trusts the
//! platform's roots, which rustls-native-certs reads from `SSL_CERT_FILE`: this test binary points
//! that at the endpoint's generated certificate, before any client starts.

mod common;

use azure_messaging_eventhubs::models::AmqpTransport;
use azure_messaging_eventhubs::{ConsumerClient, ProducerClient, SendEventOptions, StartLocation};
use common::{body_text, from, receiver, take, PATIENCE};
use hubscope::emulator::transport::tls::{TlsIdentity, TlsSource};
use hubscope::emulator::{bind, EmulatorConfig, Listener, RunningEmulator, Transport};
use hubscope::hub::target::Target;
use hubscope::profiles::{Profile, ProfileKind, Secret};
use std::sync::OnceLock;

/// One certificate for the whole test binary: clients read `SSL_CERT_FILE` whenever they connect,
/// so every endpoint here must present the certificate it names.
fn identity() -> &'static TlsIdentity {
    static IDENTITY: OnceLock<(tempfile::TempDir, TlsIdentity)> = OnceLock::new();
    &IDENTITY
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let identity = TlsSource::Generated {
                dir: dir.path().to_owned(),
                names: vec![],
            }
            .load()
            .expect("a generated certificate");
            std::env::set_var("SSL_CERT_FILE", &identity.cert_path);
            (dir, identity)
        })
        .1
}

/// An endpoint serving plain AMQP and TLS.
async fn secure_emulator() -> (RunningEmulator, u16) {
    let identity = identity();
    let plain = bind("127.0.0.1:0").await.expect("bind");
    let tls = bind("127.0.0.1:0").await.expect("bind");
    let tls_port = tls.local_addr().expect("addr").port();
    let listeners = vec![
        Listener::plain(plain),
        Listener {
            socket: tls,
            transport: Transport::tls(identity),
        },
    ];
    let emu = RunningEmulator::start_serving(EmulatorConfig::default(), listeners)
        .expect("emulator starts");
    (emu, tls_port)
}

#[tokio::test]
async fn the_sdk_round_trips_over_websockets_inside_tls() {
    let (emu, tls_port) = secure_emulator().await;
    let endpoint = format!("amqps://127.0.0.1:{tls_port}");
    let producer = tokio::time::timeout(
        PATIENCE,
        ProducerClient::builder()
            .with_transport(AmqpTransport::WebSocket)
            .with_custom_endpoint(endpoint.clone())
            .open_with_connection_string(&emu.connection_string(), Some("eh1")),
    )
    .await
    .expect("opens in time")
    .expect("producer opens over WebSockets");
    for body in ["ws-1", "ws-2"] {
        let options = SendEventOptions {
            partition_id: Some("1".into()),
        };
        producer
            .send_event(body, Some(options))
            .await
            .expect("sent over WebSockets");
    }
    let consumer = tokio::time::timeout(
        PATIENCE,
        ConsumerClient::builder()
            .with_transport(AmqpTransport::WebSocket)
            .with_custom_endpoint(endpoint)
            .open_with_connection_string(&emu.connection_string(), Some("eh1")),
    )
    .await
    .expect("opens in time")
    .expect("consumer opens over WebSockets");
    let events = take(
        &receiver(&consumer, "1", from(StartLocation::Earliest, true))
            .await
            .expect("a receiver over WebSockets"),
        2,
    )
    .await;
    let bodies: Vec<String> = events.iter().map(body_text).collect();
    assert_eq!(bodies, ["ws-1", "ws-2"]);
    producer.close().await.expect("close");
    consumer.close().await.expect("close");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_app_profile_with_the_websockets_transport_reaches_the_endpoint() {
    let (emu, tls_port) = secure_emulator().await;
    let mut profile = Profile::new_connection_string();
    profile.kind = ProfileKind::ConnectionString {
        connection_string: Secret::new(emu.connection_string()),
        hub: Some("eh1".into()),
    };
    profile.transport = hubscope::profiles::Transport::AmqpWebSockets;
    profile.custom_endpoint = Some(format!("amqps://127.0.0.1:{tls_port}"));
    let target = Target::from_profile(&profile).expect("a target");
    let producer = tokio::time::timeout(PATIENCE, target.open_producer())
        .await
        .expect("opens in time")
        .expect("the profile's producer opens over WebSockets");
    let properties = producer
        .get_eventhub_properties()
        .await
        .expect("hub properties over WebSockets");
    assert_eq!(properties.partition_ids, ["0", "1"]);
    producer.close().await.expect("close");
    emu.shutdown().await;
}
