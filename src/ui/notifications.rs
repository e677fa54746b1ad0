//! Notifications: errors and notes from the runtime, as toasts in the corner with the detail one
//! click away, and a bounded history behind the status bar's counter.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::bridge::{Level, Notice};

/// Notices kept for the history; older ones are forgotten.
const HISTORY: usize = 50;
/// Notes fade after this; errors stay until dismissed.
const INFO_TOAST: Duration = Duration::from_secs(8);
const VISIBLE_TOASTS: usize = 3;

struct Entry {
    notice: Notice,
    at: Instant,
    dismissed: bool,
}

#[derive(Default)]
pub struct Notifications {
    entries: VecDeque<Entry>,
    pub show_history: bool,
}

impl Notifications {
    pub fn push(&mut self, notice: Notice) {
        match notice.level {
            Level::Error => tracing::warn!("{}: {}", notice.summary, notice.detail),
            Level::Info => tracing::info!("{}", notice.summary),
        }
        if self.entries.len() == HISTORY {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            notice,
            at: Instant::now(),
            dismissed: false,
        });
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Toasts in the bottom-right corner, just above the status bar. Not the top: there they
    /// covered the Live tab's Start from and Until fields, so a click meant for a field could
    /// land on a toast (and a test's typing went into the field focused before).
    pub fn toasts_ui(&mut self, ui: &egui::Ui) {
        let now = Instant::now();
        let live: Vec<usize> = self
            .entries
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, e)| {
                !e.dismissed
                    && (e.notice.level == Level::Error || now.duration_since(e.at) < INFO_TOAST)
            })
            .map(|(i, _)| i)
            .take(VISIBLE_TOASTS)
            .collect();
        if live
            .iter()
            .any(|&i| self.entries[i].notice.level == Level::Info)
        {
            ui.ctx().request_repaint_after(Duration::from_secs(1));
        }
        if live.is_empty() {
            return;
        }
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0))
            .order(egui::Order::Foreground)
            .show(ui.ctx(), |ui| {
                ui.set_max_width(420.0);
                for i in live {
                    let entry = &mut self.entries[i];
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        entry_ui(ui, entry, i);
                    });
                    ui.add_space(4.0);
                }
            });
    }

    /// The whole history, newest first, in a window the status bar opens.
    pub fn history_ui(&mut self, ctx: &egui::Context) {
        let mut open = self.show_history;
        egui::Window::new("Notifications")
            .open(&mut open)
            .default_width(480.0)
            .show(ctx, |ui| {
                if self.entries.is_empty() {
                    ui.label("Nothing to report.");
                }
                if ui.button("Clear").clicked() {
                    self.entries.clear();
                }
                egui::ScrollArea::vertical().show(ui, |ui| {
                    for (i, entry) in self.entries.iter_mut().enumerate().rev() {
                        entry_ui(ui, entry, i);
                        ui.separator();
                    }
                });
            });
        self.show_history = open;
    }
}

fn entry_ui(ui: &mut egui::Ui, entry: &mut Entry, index: usize) {
    ui.horizontal(|ui| {
        let (icon, color) = match entry.notice.level {
            Level::Error => ("Error:", ui.visuals().error_fg_color),
            Level::Info => ("Note:", ui.visuals().text_color()),
        };
        ui.colored_label(color, format!("{icon} {}", entry.notice.summary));
        if !entry.dismissed && ui.small_button("Dismiss").clicked() {
            entry.dismissed = true;
        }
    });
    if !entry.notice.detail.is_empty() {
        egui::CollapsingHeader::new("Details")
            .id_salt(("notice", index))
            .show(ui, |ui| {
                ui.add(
                    egui::Label::new(&entry.notice.detail)
                        .selectable(true)
                        .wrap(),
                );
            });
    }
}
