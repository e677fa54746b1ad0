//! Driving the real app by label: a harness over a fresh profiles directory, waiting on the
//! runtime in real time, and typing into labelled fields.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use hubscope::profiles::ProfileStore;
use hubscope::ui::HubscopeApp;

const UI_PATIENCE: Duration = Duration::from_secs(30);

pub type App = Harness<'static, HubscopeApp>;

/// The app on the profiles in `dir` (a first run when empty), in a window of `size`.
pub fn app(dir: &Path, size: [f32; 2]) -> App {
    let store = ProfileStore::in_dir(dir);
    let loaded = store.load().expect("profiles load");
    let app = HubscopeApp::new(store, loaded, Arc::new(|| {})).expect("app starts");
    Harness::builder()
        .with_size(size)
        .build_ui_state(|ui, app: &mut HubscopeApp| app.ui(ui), app)
}

/// Steps frames until `done` holds; the runtime answers in real time, so frames are spaced out.
pub fn wait_for(harness: &mut App, what: &str, done: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + UI_PATIENCE;
    loop {
        harness.step();
        if done(harness) {
            return;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether any node's label contains `text`.
pub fn shows(harness: &App, text: &str) -> bool {
    harness.query_all_by_label_contains(text).next().is_some()
}

/// Replaces the text of the field labelled `label` with `text`.
pub fn type_into(harness: &mut App, label: &str, text: &str) {
    harness.get_by_label(label).click();
    harness.run_steps(2);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.key_press(egui::Key::Backspace);
    harness.get_by_label(label).type_text(text);
    harness.run_steps(2);
    // A click that lands on something drawn over the field leaves the focus where it was, and
    // the text goes elsewhere: say so here rather than as a wait that never ends.
    let value = harness.get_by_label(label).value().unwrap_or_default();
    // A secret's field shows a dot a character.
    let masked = !value.is_empty() && value.chars().all(|c| c == '•');
    let took = if masked {
        value.chars().count() == text.chars().count()
    } else {
        value == text
    };
    assert!(
        took,
        "the field labelled {label:?} did not take the text: it holds {value:?}"
    );
}

/// The port of the app's own embedded endpoint, from the connection it shows.
pub fn app_port(harness: &App) -> u16 {
    let hubscope::bridge::ConnectionState::Connected { endpoint, .. } =
        &harness.state().snapshot().connection
    else {
        panic!("not connected");
    };
    endpoint
        .trim_end_matches("/eh1")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap()
}

/// Sends `bodies` in one batch to partition 0 of eh1 on the app's endpoint at `port`, over AMQP.
pub async fn send_to_partition_0(port: u16, bodies: impl IntoIterator<Item = String>) {
    let cs = format!(
        "Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true"
    );
    let producer = azure_messaging_eventhubs::ProducerClient::builder()
        .with_custom_endpoint(format!("amqp://127.0.0.1:{port}"))
        .open_with_connection_string(&cs, Some("eh1"))
        .await
        .unwrap();
    let batch = producer
        .create_batch(Some(azure_messaging_eventhubs::EventDataBatchOptions {
            partition_id: Some("0".into()),
            ..Default::default()
        }))
        .await
        .unwrap();
    for body in bodies {
        assert!(batch.try_add_event_data(body, None).unwrap());
    }
    tokio::time::timeout(super::PATIENCE, producer.send_batch(batch, None))
        .await
        .unwrap()
        .unwrap();
    producer.close().await.unwrap();
}
