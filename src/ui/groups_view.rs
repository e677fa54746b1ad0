//! The Consumer groups tab: each group's real lag, from the profile's checkpoint store and the
//! namespace's Kafka endpoint side by side, with the warnings first, the most urgent group
//! highlighted, a partition table for the chosen group and its lag over time.

use egui_plot::{Legend, Line, Plot, PlotPoints};
use tokio::sync::watch;

use crate::bridge::{Command, GroupHistory, GroupsSnapshot};
use crate::groups::{format_duration, GroupKind, GroupLag, PartitionLag};
use crate::profiles::{CheckpointStoreSettings, Profile};

#[derive(Default)]
pub struct GroupsViewState {
    pub handle: Option<watch::Receiver<GroupsSnapshot>>,
    /// What the running watch is for: the connected profile, the hub worked on and the store.
    watching: Option<(String, Option<String>, Option<CheckpointStoreSettings>)>,
    /// The group whose partitions are shown; the most urgent one until the user picks.
    selected: Option<String>,
}

impl GroupsViewState {
    /// Keeps the watch on the connected profile's hub and store: started on connect, restarted
    /// when the hub worked on or the profile's store changes, stopped on disconnect.
    pub fn follow(
        &mut self,
        connected: Option<&Profile>,
        hub: Option<&str>,
        outbox: &mut Vec<Command>,
    ) {
        let wanted = connected.map(|p| {
            (
                p.name.clone(),
                hub.map(str::to_owned),
                p.checkpoint_store.clone(),
            )
        });
        if wanted == self.watching {
            return;
        }
        // Kafka groups are read without a store, so every connected profile is watched.
        if let Some((_, _, settings)) = &wanted {
            outbox.push(Command::WatchGroups(settings.clone()));
        } else if self.watching.is_some() {
            outbox.push(Command::WatchGroups(None));
        }
        self.handle = None;
        self.watching = wanted;
    }
}

pub fn groups_view_ui(ui: &mut egui::Ui, state: &mut GroupsViewState) {
    let Some((_, _, settings)) = &state.watching else {
        ui.label("Connect to a profile to see its consumer groups.");
        return;
    };
    let no_store = settings.is_none();
    let Some(handle) = &state.handle else {
        ui.label("Starting…");
        return;
    };
    let snapshot = handle.borrow();
    if no_store {
        ui.weak(
            "This profile has no checkpoint store, so only Kafka groups are shown. Edit the \
             profile and fill in \"Checkpoint store\" (UseDevelopmentStorage=true for Azurite, or \
             a storage connection string) and its container to see the groups that checkpoint \
             there.",
        );
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(&snapshot.source);
        if let Some(at) = snapshot.checked_at {
            let age = at.elapsed().unwrap_or_default().as_secs_f64();
            ui.weak(format!("· checked {} ago", format_duration(age)));
        }
    });
    if let Some(error) = &snapshot.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    let Some(report) = &snapshot.report else {
        if snapshot.error.is_none() {
            ui.label("Reading the groups…");
        }
        return;
    };
    for note in &report.notes {
        ui.weak(note);
    }
    let urgent = report.most_urgent().map(GroupLag::key);
    let selected = state
        .selected
        .clone()
        .filter(|s| report.consumer_groups.iter().any(|g| &g.key() == s))
        .or_else(|| urgent.clone())
        .or_else(|| report.consumer_groups.first().map(GroupLag::key));
    egui::ScrollArea::vertical()
        .id_salt("groups_scroll")
        .show(ui, |ui| {
            // The notes above say why there is none; an empty table's header says nothing.
            if report.consumer_groups.is_empty() {
                return;
            }
            warnings_ui(ui, &report.consumer_groups);
            ui.add_space(4.0);
            if let Some(picked) = groups_table_ui(
                ui,
                &report.consumer_groups,
                urgent.as_deref(),
                selected.as_deref(),
            ) {
                state.selected = Some(picked);
            }
            let Some(group) = report
                .consumer_groups
                .iter()
                .find(|g| Some(g.key()) == selected)
            else {
                return;
            };
            ui.add_space(8.0);
            let kind = match group.kind {
                GroupKind::CheckpointStore => "Consumer group",
                GroupKind::Kafka => "Kafka consumer group",
            };
            ui.heading(format!("{kind} {}", group.name));
            partitions_ui(ui, group);
            if let Some(history) = snapshot.history.get(&group.key()) {
                ui.add_space(6.0);
                history_ui(ui, history);
            }
        });
}

/// The chosen group's lag over time: its total, and each partition's.
fn history_ui(ui: &mut egui::Ui, history: &GroupHistory) {
    ui.label("Lag over time (events)");
    let width = ui.available_width().max(200.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let max_points = width as usize;
    Plot::new("group_lag_history")
        .legend(Legend::default())
        .height(200.0)
        .include_y(0.0)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(
                Line::new(
                    "all partitions",
                    PlotPoints::from(history.total.window(0.0, max_points)),
                )
                .width(2.5),
            );
            for (id, series) in &history.partitions {
                plot.line(Line::new(
                    format!("partition {id}"),
                    PlotPoints::from(series.window(0.0, max_points)),
                ));
            }
        });
}

fn warnings_ui(ui: &mut egui::Ui, groups: &[GroupLag]) {
    let color = ui.visuals().warn_fg_color;
    for group in groups {
        for warning in &group.warnings {
            let color = if group.losing_events {
                ui.visuals().error_fg_color
            } else {
                color
            };
            ui.colored_label(color, format!("{}: {warning}", group.key()));
        }
    }
}

/// The groups, one row each; returns the group the user clicked.
fn groups_table_ui(
    ui: &mut egui::Ui,
    groups: &[GroupLag],
    urgent: Option<&str>,
    selected: Option<&str>,
) -> Option<String> {
    let mut picked = None;
    egui::Grid::new("groups_grid")
        .striped(true)
        .spacing([16.0, 3.0])
        .show(ui, |ui| {
            for title in [
                "Consumer group",
                "Kind",
                "Lag (events)",
                "Reading/s",
                "Arriving/s",
                "Catch-up",
                "Owners",
                "Warnings",
            ] {
                ui.strong(title);
            }
            ui.end_row();
            for group in groups {
                let key = group.key();
                let is_urgent = urgent == Some(key.as_str());
                let label = match (is_urgent, group.has_checkpoints) {
                    (true, _) => format!("{} (most urgent)", group.name),
                    (false, true) => group.name.clone(),
                    (false, false) => format!("{} (no checkpoints)", group.name),
                };
                let text = if is_urgent {
                    egui::RichText::new(label)
                        .color(ui.visuals().warn_fg_color)
                        .strong()
                } else {
                    egui::RichText::new(label)
                };
                if ui
                    .selectable_label(selected == Some(key.as_str()), text)
                    .clicked()
                {
                    picked = Some(key);
                }
                ui.label(match group.kind {
                    GroupKind::CheckpointStore => "checkpoints",
                    GroupKind::Kafka => "Kafka",
                });
                ui.label(group.lag_events.to_string());
                ui.label(rate(group.consumed_per_sec));
                ui.label(rate(group.ingress_per_sec));
                ui.label(catch_up(group));
                ui.label(owners(&group.partitions));
                ui.label(group.warnings.len().to_string());
                ui.end_row();
            }
        });
    picked
}

fn partitions_ui(ui: &mut egui::Ui, group: &GroupLag) {
    egui::Grid::new("group_partitions_grid")
        .striped(true)
        .spacing([14.0, 2.0])
        .show(ui, |ui| {
            // A Kafka group's position is its committed offset: the next event it reads.
            let (position, next) = match group.kind {
                GroupKind::CheckpointStore => ("Checkpoint", 0),
                GroupKind::Kafka => ("Committed offset", 1),
            };
            for title in [
                "Partition",
                position,
                "Last enqueued",
                "Lag (events)",
                "Oldest unread",
                "Expires in",
                "Expired unread",
                "Owner",
                "Heartbeat",
            ] {
                ui.strong(title);
            }
            ui.end_row();
            let secs = |v: Option<f64>| v.map_or_else(|| "-".to_string(), format_duration);
            for p in &group.partitions {
                ui.label(&p.partition_id);
                ui.label(
                    p.checkpoint_sequence_number
                        .map_or_else(|| "none".into(), |c| (c + next).to_string()),
                );
                ui.label(p.last_enqueued_sequence_number.to_string());
                ui.label(p.lag_events.to_string());
                ui.label(secs(p.oldest_unprocessed_age_secs));
                ui.label(secs(p.expires_in_secs));
                if p.expired_unread > 0 {
                    ui.colored_label(ui.visuals().error_fg_color, p.expired_unread.to_string());
                } else {
                    ui.label("0");
                }
                owner_ui(ui, p.owner_id.as_deref());
                let heartbeat = secs(p.ownership_age_secs);
                if p.owner_stale {
                    ui.colored_label(ui.visuals().warn_fg_color, format!("{heartbeat} (stale)"));
                } else {
                    ui.label(heartbeat);
                }
                ui.end_row();
            }
        });
}

/// Owner ids are often UUIDs: the start tells them apart, the whole id is on hover.
fn owner_ui(ui: &mut egui::Ui, owner: Option<&str>) {
    const SHOWN: usize = 13;
    match owner {
        None => {
            ui.label("-");
        }
        Some(id) if id.chars().count() <= SHOWN => {
            ui.label(id);
        }
        Some(id) => {
            let short: String = id.chars().take(SHOWN).collect();
            ui.label(format!("{short}…")).on_hover_text(id);
        }
    }
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

fn catch_up(group: &GroupLag) -> String {
    match (
        group.catch_up_secs,
        group.consumed_per_sec,
        group.ingress_per_sec,
    ) {
        _ if group.lag_events == 0 => "caught up".into(),
        _ if !group.has_checkpoints => "not read".into(),
        (Some(secs), _, _) => format_duration(secs),
        (None, Some(c), Some(i)) if i > c => format!("falling behind by {:.0}/s", i - c),
        _ => "-".into(),
    }
}

/// Live owners and how many partitions each holds, e.g. `2 (2, 2)`.
fn owners(partitions: &[PartitionLag]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for p in partitions.iter().filter(|p| !p.owner_stale) {
        if let Some(owner) = &p.owner_id {
            *counts.entry(owner).or_default() += 1;
        }
    }
    if counts.is_empty() {
        return "-".into();
    }
    let spread: Vec<String> = counts.values().map(ToString::to_string).collect();
    format!("{} ({})", counts.len(), spread.join(", "))
}
