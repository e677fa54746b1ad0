//! The app's own file prompt: a path field that always works, with the desktop's dialog offered
//! beside it. Many Linux desktops and every remote session have no file-chooser portal, and
//! then the dialog silently opens nothing; the field is how the user gets on anyway.

use std::path::{Path, PathBuf};

use crate::bridge::{Command, FileUse};

pub struct FilePrompt {
    pub purpose: FileUse,
    pub path: String,
    /// Said under the field: the dialog chose nothing, or the path cannot be used.
    pub note: Option<String>,
}

/// What the user did with the prompt this frame.
#[derive(Debug, PartialEq, Eq)]
pub enum PromptAnswer {
    Waiting,
    Chosen(PathBuf),
    Cancelled,
}

impl FilePrompt {
    /// A prompt offering `file_name` in the user's downloads folder (or home).
    #[must_use]
    pub fn new(purpose: FileUse, file_name: &str) -> Self {
        let path = if file_name.is_empty() {
            String::new()
        } else {
            default_dir().join(file_name).display().to_string()
        };
        Self {
            purpose,
            path,
            note: None,
        }
    }

    /// The desktop's dialog answered.
    pub fn browsed(&mut self, path: Option<PathBuf>) {
        match path {
            Some(path) => {
                self.path = path.display().to_string();
                self.note = None;
            }
            None => self.note = Some(NOTHING_CHOSEN.into()),
        }
    }

    /// The path, if it can be used as this prompt's purpose needs.
    fn checked(&self) -> Result<PathBuf, String> {
        checked_path(&self.path, self.purpose.writes())
    }
}

/// What is said when the desktop's dialog chose nothing: rfd cannot tell a cancel from a
/// desktop without any dialog, so both are said.
pub const NOTHING_CHOSEN: &str = "No file was chosen. If no dialog appeared, this desktop has no \
     file chooser (xdg-desktop-portal or zenity): type the path instead.";

/// Where files are offered by default: the downloads folder, else home, else here.
#[must_use]
pub fn default_dir() -> PathBuf {
    directories::UserDirs::new().map_or_else(
        || PathBuf::from("."),
        |dirs| {
            dirs.download_dir()
                .filter(|d| d.is_dir())
                .unwrap_or(dirs.home_dir())
                .to_path_buf()
        },
    )
}

/// A typed path checked before anything is written or read, so that the reason is said in the
/// prompt, where it can be fixed.
fn checked_path(text: &str, writes: bool) -> Result<PathBuf, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("Type a path.".into());
    }
    let path = expand_home(text);
    if path.is_dir() {
        return Err(format!("{} is a folder: add a file name.", path.display()));
    }
    if writes {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent.filter(|p| !p.is_dir()) {
            return Err(format!("The folder {} does not exist.", parent.display()));
        }
    } else if !path.is_file() {
        return Err(format!("{} does not exist.", path.display()));
    }
    Ok(path)
}

/// `~/x` as a shell would read it.
fn expand_home(text: &str) -> PathBuf {
    match text.strip_prefix("~/") {
        Some(rest) => directories::UserDirs::new()
            .map_or_else(|| PathBuf::from(text), |d| d.home_dir().join(rest)),
        None => PathBuf::from(text),
    }
}

/// Draws the prompt as a modal window: `title` on top, `action` on the confirming button.
pub fn prompt_ui(
    ctx: &egui::Context,
    prompt: &mut FilePrompt,
    title: &str,
    action: &str,
    outbox: &mut Vec<Command>,
) -> PromptAnswer {
    let mut answer = PromptAnswer::Waiting;
    let modal = egui::Modal::new(egui::Id::unique("file_prompt")).show(ctx, |ui| {
        ui.set_width(520.0);
        ui.heading(title);
        ui.horizontal(|ui| {
            let label = ui.label("File");
            let field = ui
                .add(egui::TextEdit::singleline(&mut prompt.path).desired_width(360.0))
                .labelled_by(label.id);
            let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Browse…").clicked() {
                prompt.note = None;
                outbox.push(Command::Browse {
                    purpose: prompt.purpose,
                    suggested: expand_home(prompt.path.trim()),
                });
            }
            if entered {
                answer = confirm(prompt);
            }
        });
        // Two lines are always kept for the note, so the buttons below never move.
        let exists = prompt.purpose.writes() && Path::new(prompt.path.trim()).is_file();
        let two_lines =
            2.0 * ui.text_style_height(&egui::TextStyle::Body) + ui.spacing().item_spacing.y;
        ui.allocate_ui(egui::vec2(ui.available_width(), two_lines), |ui| {
            ui.set_min_height(two_lines);
            match &prompt.note {
                Some(note) => ui.colored_label(ui.visuals().warn_fg_color, note),
                None if exists => ui.weak("That file exists and will be replaced."),
                None => ui.weak(""),
            };
        });
        ui.horizontal(|ui| {
            if ui.button(action).clicked() {
                answer = confirm(prompt);
            }
            if ui.button("Cancel").clicked() {
                answer = PromptAnswer::Cancelled;
            }
        });
    });
    if modal.should_close() && answer == PromptAnswer::Waiting {
        answer = PromptAnswer::Cancelled;
    }
    answer
}

fn confirm(prompt: &mut FilePrompt) -> PromptAnswer {
    match prompt.checked() {
        Ok(path) => PromptAnswer::Chosen(path),
        Err(why) => {
            prompt.note = Some(why);
            PromptAnswer::Waiting
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_for_what_they_are_used_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a.json");
        std::fs::write(&file, "{}").expect("write");
        let text = |p: &Path| p.display().to_string();
        assert!(checked_path("  ", true).is_err());
        assert!(checked_path(&text(dir.path()), true)
            .expect_err("a folder")
            .contains("is a folder"));
        assert!(checked_path(&text(&dir.path().join("nope/x.json")), true)
            .expect_err("no folder")
            .contains("does not exist"));
        assert_eq!(checked_path(&text(&file), true), Ok(file.clone()));
        assert_eq!(checked_path(&text(&file), false), Ok(file.clone()));
        assert!(checked_path(&text(&dir.path().join("b.json")), false)
            .expect_err("missing")
            .contains("does not exist"));
        // A bare name is written where the app runs.
        assert_eq!(checked_path("x.jsonl", true), Ok(PathBuf::from("x.jsonl")));
    }
}
