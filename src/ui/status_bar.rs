//! The status bar: connection state and endpoint, and the notification counter.

use crate::bridge::{ConnectionState, Snapshot, TaskProgress};

use super::format::{count, Zone};
use super::notifications::Notifications;

/// The status bar's own controls: the shortcuts list and the theme.
pub struct StatusBarState {
    pub shortcuts_open: bool,
    pub theme: egui::ThemePreference,
    /// A long export's or send's progress; shown until it is done.
    pub progress: Option<TaskProgress>,
}

impl Default for StatusBarState {
    fn default() -> Self {
        Self {
            shortcuts_open: false,
            theme: egui::ThemePreference::System,
            progress: None,
        }
    }
}

pub fn status_bar_ui(
    ui: &mut egui::Ui,
    snapshot: &Snapshot,
    notifications: &mut Notifications,
    state: &mut StatusBarState,
) {
    ui.horizontal(|ui| {
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let label = match notifications.len() {
                0 => "No notifications".to_string(),
                1 => "1 notification".to_string(),
                n => format!("{n} notifications"),
            };
            if ui.button(label).clicked() {
                notifications.show_history = !notifications.show_history;
            }
            if ui.button("Shortcuts (F1)").clicked() {
                state.shortcuts_open = !state.shortcuts_open;
            }
            // Right to left: each control is added before its label, so that the label reads first.
            let mut zone = Zone::of(ui.ctx());
            let times = egui::ComboBox::from_id_salt("times")
                .selected_text(zone.name())
                .show_ui(ui, |ui| {
                    for choice in [Zone::Utc, Zone::Local] {
                        ui.selectable_value(&mut zone, choice, choice.name());
                    }
                })
                .response;
            times.labelled_by(ui.label("Times").id);
            zone.choose(ui.ctx());
            let before = state.theme;
            let theme = egui::ComboBox::from_id_salt("theme")
                .selected_text(theme_name(state.theme))
                .show_ui(ui, |ui| {
                    for theme in [
                        egui::ThemePreference::System,
                        egui::ThemePreference::Light,
                        egui::ThemePreference::Dark,
                    ] {
                        ui.selectable_value(&mut state.theme, theme, theme_name(theme));
                    }
                })
                .response;
            theme.labelled_by(ui.label("Theme").id);
            if state.theme != before {
                ui.ctx().set_theme(state.theme);
            }
            // The connection line gets what the controls leave, cut short (the whole line is
            // its tooltip): a long error must not run under the controls.
            ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                connection_ui(ui, snapshot, state);
            });
        });
    });
}

/// A long task's progress, then the connection's state and endpoint: the line is what gets
/// cut short, never the bar.
fn connection_ui(ui: &mut egui::Ui, snapshot: &Snapshot, state: &StatusBarState) {
    if let Some(p) = state.progress.as_ref().filter(|p| p.done < p.total) {
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let fraction = p.done as f32 / p.total.max(1) as f32;
        ui.add(
            egui::ProgressBar::new(fraction)
                .desired_width(220.0)
                .text(format!(
                    "{}: {} of {}",
                    p.task,
                    count(p.done),
                    count(p.total)
                )),
        );
    }
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
}

fn theme_name(theme: egui::ThemePreference) -> &'static str {
    match theme {
        egui::ThemePreference::System => "follow the system",
        egui::ThemePreference::Light => "light",
        egui::ThemePreference::Dark => "dark",
    }
}
