//! Where the events of one send come from: composed in place, a template sent N times, a body
//! read from a file, a file of bodies (one per line), or a hubscope export to replay. Files are
//! read here, off any UI thread, and every event is built before the first is sent.

use std::path::PathBuf;

use super::event::OutgoingEvent;
use super::export_format;
use super::template::{Template, TemplateError};

#[derive(Debug, Clone, PartialEq)]
pub enum SendSource {
    /// Events as they are.
    Events(Vec<OutgoingEvent>),
    /// `count` events whose bodies render `template` (the prototype carries the metadata).
    Template {
        template: String,
        count: u64,
        prototype: OutgoingEvent,
    },
    /// One event whose body is the bytes of a file.
    BodyFile {
        path: PathBuf,
        prototype: OutgoingEvent,
    },
    /// One event per non-empty line.
    Lines {
        path: PathBuf,
        prototype: OutgoingEvent,
    },
    /// A hubscope export, re-sent with its properties, content types and keys.
    Replay { path: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("{} has nothing to send", path.display())]
    Empty { path: PathBuf },
    #[error("{} is not a hubscope export: {reason}", path.display())]
    NotAnExport {
        path: PathBuf,
        reason: export_format::ReplayError,
    },
    #[error("template: {0}")]
    Template(#[from] TemplateError),
}

impl SendSource {
    /// Builds the events (reading files as needed).
    pub fn load(&self) -> Result<Vec<OutgoingEvent>, SourceError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|reason| SourceError::Read {
                path: path.clone(),
                reason,
            })
        };
        let events = match self {
            Self::Events(events) => events.clone(),
            Self::Template {
                template,
                count,
                prototype,
            } => {
                let template = Template::parse(template)?;
                let mut rng = fastrand::Rng::new();
                (0..*count)
                    .map(|seq| OutgoingEvent {
                        body: template.render(seq, &mut rng).into_bytes(),
                        ..prototype.clone()
                    })
                    .collect()
            }
            Self::BodyFile { path, prototype } => vec![OutgoingEvent {
                body: read(path)?,
                ..prototype.clone()
            }],
            Self::Lines { path, prototype } => String::from_utf8_lossy(&read(path)?)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|line| OutgoingEvent {
                    body: line.as_bytes().to_vec(),
                    ..prototype.clone()
                })
                .collect(),
            Self::Replay { path } => export_format::read_export(&String::from_utf8_lossy(&read(
                path,
            )?))
            .map_err(|reason| SourceError::NotAnExport {
                path: path.clone(),
                reason,
            })?,
        };
        match self {
            Self::Lines { path, .. } | Self::Replay { path } if events.is_empty() => {
                Err(SourceError::Empty { path: path.clone() })
            }
            _ => Ok(events),
        }
    }
}
