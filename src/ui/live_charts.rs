//! The live view's partition table (state, rates, lag) and its charts: lag and receive rate per
//! partition over a chosen window, decimated to the plot's width, the most-lagging partition
//! drawn heavier.

use std::time::Duration;

use egui_plot::{Legend, Line, Plot, PlotPoint, PlotPoints};

use crate::consumer::lag::Series;
use crate::consumer::live::{LiveStore, PartitionStats};
use crate::consumer::ReaderState;

/// One partition's numbers, copied out of the store for drawing.
pub struct PartitionRow {
    pub id: String,
    pub state: String,
    pub events_per_sec: u64,
    pub bytes_per_sec: u64,
    pub last_read: Option<i64>,
    pub last_enqueued: Option<i64>,
    pub lag_events: Option<i64>,
    pub lag_time: Option<Duration>,
}

impl PartitionRow {
    #[must_use]
    pub fn from_stats(p: &PartitionStats, states: &[(String, ReaderState)]) -> Self {
        let state = states.iter().find(|(id, _)| *id == p.id).map(|(_, s)| s);
        // A reader that is not reading has no current rate: its last second is history.
        let reading = state.is_none_or(|s| !s.is_final() && *s != ReaderState::Paused);
        Self {
            id: p.id.clone(),
            state: state.map_or_else(|| "starting".into(), ToString::to_string),
            events_per_sec: if reading { p.rate.events_per_sec } else { 0 },
            bytes_per_sec: if reading { p.rate.bytes_per_sec } else { 0 },
            last_read: p.lag.last_read_sequence,
            last_enqueued: p.lag.last_enqueued_sequence,
            lag_events: p.lag.events(),
            lag_time: p.lag.time(),
        }
    }
}

/// The partition lagging most, if any lags at all.
fn most_lagging(rows: &[PartitionRow]) -> Option<&str> {
    rows.iter()
        .filter(|r| r.lag_events.unwrap_or(0) > 0)
        .max_by_key(|r| r.lag_events.unwrap_or(0))
        .map(|r| r.id.as_str())
}

/// The table as fixed-width monospace lines, one label per row and only the rows in view: it
/// changes every frame under load, and a grid of eight labels per row for every partition was
/// a third of the frame. The state goes last, as it can be long (a reader's final error).
pub fn partition_table_ui(ui: &mut egui::Ui, rows: &[PartitionRow]) {
    ui.scope(|ui| table_ui(ui, rows));
}

fn table_ui(ui: &mut egui::Ui, rows: &[PartitionRow]) {
    let worst = most_lagging(rows);
    ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
    ui.label(
        egui::RichText::new(format!(
            "{:<16} {:>9} {:>8} {:>12} {:>13} {:>12} {:>10}  {}",
            "Partition",
            "Events/s",
            "KB/s",
            "Last read",
            "Last enqueued",
            "Lag (events)",
            "Lag (time)",
            "State"
        ))
        .monospace()
        .strong(),
    );
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace);
    egui::ScrollArea::vertical()
        .id_salt("live_partitions")
        .max_height(180.0)
        .auto_shrink([false, true])
        .show_rows(ui, row_height, rows.len(), |ui, range| {
            for r in &rows[range] {
                let highlight = worst == Some(r.id.as_str());
                let text = egui::RichText::new(row_line(r, highlight)).monospace();
                if highlight {
                    ui.label(text.color(ui.visuals().warn_fg_color));
                } else {
                    ui.label(text);
                }
            }
        });
}

fn row_line(r: &PartitionRow, highlight: bool) -> String {
    let show = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let id = if highlight {
        format!("{} (most lag)", r.id)
    } else {
        r.id.clone()
    };
    format!(
        "{:<16} {:>9} {:>8} {:>12} {:>13} {:>12} {:>10}  {}",
        id,
        r.events_per_sec,
        format!(
            "{}.{}",
            r.bytes_per_sec / 1024,
            r.bytes_per_sec % 1024 * 10 / 1024
        ),
        show(r.last_read),
        show(r.last_enqueued),
        show(r.lag_events),
        r.lag_time
            .map_or_else(|| "-".into(), |t| format!("{:.1} s", t.as_secs_f64())),
        r.state
    )
}

/// The charts' lines, copied out of the store so that plots draw without holding it: per
/// partition, lag and receive rate since the window's start, decimated to the plot's width.
#[derive(Default)]
pub struct ChartLines {
    lag: Vec<(String, Vec<PlotPoint>)>,
    rate: Vec<(String, Vec<PlotPoint>)>,
}

impl ChartLines {
    #[must_use]
    pub fn copy(store: &LiveStore, since: f64, max_points: usize) -> Self {
        let lines = |series: fn(&PartitionStats) -> &Series| {
            (store.partitions.iter())
                .map(|p| {
                    let points = series(p).window(since, max_points);
                    (
                        p.id.clone(),
                        points.into_iter().map(PlotPoint::from).collect(),
                    )
                })
                .collect()
        };
        Self {
            lag: lines(|p| &p.lag_series),
            rate: lines(|p| &p.rate_series),
        }
    }
}

/// How wide each of the two charts is drawn in `ui`, and so at most how many points a line has.
#[must_use]
pub fn chart_width(ui: &egui::Ui) -> f32 {
    (ui.available_width() / 2.0 - 8.0).max(120.0)
}

pub fn charts_ui(
    ui: &mut egui::Ui,
    lines: &ChartLines,
    rows: &[PartitionRow],
    now_secs: f64,
    window_secs: &mut f64,
) {
    ui.horizontal(|ui| {
        ui.label("Window");
        for (label, secs) in [("1 min", 60.0), ("5 min", 300.0), ("15 min", 900.0)] {
            if ui
                .selectable_label((*window_secs - secs).abs() < f64::EPSILON, label)
                .clicked()
            {
                *window_secs = secs;
            }
        }
    });
    let worst = most_lagging(rows);
    let since = now_secs - *window_secs;
    let width = chart_width(ui);
    ui.horizontal(|ui| {
        for (title, partitions) in [
            ("Lag (events)", &lines.lag),
            ("Receive rate (events/s)", &lines.rate),
        ] {
            ui.vertical(|ui| {
                ui.label(title);
                Plot::new(title)
                    .legend(Legend::default())
                    .width(width)
                    .height(150.0)
                    // Lags and rates are never below zero, and an idle chart spans 0 to 1
                    // rather than centring a flat line between negative marks.
                    .include_y(0.0)
                    .include_y(1.0)
                    .y_axis_formatter(|mark, _| {
                        if mark.value < 0.0 {
                            String::new()
                        } else {
                            format!("{}", mark.value)
                        }
                    })
                    .x_axis_label("seconds since the view started")
                    .include_x(since.max(0.0))
                    .include_x(now_secs)
                    .allow_scroll(false)
                    .show(ui, |plot| {
                        for (id, points) in partitions {
                            let heavy = worst == Some(id.as_str());
                            plot.line(
                                Line::new(format!("partition {id}"), PlotPoints::Borrowed(points))
                                    .width(if heavy { 3.0 } else { 1.2 }),
                            );
                        }
                    });
            });
        }
    });
}
