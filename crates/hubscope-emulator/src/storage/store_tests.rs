//! Tests of the partition log, its retention and its journal.

use super::*;
use bytes::Bytes;
use std::path::Path;
use std::sync::atomic::AtomicBool;

fn partition(max_bytes: u64) -> Partition {
    Partition::new("0".into(), None, Arc::new(AtomicU64::new(0)), max_bytes)
}

/// `n` events of `size` bytes each.
pub(crate) fn events(n: usize, size: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|_| NewEvent {
            message: Bytes::from(vec![7u8; size]),
            partition_key: None,
        })
        .collect()
}

#[test]
fn sequence_numbers_and_offsets() {
    let p = partition(u64::MAX);
    assert_eq!(p.info().last_sequence_number, -1);
    assert!(p.info().is_empty);
    assert_eq!(p.append(events(3, 10)).ok(), Some(0));
    assert_eq!(p.append(events(2, 5)).ok(), Some(3));
    let all = p.read(0, 100);
    let seqs: Vec<i64> = all.iter().map(|e| e.sequence_number).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
    let offsets: Vec<u64> = all.iter().map(|e| e.offset).collect();
    assert_eq!(offsets, vec![0, 10, 20, 30, 35]);
    let info = p.info();
    assert_eq!((info.last_sequence_number, info.last_offset), (4, 35));
}

#[test]
fn start_positions() {
    let p = partition(u64::MAX);
    let _ = p.append(events(5, 10));
    assert_eq!(p.resolve_start(&StartPosition::Earliest), 0);
    assert_eq!(p.resolve_start(&StartPosition::Latest), 5);
    let seq = |n, inclusive| StartPosition::SequenceNumber {
        sequence_number: n,
        inclusive,
    };
    assert_eq!(p.resolve_start(&seq(2, true)), 2);
    assert_eq!(p.resolve_start(&seq(2, false)), 3);
    let off = |offset, inclusive| StartPosition::Offset { offset, inclusive };
    assert_eq!(p.resolve_start(&off(20, true)), 2);
    assert_eq!(p.resolve_start(&off(20, false)), 3);
    assert_eq!(
        p.resolve_start(&StartPosition::EnqueuedTime { unix_ms: 0 }),
        0
    );
    assert_eq!(
        p.resolve_start(&StartPosition::EnqueuedTime { unix_ms: i64::MAX }),
        5
    );
}

#[test]
fn expiry_moves_the_beginning() {
    let p = partition(u64::MAX);
    let _ = p.append(events(3, 10));
    assert_eq!(p.expire_before(i64::MAX), 3);
    let info = p.info();
    assert_eq!(info.begin_sequence_number, 3);
    assert_eq!(info.last_sequence_number, 2);
    assert!(info.is_empty);
    assert!(p.read(0, 10).is_empty());
    assert_eq!(p.append(events(1, 10)).ok(), Some(3));
}

/// A journal's path in a fresh directory, which lives as long as the returned guard.
fn journal_path() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("0.log");
    (dir, path)
}

fn durable(path: &Path) -> Partition {
    let journal = Journal::open(path, 0).expect("journal");
    Partition::new(
        "0".into(),
        Some(journal),
        Arc::new(AtomicU64::new(0)),
        u64::MAX,
    )
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("journal file").len()
}

#[test]
fn compaction_shrinks_the_journal_and_keeps_numbering() {
    let (_dir, path) = journal_path();
    let p = durable(&path);
    let _ = p.append(events(10, 100));
    // Nothing to reclaim yet: everything is retained.
    assert_eq!(p.compact_journal(0).ok(), Some(0));
    let full = file_len(&path);
    let _ = p.expire_before(i64::MAX);
    let _ = p.append(events(1, 100)); // sequence 10, the only retained event
    let reclaimed = p.compact_journal(0).expect("compact");
    assert!(reclaimed >= full, "reclaimed {reclaimed} of {full}");
    let _ = p.append(events(1, 100)); // sequence 11, after compaction
    drop(p);
    let p = durable(&path);
    let seqs: Vec<i64> = p.read(0, 100).iter().map(|e| e.sequence_number).collect();
    assert_eq!(seqs, vec![10, 11]);
    assert_eq!(p.info().last_offset, 1100);
    assert_eq!(p.append(events(1, 100)).ok(), Some(12));
    assert_eq!(p.read(12, 1)[0].offset, 1200);
}

#[test]
fn compacting_an_emptied_partition_keeps_its_numbering_across_restarts() {
    let (_dir, path) = journal_path();
    let p = durable(&path);
    let _ = p.append(events(3, 100));
    let _ = p.expire_before(i64::MAX);
    assert!(p.compact_journal(0).expect("compact") > 0);
    drop(p);
    for _ in 0..2 {
        let p = durable(&path);
        let info = p.info();
        assert!(info.is_empty);
        assert_eq!((info.last_sequence_number, info.last_offset), (2, 200));
        assert_eq!(info.begin_sequence_number, 3);
    }
    let p = durable(&path);
    assert_eq!(p.append(events(1, 100)).ok(), Some(3));
    assert_eq!(p.read(3, 1)[0].offset, 300);
}

#[test]
fn a_failed_compaction_waits_before_it_is_tried_again() {
    let (dir, path) = journal_path();
    let p = durable(&path);
    let _ = p.append(events(10, 100));
    let _ = p.expire_before(i64::MAX);
    // A directory where the compaction copy goes: the copy cannot be written.
    let blocker = dir.path().join("0.log.compact");
    std::fs::create_dir(&blocker).expect("dir");
    assert!(p.compact_journal(0).is_err());
    std::fs::remove_dir(&blocker).expect("rmdir");
    let full = file_len(&path);
    assert_eq!(p.compact_journal(0).expect("skipped"), 0);
    assert_eq!(file_len(&path), full, "not tried again at once");
    // Once the wait is over it runs; here the wait is cut short.
    *lock(&p.compaction_backoff) = Backoff::default();
    assert!(p.compact_journal(0).expect("compact") > 0);
    assert!(file_len(&path) < full);
}

#[test]
fn compaction_loses_nothing_appended_while_it_runs() {
    let (_dir, path) = journal_path();
    // A memory bound of 200 events: older ones are evicted as the writer appends, so each
    // compaction has something to drop and something to keep.
    let journal = Journal::open(&path, 0).expect("journal");
    let p = Arc::new(Partition::new(
        "0".into(),
        Some(journal),
        Arc::new(AtomicU64::new(0)),
        200 * 50,
    ));
    // Halfway, the writer waits for one compaction to have happened: on a loaded machine it
    // could otherwise finish before the first one starts, and the test would check nothing.
    let compacted = Arc::new(AtomicBool::new(false));
    let writer = std::thread::Builder::new()
        .name("appender".into())
        .spawn({
            let p = p.clone();
            let compacted = compacted.clone();
            move || {
                // Bounded: if compaction failed, the main thread's `expect` has ended the test.
                let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
                for i in 0..2000 {
                    while i == 1000
                        && !compacted.load(Ordering::Acquire)
                        && std::time::Instant::now() < give_up
                    {
                        std::thread::yield_now();
                    }
                    let _ = p.append(events(2, 50));
                }
            }
        })
        .expect("thread");
    while !writer.is_finished() {
        if p.compact_journal(0).expect("compact") > 0 {
            compacted.store(true, Ordering::Release);
        }
    }
    writer.join().expect("writer");
    assert!(compacted.load(Ordering::Acquire));
    drop(p);
    // Reopened without a memory bound: whatever the journal kept must run without a gap
    // up to the last acknowledged event.
    let p = durable(&path);
    let seqs: Vec<i64> = p
        .read(0, 10_000)
        .iter()
        .map(|e| e.sequence_number)
        .collect();
    assert_eq!(seqs.last().copied(), Some(3999));
    assert!(seqs.len() >= 200, "only {} events kept", seqs.len());
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "a gap in {seqs:?}"
    );
}

#[test]
fn memory_bound_evicts_oldest() {
    let p = partition(100);
    let _ = p.append(events(10, 10));
    let _ = p.append(events(5, 10));
    let info = p.info();
    assert_eq!(info.begin_sequence_number, 5);
    assert_eq!(info.retained_events, 10);
}
