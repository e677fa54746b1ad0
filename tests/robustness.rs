//! Hostile and broken clients: each loses its own connection, everyone else keeps being served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azure_messaging_eventhubs::{SendEventOptions, StartLocation};
use common::*;
use hubscope::emulator::protocol::wire::{encode_performative, encode_uint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SASL_HEADER: &[u8] = b"AMQP\x03\x01\x00\x00";
const AMQP_HEADER: &[u8] = b"AMQP\x00\x01\x00\x00";

fn frame(frame_type: u8, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&u32::try_from(8 + body.len()).unwrap().to_be_bytes());
    f.extend_from_slice(&[2, frame_type, 0, 0]);
    f.extend_from_slice(body);
    f
}

/// SASL ANONYMOUS, then an AMQP Open: a connection ready for whatever the test sends next.
async fn opened_connection(emu: &hubscope::emulator::RunningEmulator) -> TcpStream {
    let mut s = TcpStream::connect(emu.local_addr).await.expect("connect");
    let mut init = Vec::new();
    let mechanism = [&[0xa3, 9][..], b"ANONYMOUS"].concat();
    encode_performative(0x41, &[&mechanism], &mut init);
    let mut open = Vec::new();
    let container = [&[0xa1, 4][..], b"test"].concat();
    encode_performative(0x10, &[&container, &[0x40], &encode_uint(65536)], &mut open);
    let bytes = [SASL_HEADER, &frame(1, &init), AMQP_HEADER, &frame(0, &open)].concat();
    s.write_all(&bytes).await.expect("write");
    s
}

/// Reads until the server closes; fails if it keeps the connection open.
async fn closed_by_server(mut s: TcpStream) {
    let mut buf = vec![0u8; 65536];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "server kept a broken connection open");
}

async fn still_serves(emu: &hubscope::emulator::RunningEmulator) {
    let producer = producer(emu, "eh1").await;
    producer
        .send_event(
            b"still here".to_vec(),
            Some(SendEventOptions {
                partition_id: Some("0".into()),
            }),
        )
        .await
        .expect("a well-behaved client is served");
    producer.close().await.expect("close");
}

#[tokio::test]
async fn garbage_instead_of_a_protocol_header() {
    let emu = emulator().await;
    let mut s = TcpStream::connect(emu.local_addr).await.expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    closed_by_server(s).await;
    still_serves(&emu).await;
    emu.shutdown().await;
}

/// Control: the hand-made handshake is valid, so the server keeps such a connection open.
async fn stays_open(mut s: TcpStream) -> bool {
    let mut buf = vec![0u8; 65536];
    let mut got_open = false;
    let outcome = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => got_open |= buf[..n].windows(3).any(|w| w == [0x00, 0x53, 0x10]),
            }
        }
    })
    .await;
    outcome.is_err() && got_open
}

#[tokio::test]
async fn malformed_frames_after_open() {
    let emu = emulator().await;
    assert!(
        stays_open(opened_connection(&emu).await).await,
        "valid handshake is kept"
    );
    for junk in [
        frame(0, &[0x00, 0x53, 0x12, 0xc0, 0xff, 0x01]), // attach whose list overruns the frame
        frame(0, &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]), // runaway described nesting
        vec![0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0],        // a 4 GiB frame
        vec![0, 0, 0, 4, 2, 0, 0, 0],                    // smaller than its own header
    ] {
        let mut s = opened_connection(&emu).await;
        s.write_all(&junk).await.expect("write");
        closed_by_server(s).await;
    }
    still_serves(&emu).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn clients_that_vanish_or_stall() {
    let emu = emulator().await;
    // Vanish mid-frame, mid-handshake, and right after connecting.
    let mut s = opened_connection(&emu).await;
    s.write_all(&[0, 0, 0x10, 0, 2, 0, 0, 0, 0x00, 0x53])
        .await
        .expect("write");
    drop(s);
    let mut s = TcpStream::connect(emu.local_addr).await.expect("connect");
    s.write_all(&SASL_HEADER[..5]).await.expect("write");
    drop(s);
    drop(TcpStream::connect(emu.local_addr).await.expect("connect"));
    // Many idle connections that never speak do not starve anyone.
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(emu.local_addr).await.expect("connect"));
    }
    still_serves(&emu).await;
    drop(idle);
    emu.shutdown().await;
}

/// A reader that never reads holds its credit's worth of events and nothing more; the endpoint
/// goes on serving producers and other readers.
#[tokio::test]
async fn a_reader_that_never_reads() {
    let emu = emulator().await;
    let consumer = consumer(&emu, "eh1", None).await;
    let stalled = receiver(&consumer, "0", from(StartLocation::Earliest, false))
        .await
        .expect("rx");
    let producer = producer(&emu, "eh1").await;
    for i in 0..2000 {
        producer
            .send_event(
                format!("{i}").into_bytes(),
                Some(SendEventOptions {
                    partition_id: Some("0".into()),
                }),
            )
            .await
            .expect("producer is not held up by a stalled reader");
    }
    let other = common::consumer(&emu, "eh1", Some("cg1")).await;
    let r = receiver(&other, "0", from(StartLocation::Earliest, false))
        .await
        .expect("rx");
    assert_eq!(take(&r, 2000).await.len(), 2000);
    drop(stalled);
    producer.close().await.expect("close");
    emu.shutdown().await;
}
