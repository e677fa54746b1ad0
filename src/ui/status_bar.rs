//! The status bar: connection state and endpoint, and the notification counter.

use crate::bridge::{ConnectionState, Snapshot};

use super::notifications::Notifications;

pub fn status_bar_ui(ui: &mut egui::Ui, snapshot: &Snapshot, notifications: &mut Notifications) {
    ui.horizontal(|ui| {
        match &snapshot.connection {
            ConnectionState::Disconnected => {
                ui.label("Disconnected");
            }
            ConnectionState::Connecting { profile, endpoint } => {
                ui.spinner();
                ui.label(format!("Connecting to {profile} — {endpoint}"));
            }
            ConnectionState::Connected { profile, endpoint } => {
                ui.colored_label(
                    egui::Color32::from_rgb(80, 180, 90),
                    format!("Connected to {profile} — {endpoint}"),
                );
            }
            ConnectionState::Failed { profile, error, .. } => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Not connected to {profile}: {error}"),
                );
            }
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let label = match notifications.len() {
                0 => "No notifications".to_string(),
                1 => "1 notification".to_string(),
                n => format!("{n} notifications"),
            };
            if ui.button(label).clicked() {
                notifications.show_history = !notifications.show_history;
            }
        });
    });
}
