//! A partition's append-only journal on disk.
//!
//! Record: `len: u32 LE` (bytes after this field) · `crc32: u32 LE` (of the rest) · `sequence: i64`
//! · `offset: u64` · `enqueued_ms: i64` · `key_len: u32` (`u32::MAX` = no key) · key · message.
//!
//! Sync policy: every append is one `write(2)` of whole records, done before the publisher is
//! acknowledged, so an acknowledged event survives a crash of the process (`kill -9`): the data is
//! in the kernel. The journal is `fdatasync`ed once a second and on clean shutdown, so a power
//! loss can lose at most the last second. On open, a torn or corrupt tail (a failed write, a disk
//! fault) is cut off at the last whole record, and events past retention are compacted away.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::store::StoredEvent;

const FIXED_LEN: usize = 4 + 8 + 8 + 8 + 4;
/// Largest record we believe: a 1 MB publish plus key and header, with room to spare.
const MAX_RECORD_LEN: usize = 4 * 1024 * 1024;
const NO_KEY: u32 = u32::MAX;

#[derive(Debug, thiserror::Error)]
#[error("journal {path}")]
pub struct JournalError {
    path: PathBuf,
    source: io::Error,
}

/// An open journal, positioned for appends.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

/// What a journal held when it was opened.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Events still within retention, oldest first.
    pub events: Vec<StoredEvent>,
    /// The newest event ever written (sequence, offset, enqueued ms, size), retained or not.
    pub last: Option<(i64, u64, i64, u64)>,
}

impl Journal {
    /// Opens (or creates) the journal at `path`, recovering its events.
    ///
    /// # Errors
    /// [`JournalError`] when the file cannot be created, read or rewritten.
    pub fn open(path: &Path, cutoff_ms: i64) -> Result<(Self, Recovered), JournalError> {
        let err = |source| JournalError {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(err)?;
        }
        let (all, good_len) = match File::open(path) {
            Ok(file) => read_records(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (Vec::new(), 0),
            Err(e) => return Err(err(e)),
        };
        let last = all.last().map(|e| {
            (
                e.sequence_number,
                e.offset,
                e.enqueued_ms,
                e.message.len() as u64,
            )
        });
        let first_retained = all.partition_point(|e| e.enqueued_ms < cutoff_ms);
        let events: Vec<StoredEvent> = all.into_iter().skip(first_retained).collect();
        if first_retained > 0 {
            // Compact: rewrite with retained events only, then atomically replace.
            let tmp = path.with_extension("log.compact");
            let mut out = File::create(&tmp).map_err(err)?;
            let mut buf = Vec::new();
            for event in &events {
                encode_record(event, &mut buf);
            }
            out.write_all(&buf).map_err(err)?;
            out.sync_data().map_err(err)?;
            fs::rename(&tmp, path).map_err(err)?;
        } else if good_len > 0 {
            // Cut a torn tail so the next append starts at a record boundary.
            let file = OpenOptions::new().write(true).open(path).map_err(err)?;
            file.set_len(good_len).map_err(err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        let mut journal = Self {
            path: path.to_owned(),
            file,
        };
        // An expired-but-newest event is written back as a marker so numbering survives; it is
        // expired again at the next open and never served.
        if events.is_empty() && first_retained > 0 {
            if let Some((sequence_number, offset, enqueued_ms, _)) = last {
                journal.append(&[StoredEvent {
                    sequence_number,
                    offset,
                    enqueued_ms,
                    partition_key: None,
                    message: Bytes::new(),
                }])?;
            }
        }
        Ok((journal, Recovered { events, last }))
    }

    /// Writes the records in one call.
    ///
    /// # Errors
    /// [`JournalError`] from the write.
    pub fn append(&mut self, events: &[StoredEvent]) -> Result<(), JournalError> {
        let mut buf = Vec::with_capacity(events.iter().map(|e| e.message.len() + 64).sum());
        for event in events {
            encode_record(event, &mut buf);
        }
        self.file.write_all(&buf).map_err(|source| JournalError {
            path: self.path.clone(),
            source,
        })
    }

    /// `fdatasync`s the file.
    ///
    /// # Errors
    /// [`JournalError`] from the sync.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(|source| JournalError {
            path: self.path.clone(),
            source,
        })
    }
}

fn encode_record(event: &StoredEvent, out: &mut Vec<u8>) {
    let key = event.partition_key.as_deref().map(str::as_bytes);
    let body_len = FIXED_LEN + key.map_or(0, <[u8]>::len) + event.message.len();
    let start = out.len();
    // Records are bounded by MAX_RECORD_LEN, far below u32::MAX.
    #[allow(clippy::cast_possible_truncation)]
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.extend_from_slice(&event.sequence_number.to_le_bytes());
    out.extend_from_slice(&event.offset.to_le_bytes());
    out.extend_from_slice(&event.enqueued_ms.to_le_bytes());
    #[allow(clippy::cast_possible_truncation)]
    let key_len = key.map_or(NO_KEY, |k| k.len() as u32);
    out.extend_from_slice(&key_len.to_le_bytes());
    if let Some(key) = key {
        out.extend_from_slice(key);
    }
    out.extend_from_slice(&event.message);
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Reads whole, checksummed records; stops at the first torn or corrupt one.
/// Returns the events and the byte length of the good prefix.
fn read_records(file: File) -> (Vec<StoredEvent>, u64) {
    let mut reader = BufReader::new(file);
    let mut events: Vec<StoredEvent> = Vec::new();
    let mut good_len = 0u64;
    loop {
        let mut len = [0u8; 4];
        if reader.read_exact(&mut len).is_err() {
            break;
        }
        let len = u32::from_le_bytes(len) as usize;
        if !(FIXED_LEN..=MAX_RECORD_LEN).contains(&len) {
            break;
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            break;
        }
        let Some(event) = decode_record(&body) else {
            break;
        };
        // An empty message is the numbering marker written after compaction; it is never served.
        let marker = event.message.is_empty();
        if !marker
            && events
                .last()
                .is_some_and(|e| e.sequence_number >= event.sequence_number)
        {
            break;
        }
        good_len += 4 + len as u64;
        events.push(event);
    }
    (events, good_len)
}

fn decode_record(body: &[u8]) -> Option<StoredEvent> {
    let crc = u32::from_le_bytes(body.get(..4)?.try_into().ok()?);
    if crc32fast::hash(&body[4..]) != crc {
        return None;
    }
    let i64_at = |at: usize| -> Option<i64> {
        Some(i64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?))
    };
    let sequence_number = i64_at(4)?;
    let offset = u64::from_le_bytes(body.get(12..20)?.try_into().ok()?);
    let enqueued_ms = i64_at(20)?;
    let key_len = u32::from_le_bytes(body.get(28..32)?.try_into().ok()?);
    let (partition_key, rest) = if key_len == NO_KEY {
        (None, body.get(32..)?)
    } else {
        let end = 32usize.checked_add(key_len as usize)?;
        let key = String::from_utf8(body.get(32..end)?.to_vec()).ok()?;
        (Some(key), body.get(end..)?)
    };
    Some(StoredEvent {
        sequence_number,
        offset,
        enqueued_ms,
        partition_key,
        message: Bytes::copy_from_slice(rest),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, ms: i64, key: Option<&str>) -> StoredEvent {
        StoredEvent {
            sequence_number: seq,
            offset: u64::try_from(seq).unwrap_or(0) * 3,
            enqueued_ms: ms,
            partition_key: key.map(str::to_owned),
            message: Bytes::from_static(b"abc"),
        }
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub/0.log");
        let (mut j, rec) = Journal::open(&path, 0).expect("open");
        assert!(rec.events.is_empty());
        j.append(&[event(0, 10, Some("k")), event(1, 11, None)])
            .expect("append");
        drop(j);
        // A torn write: half a record at the end.
        let mut f = OpenOptions::new().append(true).open(&path).expect("reopen");
        f.write_all(&[40, 0, 0, 0, 1, 2]).expect("tear");
        drop(f);
        let (mut j, rec) = Journal::open(&path, 0).expect("open");
        assert_eq!(
            rec.events,
            vec![event(0, 10, Some("k")), event(1, 11, None)]
        );
        j.append(&[event(2, 12, None)]).expect("append after cut");
        drop(j);
        let (_, rec) = Journal::open(&path, 0).expect("open");
        assert_eq!(rec.events.len(), 3);
    }

    #[test]
    fn retention_compacts_but_keeps_numbering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        let (mut j, _) = Journal::open(&path, 0).expect("open");
        j.append(&[event(0, 10, None), event(1, 20, None)])
            .expect("append");
        drop(j);
        let (_, rec) = Journal::open(&path, 15).expect("open");
        assert_eq!(rec.events.len(), 1);
        let (_, rec) = Journal::open(&path, 100).expect("open");
        assert!(rec.events.is_empty());
        assert_eq!(rec.last.map(|l| l.0), Some(1));
        let (_, rec) = Journal::open(&path, 100).expect("open again");
        assert_eq!(rec.last.map(|l| l.0), Some(1));
    }
}
