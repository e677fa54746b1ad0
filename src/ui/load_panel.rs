//! The load panel: a plan, its throughput-unit estimate, Start/Stop, live charts (target vs
//! achieved rate, latency percentiles, errors by kind, events per destination, pool state) and
//! the final report with its exports.

use egui_plot::{Legend, Line, Plot, PlotPoints};
use tokio::sync::watch;

use crate::bridge::{Command, FileUse, LoadExport, LoadResult};
use crate::emulator::config::parse_duration;
use crate::loadgen::run::Progress;
use crate::loadgen::{parse_rate, parse_routing, LoadError, Plan, PlanError};

use super::file_prompt::{prompt_ui, FilePrompt, PromptAnswer};

pub struct LoadPanelState {
    pub rate: String,
    pub duration: String,
    pub events: String,
    pub event_size: usize,
    pub template: String,
    pub batch_size: String,
    pub routing: String,
    pub pool_size: usize,
    pub in_flight: usize,
    pub end_to_end: bool,
    pub progress: Option<watch::Receiver<Progress>>,
    pub result: Option<Result<Box<LoadResult>, LoadError>>,
    pub file_prompt: Option<FilePrompt>,
}

impl Default for LoadPanelState {
    fn default() -> Self {
        Self {
            rate: "1000".into(),
            duration: "30s".into(),
            events: String::new(),
            event_size: 1024,
            template: String::new(),
            batch_size: String::new(),
            routing: "spread".into(),
            pool_size: 4,
            in_flight: 8,
            end_to_end: false,
            progress: None,
            result: None,
            file_prompt: None,
        }
    }
}

impl LoadPanelState {
    /// Starts the plan the form describes (the Start button, and the empty hub's demo).
    pub fn start(&mut self, partition_ids: &[String], outbox: &mut Vec<Command>) {
        if let Ok(plan) = self.plan() {
            self.result = None;
            self.progress = None;
            outbox.push(Command::StartLoad {
                plan,
                partition_ids: partition_ids.to_vec(),
                end_to_end: self.end_to_end,
            });
        }
    }

    /// A gentle 30-second demo: sample JSON at 200 events/s over every partition.
    pub fn fill_demo(&mut self, template: &str) {
        *self = Self {
            rate: "200".into(),
            duration: "30s".into(),
            template: template.into(),
            routing: "round-robin".into(),
            ..Self::default()
        };
    }

    /// The plan the form describes, or what is wrong with it.
    pub fn plan(&self) -> Result<Plan, PlanError> {
        let rate = parse_rate(&self.rate)?;
        let duration = Some(self.duration.trim())
            .filter(|d| !d.is_empty())
            .map(parse_duration)
            .transpose()?;
        let events = Some(self.events.trim())
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.parse::<u64>()
                    .map_err(|_| PlanError::NotEvents(e.to_owned()))
            })
            .transpose()?;
        if duration.is_none()
            && events.is_none()
            && !matches!(rate, crate::loadgen::Rate::Steps { .. })
        {
            return Err(PlanError::NoLength);
        }
        let batch_size = Some(self.batch_size.trim())
            .filter(|b| !b.is_empty())
            .map(|b| {
                b.parse::<usize>()
                    .ok()
                    .filter(|b| *b > 0)
                    .ok_or_else(|| PlanError::NotABatchSize(b.to_owned()))
            })
            .transpose()?;
        let template = Some(self.template.clone()).filter(|t| !t.trim().is_empty());
        if let Some(t) = &template {
            crate::producer::Template::parse(t)?;
        }
        Ok(Plan {
            rate,
            duration,
            events,
            event_size: self.event_size,
            template,
            batch_size,
            routing: parse_routing(&self.routing)?,
            pool_size: self.pool_size.max(1),
            in_flight_per_connection: self.in_flight.max(1),
        })
    }

    fn running(&self) -> bool {
        self.progress.as_ref().is_some_and(|p| !p.borrow().finished) && self.result.is_none()
    }
}

fn export_prompt_ui(ctx: &egui::Context, state: &mut LoadPanelState, outbox: &mut Vec<Command>) {
    let Some(prompt) = &mut state.file_prompt else {
        return;
    };
    let FileUse::ExportLoad(format) = prompt.purpose else {
        return;
    };
    match prompt_ui(ctx, prompt, "Export the load report", "Export", outbox) {
        PromptAnswer::Waiting => {}
        PromptAnswer::Cancelled => state.file_prompt = None,
        PromptAnswer::Chosen(path) => {
            outbox.push(Command::ExportLoad { format, path });
            state.file_prompt = None;
        }
    }
}

pub fn load_panel_ui(
    ui: &mut egui::Ui,
    state: &mut LoadPanelState,
    partition_ids: &[String],
    outbox: &mut Vec<Command>,
) {
    export_prompt_ui(ui.ctx(), state, outbox);
    egui::ScrollArea::vertical()
        .id_salt("load_panel")
        .show(ui, |ui| {
            form_ui(ui, state);
            let plan = state.plan();
            match &plan {
                Ok(plan) => match plan.throughput_units() {
                    Some(tu) => ui.label(format!(
                        "On a real namespace this plan needs about {tu} throughput unit(s)."
                    )),
                    None => ui.label(
                        "As fast as the hub acknowledges: no throughput-unit estimate for max.",
                    ),
                },
                Err(e) => ui.colored_label(ui.visuals().error_fg_color, e.to_string()),
            };
            ui.horizontal(|ui| {
                let running = state.running();
                let can_start = plan.is_ok() && !running && !partition_ids.is_empty();
                if ui
                    .add_enabled(can_start, egui::Button::new("Start load"))
                    .clicked()
                {
                    state.start(partition_ids, outbox);
                }
                if ui
                    .add_enabled(running, egui::Button::new("Stop load"))
                    .clicked()
                {
                    outbox.push(Command::StopLoad);
                }
                if partition_ids.is_empty() {
                    ui.weak("Connect to a hub first.");
                }
            });
            if let Some(progress) = &state.progress {
                let p = progress.borrow().clone();
                progress_ui(ui, &p);
            }
            if let Some(format) = result_ui(ui, state) {
                let prompt = FilePrompt::new(FileUse::ExportLoad(format), format.file_name());
                state.file_prompt = Some(prompt);
            }
        });
}

fn form_ui(ui: &mut egui::Ui, state: &mut LoadPanelState) {
    ui.heading("Load generator");
    egui::Grid::new("load_form")
        .num_columns(4)
        .spacing([12.0, 4.0])
        .show(ui, |ui| {
            let text = |ui: &mut egui::Ui, name: &str, value: &mut String, hint: &str| {
                let label = ui.label(name);
                // A fixed size: a grid cell offers a text field only what its column took last
                // frame, and the number fields below would keep the first column 40 px wide.
                let size = egui::vec2(200.0, ui.spacing().interact_size.y);
                ui.add_sized(size, egui::TextEdit::singleline(value).hint_text(hint))
                    .labelled_by(label.id);
            };
            text(
                ui,
                "Rate",
                &mut state.rate,
                "1000, max, ramp:100-5000/30s, steps:1000/10s,5000/10s",
            );
            text(
                ui,
                "Routing",
                &mut state.routing,
                "spread, round-robin, keys:100,hot:0.2, partition:0",
            );
            ui.end_row();
            text(ui, "Duration", &mut state.duration, "30s, 5m");
            text(
                ui,
                "Events",
                &mut state.events,
                "optional: stop after this many",
            );
            ui.end_row();
            text(
                ui,
                "Template",
                &mut state.template,
                "optional body template: {{seq}} {{uuid}} ...",
            );
            text(ui, "Batch size", &mut state.batch_size, "automatic");
            ui.end_row();
            let number = |ui: &mut egui::Ui, name: &str, value: &mut usize, max: usize| {
                let label = ui.label(name);
                ui.add(egui::DragValue::new(value).range(1..=max))
                    .labelled_by(label.id);
            };
            number(ui, "Event size", &mut state.event_size, 1_000_000);
            number(ui, "Pool size", &mut state.pool_size, 64);
            ui.end_row();
            number(ui, "In flight", &mut state.in_flight, 256);
            ui.end_row();
        });
}

#[allow(clippy::cast_precision_loss)]
fn progress_ui(ui: &mut egui::Ui, p: &Progress) {
    ui.label(format!(
        "{}{:.0} s: {} sent, {} failed; pool: {} ready, {} busy, {} opening ({} opened, {} discarded, {} retired)",
        if p.finished { "Finished after " } else { "" },
        p.elapsed_secs, p.events_sent, p.events_failed, p.pool.ready, p.pool.busy, p.pool.opening,
        p.pool.opened_total, p.pool.discarded_total, p.pool.retired_total
    ));
    let series = |f: fn(&crate::loadgen::metrics::SecondStats) -> f64| -> Vec<[f64; 2]> {
        p.seconds.iter().map(|s| [s.second as f64, f(s)]).collect()
    };
    ui.horizontal(|ui| {
        let width = (ui.available_width() / 2.0 - 8.0).max(150.0);
        ui.vertical(|ui| {
            ui.label("Rate (events/s)");
            Plot::new("load_rate")
                .legend(Legend::default())
                .width(width)
                .height(160.0)
                .include_y(0.0)
                .show(ui, |plot| {
                    plot.line(Line::new(
                        "target",
                        PlotPoints::from(series(|s| s.target_events as f64)),
                    ));
                    plot.line(Line::new(
                        "achieved",
                        PlotPoints::from(series(|s| s.sent_events as f64)),
                    ));
                    plot.line(Line::new(
                        "failed",
                        PlotPoints::from(series(|s| s.failed_events as f64)),
                    ));
                });
        });
        ui.vertical(|ui| {
            ui.label("Latency from due time (ms)");
            Plot::new("load_latency")
                .legend(Legend::default())
                .width(width)
                .height(160.0)
                .include_y(0.0)
                .show(ui, |plot| {
                    plot.line(Line::new("p50", PlotPoints::from(series(|s| s.p50_ms))));
                    plot.line(Line::new("p90", PlotPoints::from(series(|s| s.p90_ms))));
                    plot.line(Line::new("p99", PlotPoints::from(series(|s| s.p99_ms))));
                    plot.line(Line::new("max", PlotPoints::from(series(|s| s.max_ms))));
                });
        });
    });
    ui.horizontal_wrapped(|ui| {
        ui.strong("Errors:");
        if p.errors.is_empty() {
            ui.label("none");
        }
        for (kind, count) in &p.errors {
            ui.label(format!("{kind:?} {count}"));
        }
        ui.separator();
        ui.strong("Acknowledged, by routing:");
        for (destination, count) in &p.per_destination {
            ui.label(format!("{destination}: {count}"));
        }
    });
}

/// The finished run's report; the export the user asked for, if any.
fn result_ui(ui: &mut egui::Ui, state: &LoadPanelState) -> Option<LoadExport> {
    let mut export = None;
    match &state.result {
        None => {}
        Some(Err(e)) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("The run failed: {e}"));
        }
        Some(Ok(result)) => {
            let r = &result.report;
            ui.separator();
            ui.strong("Report");
            egui::Grid::new("load_report").striped(true).show(ui, |ui| {
                let rows = [
                    (
                        "Target rate",
                        r.target_rate_per_sec
                            .map_or_else(|| "max".into(), |t| format!("{t:.0} events/s")),
                    ),
                    (
                        "Achieved rate",
                        format!("{:.0} events/s", r.achieved_rate_per_sec),
                    ),
                    ("Events sent (acknowledged)", r.events_sent.to_string()),
                    ("Events failed", r.events_failed.to_string()),
                    ("Bytes sent", r.bytes_sent.to_string()),
                    ("Run time", format!("{:.1} s", r.duration_secs)),
                    (
                        "Latency from due p50 / p90 / p99 / p99.9 / max",
                        format!(
                            "{:.2} / {:.2} / {:.2} / {:.2} / {:.2} ms",
                            r.latency_ms.p50,
                            r.latency_ms.p90,
                            r.latency_ms.p99,
                            r.latency_ms.p999,
                            r.latency_ms.max
                        ),
                    ),
                    (
                        "Latency from send p50 / p99",
                        format!(
                            "{:.2} / {:.2} ms",
                            r.send_latency_ms.p50, r.send_latency_ms.p99
                        ),
                    ),
                ];
                for (name, value) in rows {
                    ui.label(name);
                    ui.label(value);
                    ui.end_row();
                }
            });
            if !result.per_partition.is_empty() {
                let split: Vec<String> = (result.per_partition.iter())
                    .map(|(id, n)| format!("{id}: {n}"))
                    .collect();
                ui.label(format!(
                    "Events per partition, as the hub counted them (by anyone, during the run): {}",
                    split.join(", ")
                ));
            }
            if let Some(e2e) = &r.end_to_end {
                ui.label(format!(
                    "End to end: {} of {} events read back",
                    e2e.received, r.events_sent
                ));
                for (partition, l) in &e2e.per_partition_ms {
                    ui.label(format!(
                        "  partition {partition}: produce to consume p50 {:.2} / p99 {:.2} / max {:.2} ms",
                        l.p50, l.p99, l.max
                    ));
                }
            }
            for note in &result.notes {
                ui.weak(format!("Note: {note}"));
            }
            ui.horizontal(|ui| {
                for (label, format) in [
                    ("Export JSON…", LoadExport::Json),
                    ("Export CSV…", LoadExport::Csv),
                    ("Export histogram…", LoadExport::Histogram),
                ] {
                    if ui.button(label).clicked() {
                        export = Some(format);
                    }
                }
            });
        }
    }
    export
}
