//! Fuzzing the parts of the endpoint that face the network: the codec, and the engine through a
//! whole connection. Arbitrary bytes, mutated valid frames, and frame sequences in any order.
//!
//! CI runs each with proptest's default case count (whole sessions: 64). The long run is in the
//! README's "Fuzzing the endpoint" (`PROPTEST_CASES` for the frame-level tests, where each case
//! of the sequence test is a whole sequence of frames; `FUZZ_SESSION_CASES` for whole sessions).

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use bytes::BytesMut;

use crate::protocol::wire::{self, code, test_frame};
use crate::protocol::{codec, sections};

fn name(n: &str) -> Vec<u8> {
    [
        &[0xa1, u8::try_from(n.len()).unwrap_or(0)][..],
        n.as_bytes(),
    ]
    .concat()
}

/// A source (`0x28`) or target (`0x29`) with just an address.
fn terminus(descriptor: u8, address: &str) -> Vec<u8> {
    let len = u8::try_from(address.len() + 3).unwrap_or(0);
    [&[0x00, 0x53, descriptor, 0xc0, len, 1][..], &name(address)].concat()
}

/// A sender to a hub (`role` false in Python's long form, asking for settle mode second) and a
/// receiver from a partition.
fn attaches() -> [Vec<u8>; 2] {
    let uint = wire::encode_uint;
    [
        test_frame(
            0,
            code::ATTACH,
            &[
                &name("sender"),
                &uint(1),
                &[0x56, 0x00],
                &[0x50, 0x02],
                &[0x50, 0x01],
                &terminus(0x28, "client"),
                &terminus(0x29, "eh1"),
            ],
        ),
        test_frame(
            0,
            code::ATTACH,
            &[
                &name("receiver"),
                &uint(2),
                &[0x41],
                &[0x50, 0x01],
                &[0x50, 0x00],
                &terminus(0x28, "eh1/ConsumerGroups/$Default/Partitions/0"),
                &terminus(0x29, "receiver"),
            ],
        ),
    ]
}

/// A transfer on handle 1: `first` carries the delivery's ids and `format`.
fn transfer(more: bool, first: bool, format: &[u8]) -> Vec<u8> {
    let none: &[u8] = &[0x40];
    let mut frame = test_frame(
        0,
        code::TRANSFER,
        &[
            &wire::encode_uint(1),
            if first { &[0x43] } else { none },
            if first { &[0xa0, 1, 0] } else { none },
            if first { format } else { none },
            &[0x42],
            if more { &[0x41] } else { &[0x42] },
        ],
    );
    frame.extend_from_slice(&[0x00, 0x53, 0x75, 0xa0, 3, b'a', b'b', b'c']);
    let size = u32::try_from(frame.len()).unwrap_or(0);
    frame[..4].copy_from_slice(&size.to_be_bytes());
    frame
}

/// Valid client frames of every kind the endpoint handles, in the encodings clients use.
fn corpus() -> Vec<Vec<u8>> {
    let uint = wire::encode_uint;
    let batch_format = [
        &[0x70][..],
        &crate::protocol::amqp::BATCH_MESSAGE_FORMAT.to_be_bytes(),
    ]
    .concat();
    let [sender, receiver] = attaches();
    vec![
        test_frame(
            0,
            code::BEGIN,
            &[&[0x40], &uint(0), &uint(5000), &uint(5000), &uint(255)],
        ),
        sender,
        receiver,
        // drain and echo on the receiver
        test_frame(
            0,
            code::FLOW,
            &[
                &uint(0),
                &uint(5000),
                &uint(0),
                &uint(5000),
                &uint(2),
                &uint(0),
                &uint(10),
                &[0x40],
                &[0x41],
                &[0x41],
            ],
        ),
        transfer(false, true, &[0x43]),
        transfer(true, true, &batch_format),
        transfer(false, false, &batch_format),
        test_frame(0, code::DISPOSITION, &[&[0x41], &uint(0), &[0x40], &[0x41]]),
        test_frame(0, code::DETACH, &[&uint(1), &[0x41]]),
        test_frame(0, code::DETACH, &[&uint(2), &[0x42]]),
        test_frame(0, code::END, &[]),
        test_frame(0, code::CLOSE, &[]),
        // A heartbeat.
        vec![0, 0, 0, 8, 2, 0, 0, 0],
    ]
}

/// A client's Open, as the first AMQP frame.
fn open() -> Vec<u8> {
    test_frame(
        0,
        code::OPEN,
        &[
            &[0xa1, 1, b'c'],
            &[0x40],
            &wire::encode_uint(65536),
            &[0x60, 0xff, 0xff],
        ],
    )
}

/// One step of a fuzzed sequence: a corpus frame, on some channel, maybe with one byte changed.
type Step = (usize, u16, Option<(usize, u8)>);

fn step() -> impl Strategy<Value = Step> {
    (
        0usize..16,
        0u16..3,
        proptest::option::weighted(0.3, (0usize..256, any::<u8>())),
    )
}

fn build(steps: &[Step]) -> Vec<u8> {
    let corpus = corpus();
    let mut bytes = open();
    for &(index, channel, mutation) in steps {
        let mut frame = corpus[index % corpus.len()].clone();
        frame[6..8].copy_from_slice(&channel.to_be_bytes());
        if let Some((at, byte)) = mutation {
            let at = at % frame.len();
            frame[at] = byte;
        }
        bytes.extend_from_slice(&frame);
    }
    bytes
}

/// Cuts `bytes` into frames and decodes each as the engine does; returns how many frames came
/// out whole, stopping at the first the codec refuses (as the engine closes the connection).
fn through_the_codec(bytes: &[u8]) -> usize {
    let mut buf = BytesMut::from(bytes);
    let mut frames = 0;
    while let Ok(Some(unit)) = codec::next_unit(&mut buf, 1 << 16, false) {
        if let codec::Unit::Frame(frame) = unit {
            if frame.sasl {
                let _ = codec::decode_sasl(&frame.body);
            } else if codec::decode(&frame.body).is_err() {
                break;
            }
        }
        frames += 1;
    }
    frames
}

proptest! {
    // The codec on arbitrary bytes: decoding may fail, never panic.
    #[test]
    fn the_codec_takes_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut frame = vec![0, 0, 0, 0, 2, 0, 0, 0];
        let size = u32::try_from(frame.len() + body.len()).unwrap_or(0);
        frame[..4].copy_from_slice(&size.to_be_bytes());
        frame.extend_from_slice(&body);
        let _ = through_the_codec(&frame);
        let _ = codec::decode(&bytes::Bytes::from(body.clone()));
        let _ = codec::decode_sasl(&body);
        let _ = sections::split(&body);
    }

    // Valid frames with a byte changed decode or fail cleanly.
    #[test]
    fn mutated_frames_decode_or_fail_cleanly(
        index in 0usize..16,
        at in 0usize..256,
        byte in any::<u8>(),
    ) {
        let corpus = corpus();
        let mut frame = corpus[index % corpus.len()].clone();
        let at = at % frame.len();
        frame[at] = byte;
        let _ = through_the_codec(&frame);
    }

    // Frame sequences in any order, some mutated: the codec takes each frame whole or refuses
    // it, never more frames than came in.
    #[test]
    fn any_frame_sequence_through_the_codec(steps in proptest::collection::vec(step(), 0..30)) {
        let bytes = build(&steps);
        prop_assert!(through_the_codec(&bytes) <= steps.len() + 1);
    }
}

/// What the endpoint has written so far, as the descriptors of its frames (protocol headers
/// skipped).
fn performatives_in(written: &[u8]) -> Vec<Option<u64>> {
    let mut rest = BytesMut::from(written);
    let mut seen = Vec::new();
    loop {
        let header = rest.starts_with(b"AMQP");
        match codec::next_unit(&mut rest, 1 << 20, header) {
            Ok(Some(codec::Unit::Header(_))) => {}
            Ok(Some(codec::Unit::Frame(frame))) => {
                seen.push(
                    wire::parse_performative(&frame.body)
                        .ok()
                        .map(|p| p.descriptor),
                );
            }
            _ => return seen,
        }
    }
}

/// How long a step waits for its answer: a clean session must get it, a mangled one may not (a
/// frame whose size was changed leaves the endpoint waiting for the rest of it, as it should).
#[derive(Debug, Clone, Copy)]
enum Answer {
    Required(u64),
    Likely(u64),
}

/// Reads from the endpoint into `written` until it has sent `descriptor` (or ended).
async fn await_performative(
    from_server: &mut (impl tokio::io::AsyncRead + Unpin),
    written: &mut Vec<u8>,
    answer: Answer,
) -> Result<(), String> {
    let (descriptor, patience, required) = match answer {
        Answer::Required(d) => (d, Duration::from_secs(10), true),
        Answer::Likely(d) => (d, Duration::from_millis(50), false),
    };
    let wait = async {
        let mut chunk = [0u8; 4096];
        while !performatives_in(written).contains(&Some(descriptor)) {
            match from_server.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => written.extend_from_slice(&chunk[..n]),
            }
        }
    };
    match tokio::time::timeout(patience, wait).await {
        Err(_) if required => Err(format!(
            "no performative {descriptor:#x} from the endpoint within {patience:?}"
        )),
        _ => Ok(()),
    }
}

/// Plays `script` to a whole connection after SASL and Open: each step's bytes, then waits for
/// the performative it names. Then the client leaves, and the connection must end within 10 s.
/// Returns what the endpoint wrote.
fn converse(script: &[(Vec<u8>, Answer)]) -> Result<Vec<u8>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let namespace = Arc::new(
            crate::storage::namespace::Namespace::open(&super::EmulatorConfig::default())
                .map_err(|e| e.to_string())?,
        );
        let shared = Arc::new(crate::service::shared::Shared {
            namespace,
            authorizer: crate::service::auth::Authorizer::new(super::AuthMode::AcceptAnyToken),
            endpoint: "sb://fuzz".into(),
            shutdown: tokio_util::sync::CancellationToken::new(),
        });
        let (server, client) = tokio::io::duplex(1 << 20);
        let serving = tokio::spawn(crate::service::connection::serve(server, shared));
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let mechanism = [&[0xa3, 9][..], b"ANONYMOUS"].concat();
        let mut sasl_init = test_frame(0, code::SASL_INIT, &[&mechanism]);
        sasl_init[5] = 1; // a SASL frame
        let sasl = [&b"AMQP\x03\x01\x00\x00"[..], &sasl_init].concat();
        let amqp = [&b"AMQP\x00\x01\x00\x00"[..], &open()].concat();
        let handshake = [
            (sasl, Answer::Required(code::SASL_OUTCOME)),
            (amqp, Answer::Required(code::OPEN)),
        ];
        let mut written = Vec::new();
        for (bytes, answer) in handshake.iter().chain(script) {
            if to_server.write_all(bytes).await.is_err() {
                break; // the endpoint has closed its side
            }
            await_performative(&mut from_server, &mut written, *answer).await?;
        }
        // The client has gone: its side reads end of stream from here on.
        let _ = to_server.shutdown().await;
        match tokio::time::timeout(Duration::from_secs(10), serving).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("the connection task failed: {e}")),
            Err(_) => return Err("the connection did not end after the client left".into()),
        }
        let rest = from_server.read_to_end(&mut written);
        tokio::time::timeout(Duration::from_secs(10), rest)
            .await
            .map_err(|_| "the endpoint's output did not end".to_owned())?
            .map_err(|e| e.to_string())?;
        Ok(written)
    })
}

/// A fuzzed session, closed at the end: whatever the endpoint made of it, the connection ends once
/// the client has gone.
fn a_connection_ends(steps: &[Step]) -> Result<Vec<u8>, String> {
    let mut bytes = build(steps)[open().len()..].to_vec();
    bytes.extend_from_slice(&test_frame(0, code::CLOSE, &[]));
    converse(&[(bytes, Answer::Likely(code::CLOSE))])
}

/// Whole sessions are slower than frames: `FUZZ_SESSION_CASES` sets how many (64 by default).
fn session_cases() -> u32 {
    std::env::var("FUZZ_SESSION_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: session_cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_session_ends_when_the_client_leaves(steps in proptest::collection::vec(step(), 0..20)) {
        let ended = a_connection_ends(&steps);
        prop_assert!(ended.is_ok(), "{:?}", ended.err());
    }
}

/// The harness itself: an unmangled session is served frame for frame, so the fuzzed ones reach
/// the engine.
#[test]
fn a_clean_session_is_answered_frame_for_frame() {
    let corpus = corpus();
    let script = [
        (corpus[0].clone(), Answer::Required(code::BEGIN)),
        (corpus[10].clone(), Answer::Required(code::END)),
        (
            test_frame(0, code::CLOSE, &[]),
            Answer::Required(code::CLOSE),
        ),
    ];
    let written = converse(&script).expect("ends");
    let expected = [
        code::SASL_MECHANISMS,
        code::SASL_OUTCOME,
        code::OPEN,
        code::BEGIN,
        code::END,
        code::CLOSE,
    ];
    assert_eq!(
        performatives_in(&written),
        expected.map(Some),
        "{written:02x?}"
    );
}
