//! The engine's file work: the desktop's dialog when the user asks for it, and exports and
//! imports to the paths the app's own file prompt chose. Every outcome is told: a file that
//! could not be written or read is a notice, never only a log line. Long exports report
//! progress for the status bar.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{send_event, Engine};
use crate::bridge::{Event, FileUse, LoadExport, Notice, TaskProgress, Waker};
use crate::consumer::live;
use crate::consumer::ReceivedRecord;
use crate::profiles::{store, Profile};

/// Progress is reported at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
const EXPORTING: &str = "Exporting events";

impl Engine {
    /// Opens the desktop's dialog (the XDG portal, or zenity); `Browsed { path: None }` when it
    /// chose nothing, which is also all rfd says when neither exists.
    pub(super) fn spawn_browse(&self, purpose: FileUse, suggested: PathBuf) {
        let (events, waker) = (self.events.clone(), self.waker.clone());
        tokio::spawn(async move {
            let mut dialog = rfd::AsyncFileDialog::new();
            if let Some(dir) = suggested.parent().filter(|d| d.is_dir()) {
                dialog = dialog.set_directory(dir);
            }
            if matches!(
                purpose,
                FileUse::ExportProfiles | FileUse::ImportProfiles | FileUse::EmulatorConfig
            ) {
                dialog = dialog.add_filter("JSON", &["json"]);
            }
            let chosen = if purpose.writes() {
                if let Some(name) = suggested.file_name() {
                    dialog = dialog.set_file_name(name.to_string_lossy());
                }
                dialog.save_file().await
            } else {
                dialog.pick_file().await
            };
            let path = chosen.map(|file| file.path().to_path_buf());
            send_event(&events, &waker, Event::Browsed { purpose, path });
        });
    }

    pub(super) fn spawn_profiles_export(
        &self,
        profiles: Vec<Profile>,
        include_secrets: bool,
        path: PathBuf,
    ) {
        let (events, waker) = (self.events.clone(), self.waker.clone());
        tokio::task::spawn_blocking(move || {
            let count = profiles.len();
            let notice = match store::export(&path, &profiles, include_secrets) {
                Ok(()) => Notice::info(format!(
                    "Exported {count} profile(s) to {}{}",
                    path.display(),
                    if include_secrets {
                        " with their secrets"
                    } else {
                        " without secrets"
                    }
                )),
                Err(e) => Notice::error("The profiles were not exported", e.to_string()),
            };
            send_event(&events, &waker, Event::Notice(notice));
        });
    }

    pub(super) fn spawn_profiles_import(&self, path: PathBuf) {
        let (events, waker) = (self.events.clone(), self.waker.clone());
        tokio::task::spawn_blocking(move || {
            let event = match store::import(&path) {
                Ok(profiles) => Event::Imported(profiles),
                Err(e) => Event::Notice(Notice::error("Nothing was imported", e.to_string())),
            };
            send_event(&events, &waker, event);
        });
    }

    pub(super) fn spawn_live_export(&self, only_shown: bool, path: PathBuf) {
        let Some(live) = &self.live else {
            self.notify(Notice::error(
                "Nothing to export",
                "start the live view first",
            ));
            return;
        };
        let rows = live::lock(&live.store).export_rows(only_shown);
        let (events, waker) = (self.events.clone(), self.waker.clone());
        tokio::task::spawn_blocking(move || {
            let written = write_jsonl(&path, &rows, &events, &waker);
            // Done, either way: the status bar's progress ends here.
            let total = rows.len() as u64;
            let done = TaskProgress {
                task: EXPORTING,
                done: total,
                total,
            };
            send_event(&events, &waker, Event::Progress(done));
            let notice = match written {
                Ok(n) => Notice::info(format!("Exported {n} events to {}", path.display())),
                Err(e) => Notice::error(
                    "The events were not exported",
                    format!("{}: {e}", path.display()),
                ),
            };
            send_event(&events, &waker, Event::Notice(notice));
        });
    }

    pub(super) fn spawn_load_export(&self, format: LoadExport, path: PathBuf) {
        let last = self.last_load.lock().ok().and_then(|l| l.clone());
        let Some(result) = last else {
            self.notify(Notice::error(
                "Nothing to export",
                "no load run has finished yet",
            ));
            return;
        };
        let (events, waker) = (self.events.clone(), self.waker.clone());
        tokio::task::spawn_blocking(move || {
            let text = match format {
                LoadExport::Json => {
                    serde_json::to_string_pretty(&result.report).map_err(|e| e.to_string())
                }
                LoadExport::Csv => Ok(result.csv.clone()),
                LoadExport::Histogram => result.histogram.clone().map_err(|e| e.to_string()),
            };
            let written = text.and_then(|text| {
                std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
            });
            let notice = match written {
                Ok(()) => Notice::info(format!("Wrote {}", path.display())),
                Err(e) => Notice::error("The report was not exported", e),
            };
            send_event(&events, &waker, Event::Notice(notice));
        });
    }
}

/// Writes events in the export format, one per line, telling the status bar how far it is.
fn write_jsonl(
    path: &Path,
    rows: &[Arc<ReceivedRecord>],
    events: &tokio::sync::mpsc::Sender<Event>,
    waker: &Waker,
) -> std::io::Result<usize> {
    let total = rows.len() as u64;
    let progress = |done: u64| {
        let task = EXPORTING;
        send_event(
            events,
            waker,
            Event::Progress(TaskProgress { task, done, total }),
        );
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut last = Instant::now();
    for (i, row) in rows.iter().enumerate() {
        serde_json::to_writer(&mut out, &row.to_export())?;
        out.write_all(b"\n")?;
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            progress(i as u64);
        }
    }
    out.flush()?;
    Ok(rows.len())
}
