//! Tests of the stream wrapper, driven as fe2o3 drives it: frames written in, the client's bytes
//! read from the other end of a pipe.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn frame(channel: u16, descriptor: u64, fields: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    wire::encode_performative(descriptor, fields, &mut body);
    let mut f = Vec::new();
    f.extend_from_slice(&u32::try_from(8 + body.len()).unwrap_or(0).to_be_bytes());
    f.extend_from_slice(&[2, 0]);
    f.extend_from_slice(&channel.to_be_bytes());
    f.extend_from_slice(&body);
    f
}

/// A receiver's settled `accepted` disposition of delivery 0, as fe2o3 sends it.
fn settled_accept(channel: u16) -> Vec<u8> {
    let accepted: &[u8] = &[0x00, 0x53, 0x24, 0x45];
    frame(
        channel,
        code::DISPOSITION,
        &[&[0x41], &[0x43], &[0x40], &[0x41], accepted],
    )
}

/// What the client reads: each frame's performative and its `settled` field, if a disposition.
async fn client_sees(written: &[Vec<u8>]) -> Vec<(u64, Option<bool>)> {
    let (ours, mut client) = tokio::io::duplex(1 << 20);
    let mut shim = ServiceShapedStream::new(ours);
    for f in written {
        shim.write_all(f).await.expect("write");
    }
    shim.shutdown().await.expect("shutdown");
    let mut bytes = Vec::new();
    client.read_to_end(&mut bytes).await.expect("read");
    let mut seen = Vec::new();
    let mut rest = &bytes[..];
    while let Ok(Unit::Frame { size }) = wire::next_unit(rest, 1 << 20) {
        let p = wire::parse_performative(wire::frame_body(&rest[..size])).expect("performative");
        let settled = (p.descriptor == code::DISPOSITION).then(|| p.fields[3] == [0x41]);
        seen.push((p.descriptor, settled));
        rest = &rest[size..];
    }
    assert!(rest.is_empty(), "only whole frames reach the client");
    seen
}

/// A settled disposition goes out unsettled at once; its settled twin is held back, but not past
/// its session's End or the connection's Close (a send that lost the race would otherwise fail
/// although its events were stored).
#[tokio::test]
async fn held_dispositions_go_out_before_end_and_close() {
    let begin = |ch| frame(ch, code::BEGIN, &[&[0x60, 0, 0]]);
    let seen = client_sees(&[begin(0), settled_accept(0), frame(0, code::END, &[])]).await;
    assert_eq!(
        seen,
        [
            (code::BEGIN, None),
            (code::DISPOSITION, Some(false)),
            (code::DISPOSITION, Some(true)),
            (code::END, None),
        ]
    );

    let seen = client_sees(&[begin(0), settled_accept(0), frame(0, code::CLOSE, &[])]).await;
    assert_eq!(
        seen,
        [
            (code::BEGIN, None),
            (code::DISPOSITION, Some(false)),
            (code::DISPOSITION, Some(true)),
            (code::CLOSE, None),
        ]
    );
}
