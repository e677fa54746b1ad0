//! A partition's append-only journal on disk.
//!
//! Record: `len: u32 LE` (bytes after this field) · `crc32: u32 LE` (of the rest) · `sequence: i64`
//! · `offset: u64` · `enqueued_ms: i64` · `key_len: u32` (`u32::MAX` = no key) · key · message.
//! A numbering marker (see [`Newest`]) has `key_len` `u32::MAX - 1` and the size of the event it
//! stands for (`u64 LE`) in place of the message.
//!
//! Sync policy: every append is one `write(2)` of whole records, done before the publisher is
//! acknowledged, so an acknowledged event survives a crash of the process (`kill -9`): the data is
//! in the kernel. The journal is `fdatasync`ed once a second and on clean shutdown, so a power
//! loss can lose at most the last second.
//!
//! On open, the journal is read up to the first record that is torn (a write cut short by a
//! crash) or corrupt (a checksum that fails, a disk fault). What follows that point is copied
//! beside the journal as `<name>.corrupt-<time>` and logged with its offset and size, never
//! discarded, and the journal then goes on from the last whole record. An I/O error while reading
//! is not taken for a torn tail: it fails the open, so the endpoint does not start.
//!
//! Compaction: events past retention are dropped from the file on open, and while running once
//! the file has grown well past what the partition retains ([`Compaction`]). Either way the
//! retained events are written to a fresh file that then replaces the journal by an atomic
//! rename, so a crash at any point leaves one whole journal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::storage::event::StoredEvent;

const FIXED_LEN: usize = 4 + 8 + 8 + 8 + 4;
/// Bytes a record adds to its message and key.
pub const RECORD_OVERHEAD: u64 = 4 + FIXED_LEN as u64;
/// Largest record we believe: a 1 MB publish plus key and header, with room to spare.
const MAX_RECORD_LEN: usize = 4 * 1024 * 1024;
const NO_KEY: u32 = u32::MAX;
const MARKER: u32 = u32::MAX - 1;

#[derive(Debug, thiserror::Error)]
#[error("journal {path}")]
pub struct JournalError {
    path: PathBuf,
    source: io::Error,
}

impl JournalError {
    fn at(path: &Path) -> impl Fn(io::Error) -> Self + '_ {
        move |source| Self {
            path: path.to_owned(),
            source,
        }
    }
}

/// An open journal, positioned for appends.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Bytes in the file.
    len: u64,
}

/// The newest event ever written to a partition, which numbering resumes after. When compaction
/// drops every event, a marker record keeps it (it is never served).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Newest {
    pub sequence_number: i64,
    pub offset: u64,
    pub enqueued_ms: i64,
    /// The event's message size: the next offset is `offset + size`.
    pub size: u64,
}

/// What a journal held when it was opened.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Events still within retention, oldest first.
    pub events: Vec<StoredEvent>,
    /// The newest event ever written, retained or not.
    pub newest: Option<Newest>,
}

enum Record {
    Event(StoredEvent),
    Marker(Newest),
}

impl Record {
    fn newest(&self) -> Newest {
        match self {
            Self::Event(e) => Newest {
                sequence_number: e.sequence_number,
                offset: e.offset,
                enqueued_ms: e.enqueued_ms,
                size: e.message.len() as u64,
            },
            Self::Marker(newest) => *newest,
        }
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path`, recovering its events and compacting away those
    /// enqueued before `cutoff_ms`.
    ///
    /// # Errors
    /// [`JournalError`] when the file cannot be created, read or rewritten.
    pub fn open(path: &Path, cutoff_ms: i64) -> Result<(Self, Recovered), JournalError> {
        let err = JournalError::at(path);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(&err)?;
        }
        // A compaction's copy left by a crash is incomplete; the journal beside it is whole.
        match fs::remove_file(Compaction::copy_path(path)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(err(e)),
            _ => {}
        }
        let (records, good_len, cut) = match File::open(path) {
            Ok(file) => {
                let read = read_records(file).map_err(&err)?;
                if let Some(stop) = read.stopped {
                    keep_unreadable_rest(path, read.good_len, stop).map_err(&err)?;
                }
                (read.records, read.good_len, read.stopped.is_some())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (Vec::new(), 0, false),
            Err(e) => return Err(err(e)),
        };
        let newest = records.last().map(Record::newest);
        let recorded = records.len();
        let mut events: Vec<StoredEvent> = records
            .into_iter()
            .filter_map(|r| match r {
                Record::Event(e) if e.enqueued_ms >= cutoff_ms => Some(e),
                _ => None,
            })
            .collect();
        // A gap in the numbering is where a compaction's snapshot ends and the events after it
        // begin, those in between having been evicted by the memory bound meanwhile: everything
        // before the gap was evicted too.
        if let Some(gap) = events
            .windows(2)
            .rposition(|w| w[1].sequence_number != w[0].sequence_number + 1)
        {
            events.drain(..=gap);
        }
        if events.len() < recorded {
            let compaction = Compaction::write(path, &events)?;
            let (file, len) = compaction.finish(events.is_empty().then_some(newest).flatten())?;
            let journal = Self {
                path: path.to_owned(),
                file,
                len,
            };
            journal.sync_handle()?.sync_with_directory()?;
            return Ok((journal, Recovered { events, newest }));
        }
        if cut {
            // Cut what `keep_unreadable_rest` saved (all of the file, if its first record was
            // unreadable), so the next append starts at a record boundary.
            let file = OpenOptions::new().write(true).open(path).map_err(&err)?;
            file.set_len(good_len).map_err(&err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(&err)?;
        let journal = Self {
            path: path.to_owned(),
            file,
            len: good_len,
        };
        Ok((journal, Recovered { events, newest }))
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
        if let Err(e) = self.file.write_all(&buf) {
            // A write cut short (a full disk) must not stay in the file: records appended after
            // it would be unreadable on the next open. Nothing of this call was acknowledged.
            if let Err(cut) = self.file.set_len(self.len) {
                tracing::error!(journal = %self.path.display(), error = %cut, "cannot cut a failed append");
            }
            return Err(JournalError::at(&self.path)(e));
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// A handle to sync the file with while appends go on: `fdatasync` can take a disk's
    /// whole latency, which appends should not wait for.
    ///
    /// # Errors
    /// [`JournalError`] when the file handle cannot be duplicated.
    pub fn sync_handle(&self) -> Result<SyncHandle, JournalError> {
        let file = self
            .file
            .try_clone()
            .map_err(JournalError::at(&self.path))?;
        Ok(SyncHandle {
            path: self.path.clone(),
            file,
        })
    }

    /// Bytes in the file.
    #[must_use]
    pub fn bytes_on_disk(&self) -> u64 {
        self.len
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the journal with `compaction` plus `newer` (the events appended since the
    /// compaction's snapshot) and, when no event is retained at all, a marker for `newest`.
    /// Appends must be held off while this runs, or they would land in the file being replaced.
    ///
    /// Returns the replaced file: close it after letting appends go on, since closing the last
    /// handle of a big unlinked file frees its blocks, which takes a while.
    ///
    /// # Errors
    /// [`JournalError`] from writing or renaming; the journal is then unchanged.
    pub fn replace(
        &mut self,
        mut compaction: Compaction,
        newer: &[StoredEvent],
        marker: Option<Newest>,
    ) -> Result<File, JournalError> {
        compaction.append(newer)?;
        let (file, len) = compaction.finish(marker)?;
        self.len = len;
        Ok(std::mem::replace(&mut self.file, file))
    }
}

/// A compacted copy of a journal, written beside it (`*.log.compact`) until it replaces it.
/// Dropped unfinished, it removes its file.
#[derive(Debug)]
pub struct Compaction {
    path: PathBuf,
    tmp: PathBuf,
    file: File,
    len: u64,
    renamed: bool,
}

impl Compaction {
    /// Writes `events` (oldest first) to a fresh file beside the journal at `path`.
    ///
    /// # Errors
    /// [`JournalError`] when the file cannot be created or written.
    pub fn write(path: &Path, events: &[StoredEvent]) -> Result<Self, JournalError> {
        let tmp = Self::copy_path(path);
        // A copy left by a failed compaction is incomplete; start afresh.
        let file = match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => OpenOptions::new().create_new(true).append(true).open(&tmp),
        }
        .map_err(JournalError::at(&tmp))?;
        let mut compaction = Self {
            path: path.to_owned(),
            tmp,
            file,
            len: 0,
            renamed: false,
        };
        compaction.append(events)?;
        // Synced now, while appends go on, so that finishing has only the tail to sync.
        compaction
            .file
            .sync_data()
            .map_err(JournalError::at(&compaction.tmp))?;
        Ok(compaction)
    }

    fn copy_path(journal: &Path) -> PathBuf {
        journal.with_extension("log.compact")
    }

    fn append(&mut self, events: &[StoredEvent]) -> Result<(), JournalError> {
        let mut buf = Vec::with_capacity(1 << 20);
        for chunk in events.chunks(1024) {
            buf.clear();
            for event in chunk {
                encode_record(event, &mut buf);
            }
            self.write_all(&buf)?;
        }
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> Result<(), JournalError> {
        self.file
            .write_all(buf)
            .map_err(JournalError::at(&self.tmp))?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Adds the marker and renames the copy over the journal; returns the new file, open for
    /// appends, and its length.
    fn finish(mut self, marker: Option<Newest>) -> Result<(File, u64), JournalError> {
        if let Some(newest) = marker {
            let mut buf = Vec::new();
            encode_marker(&newest, &mut buf);
            self.write_all(&buf)?;
        }
        // Duplicated before the rename: once renamed, the journal must get this file.
        let file = self.file.try_clone().map_err(JournalError::at(&self.tmp))?;
        // Atomic against a crash of the process; durable once synced with its directory (see
        // `SyncHandle::sync_with_directory`), like any append once synced.
        fs::rename(&self.tmp, &self.path).map_err(JournalError::at(&self.tmp))?;
        self.renamed = true;
        Ok((file, self.len))
    }
}

impl Drop for Compaction {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A journal's file, synced without holding the journal.
#[derive(Debug)]
pub struct SyncHandle {
    path: PathBuf,
    file: File,
}

impl SyncHandle {
    /// `fdatasync`s the file.
    ///
    /// # Errors
    /// [`JournalError`] from the sync.
    pub fn sync(&self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(JournalError::at(&self.path))
    }

    /// Syncs the file and its directory, which makes a compaction's rename durable.
    ///
    /// # Errors
    /// [`JournalError`] from either sync.
    pub fn sync_with_directory(&self) -> Result<(), JournalError> {
        self.sync()?;
        match self.path.parent() {
            Some(dir) => File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(JournalError::at(dir)),
            None => Ok(()),
        }
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

fn encode_marker(newest: &Newest, out: &mut Vec<u8>) {
    let start = out.len();
    #[allow(clippy::cast_possible_truncation)]
    out.extend_from_slice(&((FIXED_LEN + 8) as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.extend_from_slice(&newest.sequence_number.to_le_bytes());
    out.extend_from_slice(&newest.offset.to_le_bytes());
    out.extend_from_slice(&newest.enqueued_ms.to_le_bytes());
    out.extend_from_slice(&MARKER.to_le_bytes());
    out.extend_from_slice(&newest.size.to_le_bytes());
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Why reading a journal stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unreadable {
    /// The file ends inside a record: a write cut short.
    Torn,
    /// A record whose length, checksum or contents are wrong.
    Corrupt,
    /// A record that does not follow its predecessor's sequence number.
    OutOfOrder,
}

impl Unreadable {
    fn describe(self) -> &'static str {
        match self {
            Self::Torn => "a record cut short",
            Self::Corrupt => "a corrupt record",
            Self::OutOfOrder => "a record out of sequence",
        }
    }
}

/// What [`read_records`] read: the whole records, the byte length they take, and why reading
/// stopped early, if it did.
struct Readout {
    records: Vec<Record>,
    good_len: u64,
    stopped: Option<Unreadable>,
}

/// Reads whole, checksummed records in increasing sequence order, up to the end of the file or
/// the first record that is torn, corrupt or out of order.
///
/// # Errors
/// Any I/O error other than the file ending inside a record.
fn read_records(file: File) -> io::Result<Readout> {
    let mut reader = BufReader::new(file);
    let mut records: Vec<Record> = Vec::new();
    let mut good_len = 0u64;
    let stopped = loop {
        let mut len = [0u8; 4];
        match read_whole(&mut reader, &mut len)? {
            Whole::Yes => {}
            Whole::Empty => break None,
            Whole::Partly => break Some(Unreadable::Torn),
        }
        let len = u32::from_le_bytes(len) as usize;
        if !(FIXED_LEN..=MAX_RECORD_LEN).contains(&len) {
            break Some(Unreadable::Corrupt);
        }
        let mut body = vec![0u8; len];
        if read_whole(&mut reader, &mut body)? != Whole::Yes {
            break Some(Unreadable::Torn);
        }
        let Some(record) = decode_record(&body) else {
            break Some(Unreadable::Corrupt);
        };
        let in_order = records
            .last()
            .is_none_or(|last| last.newest().sequence_number < record.newest().sequence_number);
        if !in_order {
            break Some(Unreadable::OutOfOrder);
        }
        good_len += 4 + len as u64;
        records.push(record);
    };
    Ok(Readout {
        records,
        good_len,
        stopped,
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Whole {
    Yes,
    /// Nothing was left to read.
    Empty,
    /// The file ended part way.
    Partly,
}

/// Fills `buf` from `reader`, telling a clean end of file from one inside `buf`.
fn read_whole(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<Whole> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(Whole::Empty),
            Ok(0) => return Ok(Whole::Partly),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Whole::Yes)
}

/// Copies the journal's bytes from `good_len` on to `<journal>.corrupt-<time>` and says so: the
/// open then goes on without them, and they are not lost.
fn keep_unreadable_rest(path: &Path, good_len: u64, why: Unreadable) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(path)?;
    let rest_len = file.metadata()?.len().saturating_sub(good_len);
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_else(|_| "unknown-time".to_owned());
    // A second damage within the same second (a crash loop) gets a name of its own.
    let (kept, mut copy) = (0..1000)
        .find_map(|n| {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(format!(".corrupt-{stamp}"));
            if n > 0 {
                name.push(format!("-{n}"));
            }
            let kept = path.with_file_name(name);
            match OpenOptions::new().write(true).create_new(true).open(&kept) {
                Ok(copy) => Some(Ok((kept, copy))),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            }
        })
        .unwrap_or_else(|| Err(io::ErrorKind::AlreadyExists.into()))?;
    file.seek(SeekFrom::Start(good_len))?;
    io::copy(&mut file, &mut copy)?;
    copy.sync_all()?;
    // The copy's name must be on disk before the journal is cut.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    tracing::warn!(
        journal = %path.display(),
        offset = good_len,
        bytes = rest_len,
        kept = %kept.display(),
        "journal holds {} at byte {good_len}: the {rest_len} bytes from there on are kept in {}, and the partition starts from the events before it",
        why.describe(),
        kept.display(),
    );
    Ok(())
}

fn decode_record(body: &[u8]) -> Option<Record> {
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
    let (partition_key, rest) = match key_len {
        MARKER => {
            let size = u64::from_le_bytes(body.get(32..40)?.try_into().ok()?);
            return Some(Record::Marker(Newest {
                sequence_number,
                offset,
                enqueued_ms,
                size,
            }));
        }
        NO_KEY => (None, body.get(32..)?),
        _ => {
            let end = 32usize.checked_add(key_len as usize)?;
            let key = String::from_utf8(body.get(32..end)?.to_vec()).ok()?;
            (Some(key), body.get(end..)?)
        }
    };
    if rest.is_empty() {
        // The marker of earlier versions, which did not keep the size.
        return Some(Record::Marker(Newest {
            sequence_number,
            offset,
            enqueued_ms,
            size: 0,
        }));
    }
    Some(Record::Event(StoredEvent {
        sequence_number,
        offset,
        enqueued_ms,
        partition_key,
        message: Bytes::copy_from_slice(rest),
    }))
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
        let kept = corrupt_copies(dir.path().join("hub").as_path());
        assert_eq!(fs::read(&kept[0]).expect("kept"), [40, 0, 0, 0, 1, 2]);
        j.append(&[event(2, 12, None)]).expect("append after cut");
        drop(j);
        let (_, rec) = Journal::open(&path, 0).expect("open");
        assert_eq!(rec.events.len(), 3);
    }

    fn corrupt_copies(dir: &Path) -> Vec<PathBuf> {
        fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.to_string_lossy().contains(".corrupt-"))
            .collect()
    }

    #[test]
    fn a_flipped_byte_keeps_the_rest_beside_the_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        let (mut j, _) = Journal::open(&path, 0).expect("open");
        let events: Vec<StoredEvent> = (0..10).map(|i| event(i, 10 + i, None)).collect();
        j.append(&events).expect("append");
        drop(j);
        let whole = fs::read(&path).expect("read");
        let record_len = whole.len() / 10;
        // A byte inside the sixth record's message.
        let mut damaged = whole.clone();
        damaged[5 * record_len + record_len - 2] ^= 0x01;
        fs::write(&path, &damaged).expect("damage");

        let (mut j, rec) = Journal::open(&path, 0).expect("open");
        assert_eq!(rec.events, events[..5], "the good records are served");
        let kept = corrupt_copies(dir.path());
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(
            fs::read(&kept[0]).expect("kept"),
            damaged[5 * record_len..],
            "the unreadable rest is kept byte for byte"
        );
        // The journal goes on from the last good record.
        j.append(&[event(5, 99, None)]).expect("append");
        drop(j);
        let (_, rec) = Journal::open(&path, 0).expect("open");
        assert_eq!(rec.events.len(), 6);
        assert_eq!(corrupt_copies(dir.path()).len(), 1, "nothing more to keep");
    }

    #[test]
    fn a_damaged_first_record_leaves_an_empty_journal_to_go_on_with() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        let (mut j, _) = Journal::open(&path, 0).expect("open");
        j.append(&[event(0, 10, None), event(1, 11, None)])
            .expect("append");
        drop(j);
        let mut damaged = fs::read(&path).expect("read");
        damaged[10] ^= 0xff;
        fs::write(&path, &damaged).expect("damage");
        let (mut j, rec) = Journal::open(&path, 0).expect("open");
        assert!(rec.events.is_empty());
        j.append(&[event(0, 20, None)]).expect("append");
        drop(j);
        let (_, rec) = Journal::open(&path, 0).expect("reopen");
        assert_eq!(
            rec.events,
            [event(0, 20, None)],
            "what was appended after is served"
        );
        assert_eq!(corrupt_copies(dir.path()).len(), 1, "kept once");
    }

    #[test]
    fn a_journal_that_cannot_be_read_fails_the_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the journal should be: opening works, reading fails.
        let path = dir.path().join("0.log");
        fs::create_dir(&path).expect("dir");
        let error = Journal::open(&path, 0).expect_err("an I/O error is not a torn tail");
        assert!(error.to_string().contains("0.log"), "{error}");
        assert!(corrupt_copies(dir.path()).is_empty());
    }

    #[test]
    fn a_stale_compaction_copy_is_removed_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        let (mut j, _) = Journal::open(&path, 0).expect("open");
        j.append(&[event(0, 10, None)]).expect("append");
        drop(j);
        let copy = dir.path().join("0.log.compact");
        fs::write(&copy, b"half a compaction").expect("stale copy");
        let (_, rec) = Journal::open(&path, 0).expect("open");
        assert_eq!(rec.events, vec![event(0, 10, None)]);
        assert!(!copy.exists());
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
        // Event 1 sits at offset 3 with 3 bytes, so the next offset is 6, after any number of
        // reopenings.
        let newest = Newest {
            sequence_number: 1,
            offset: 3,
            enqueued_ms: 20,
            size: 3,
        };
        assert_eq!(rec.newest, Some(newest));
        let (_, rec) = Journal::open(&path, 100).expect("open again");
        assert_eq!(rec.newest, Some(newest));
        assert!(rec.events.is_empty());
    }
}
