//! The desktop app's face: egui panels over the [`crate::bridge`]. Each panel is a function of
//! its state and the runtime's snapshot that emits commands, so it can be driven by
//! `egui_kittest` with or without a runtime.

mod app;
pub mod composer;
mod composer_draft;
mod composer_fields;
mod event_detail;
pub mod file_prompt;
pub mod format;
pub mod groups_view;
pub mod inspector;
mod live_charts;
mod live_copy;
pub mod live_view;
pub mod load_panel;
pub mod namespace_tree;
pub mod notifications;
pub mod profile_editor;
pub mod profiles_panel;
pub mod shortcuts;
pub mod status_bar;

use std::sync::Arc;

pub use app::{HubscopeApp, View};

use crate::profiles::ProfileStore;

/// Opens the window and runs until it is closed.
pub fn run(store: ProfileStore) -> anyhow::Result<()> {
    let loaded = store.load()?;
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("hubscope")
            .with_inner_size([1200.0, 760.0])
            .with_min_inner_size([720.0, 420.0]),
        ..Default::default()
    };
    eframe::run_native(
        "hubscope",
        options,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let waker = Arc::new(move || ctx.request_repaint());
            Ok(Box::new(HubscopeApp::new(store, loaded, waker)?))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}
