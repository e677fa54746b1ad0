//! Tests of the stream wrapper, driven as fe2o3 drives it: frames written in, the client's bytes
//! read from the other end of a pipe.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::protocol::amqp::BATCH_MESSAGE_FORMAT;

use wire::test_frame as frame;

/// A receiver's settled `accepted` disposition of delivery 0, as fe2o3 sends it.
fn settled_accept(channel: u16) -> Vec<u8> {
    let accepted: &[u8] = &[0x00, 0x53, 0x24, 0x45];
    frame(
        channel,
        code::DISPOSITION,
        &[&[0x41], &[0x43], &[0x40], &[0x41], accepted],
    )
}

/// A client's Open, with a `product` property when given.
fn client_open(product: Option<&str>) -> Vec<u8> {
    use fe2o3_amqp_types::primitives::{OrderedMap, Symbol, Value};
    let mut open = Open {
        container_id: "client".into(),
        hostname: None,
        max_frame_size: 65536.into(),
        channel_max: 255.into(),
        idle_time_out: None,
        outgoing_locales: None,
        incoming_locales: None,
        offered_capabilities: None,
        desired_capabilities: None,
        properties: None,
    };
    if let Some(product) = product {
        let mut properties = OrderedMap::new();
        properties.insert(Symbol::from("product"), Value::from(product));
        open.properties = Some(properties);
    }
    let body = serde_amqp::to_vec(&Decoded::Open(open)).expect("encode");
    let mut frame = Vec::new();
    let size = u32::try_from(8 + body.len()).expect("size");
    frame.extend_from_slice(&size.to_be_bytes());
    frame.extend_from_slice(&[2, 0, 0, 0]);
    frame.extend_from_slice(&body);
    frame
}

/// What the client reads when it opened with `open` and fe2o3 then wrote `written`: each frame's
/// performative and its `settled` field, if a disposition.
async fn client_sees(open: &[u8], written: &[Vec<u8>]) -> Vec<(u64, Option<bool>)> {
    let (ours, mut client) = tokio::io::duplex(1 << 20);
    let mut shim = ServiceShapedStream::new(ours, Arc::default(), Arc::default());
    client.write_all(open).await.expect("open");
    let mut received = vec![0; open.len()];
    shim.read_exact(&mut received)
        .await
        .expect("the open reaches fe2o3");
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
    let rust_sdk = client_open(Some("azure_messaging_eventhubs"));
    for last in [code::END, code::CLOSE] {
        let seen = client_sees(
            &rust_sdk,
            &[begin(0), settled_accept(0), frame(0, last, &[])],
        )
        .await;
        assert_eq!(
            seen,
            [
                (code::BEGIN, None),
                (code::DISPOSITION, Some(false)),
                (code::DISPOSITION, Some(true)),
                (last, None),
            ]
        );
    }
}

/// Every other client (Python's among them) gets one settled disposition at once: it must not wait
/// for a held one on every send.
#[tokio::test]
async fn only_the_rust_sdk_gets_two_phase_dispositions() {
    let begin = frame(0, code::BEGIN, &[&[0x60, 0, 0]]);
    for product in [None, Some("azsdk-python-eventhubs")] {
        let seen = client_sees(&client_open(product), &[begin.clone(), settled_accept(0)]).await;
        assert_eq!(
            seen,
            [(code::BEGIN, None), (code::DISPOSITION, Some(true))],
            "{product:?}"
        );
    }
}

/// A transfer frame from a client: `first` carries the delivery's ids and message format.
fn transfer(first: bool, more: bool, payload: &[u8]) -> Vec<u8> {
    let format = [&[0x70][..], &BATCH_MESSAGE_FORMAT.to_be_bytes()].concat();
    let more: &[u8] = if more { &[0x41] } else { &[0x42] };
    let mut f = if first {
        frame(
            0,
            code::TRANSFER,
            &[&[0x43], &[0x43], &[0xa0, 1, 7], &format, &[0x42], more],
        )
    } else {
        frame(
            0,
            code::TRANSFER,
            &[&[0x43], &[0x40], &[0x40], &[0x40], &[0x42], more],
        )
    };
    f.extend_from_slice(payload);
    let size = u32::try_from(f.len()).unwrap_or(0);
    f[..4].copy_from_slice(&size.to_be_bytes());
    f
}

/// What fe2o3 reads once the client has written `frames` after its Open.
async fn fe2o3_reads(frames: &[Vec<u8>], batches: Arc<InboundBatches>) -> Vec<Vec<u8>> {
    let (ours, mut client) = tokio::io::duplex(1 << 20);
    let mut shim = ServiceShapedStream::new(ours, batches, Arc::default());
    client
        .write_all(&frame(0, code::OPEN, &[&[0xa1, 1, b'c']]))
        .await
        .expect("open");
    for f in frames {
        client.write_all(f).await.expect("write");
    }
    drop(client);
    let mut bytes = Vec::new();
    shim.read_to_end(&mut bytes).await.expect("read");
    let mut seen = Vec::new();
    let mut rest = &bytes[..];
    while let Ok(Unit::Frame { size }) = wire::next_unit(rest, 1 << 20) {
        seen.push(rest[..size].to_vec());
        rest = &rest[size..];
    }
    seen.remove(0); // the Open
    seen
}

fn payload_of(frame: &[u8]) -> &[u8] {
    let body = wire::frame_body(frame);
    &body[wire::parse_performative(body)
        .expect("performative")
        .encoded_len..]
}

/// A batch's frames reach fe2o3 with their payloads taken off; the last carries the token under
/// which the whole payload waits for the publish link. Other deliveries pass untouched.
#[tokio::test]
async fn batches_are_taken_off_the_wire_and_parked() {
    let batches = Arc::new(InboundBatches::default());
    let parts: [&[u8]; 3] = [b"first part ", b"second ", b"last"];
    let frames = [
        transfer(true, true, parts[0]),
        transfer(false, true, parts[1]),
        transfer(false, false, parts[2]),
    ];
    let seen = fe2o3_reads(&frames, batches.clone()).await;
    assert_eq!(seen.len(), 3, "every frame still reaches fe2o3");
    assert!(payload_of(&seen[0]).is_empty() && payload_of(&seen[1]).is_empty());
    let last = payload_of(&seen[2]);
    assert_eq!(last[..4], [0x00, 0x53, 0x77, 0x80]);
    let token = u64::from_be_bytes(last[4..].try_into().expect("a ulong"));
    assert_eq!(
        batches.take(token),
        Some(batches::Batch::Whole(bytes::Bytes::from(parts.concat())))
    );

    // A single event (message format 0) is fe2o3's to decode.
    let mut single = frame(
        0,
        code::TRANSFER,
        &[&[0x43], &[0x43], &[0xa0, 1, 7], &[0x43]],
    );
    single.extend_from_slice(b"event");
    let size = u32::try_from(single.len()).unwrap_or(0);
    single[..4].copy_from_slice(&size.to_be_bytes());
    let seen = fe2o3_reads(std::slice::from_ref(&single), batches).await;
    assert_eq!(seen, [single]);
}

/// A batch whose link detaches mid-delivery is dropped: the next delivery on a link with the same
/// handle starts afresh.
#[tokio::test]
async fn a_batch_cut_short_by_a_detach_is_dropped() {
    let batches = Arc::new(InboundBatches::default());
    let frames = [
        transfer(true, true, b"abandoned "),
        frame(0, code::DETACH, &[&[0x43], &[0x41]]),
        transfer(true, false, b"whole"),
    ];
    let seen = fe2o3_reads(&frames, batches.clone()).await;
    let last = payload_of(&seen[2]);
    let token = u64::from_be_bytes(last[4..].try_into().expect("a ulong"));
    assert_eq!(
        batches.take(token),
        Some(batches::Batch::Whole(bytes::Bytes::from_static(b"whole")))
    );
}

use proptest::prelude::any;

proptest::proptest! {
    // Fuzz: any sequence of transfers, detaches and ends on a few links, batches or not, cut
    // short or aborted: nothing panics and every frame still reaches fe2o3.
    #[test]
    fn any_transfer_sequence_reaches_fe2o3_frame_for_frame(
        steps in proptest::collection::vec(
            (0u8..4, 0u16..2, 0u8..2, any::<bool>(), any::<bool>(), 0usize..40),
            1..40,
        ),
    ) {
        let frames: Vec<Vec<u8>> = steps
            .into_iter()
            .map(|(kind, channel, handle, more, aborted, len)| {
                let handle = [0x52, handle];
                let more: &[u8] = if more { &[0x41] } else { &[0x42] };
                let aborted: &[u8] = if aborted { &[0x41] } else { &[0x42] };
                let format = [&[0x70][..], &BATCH_MESSAGE_FORMAT.to_be_bytes()].concat();
                let none: &[u8] = &[0x40];
                let ids: [&[u8]; 3] = if kind == 0 {
                    [&[0x43], &[0xa0, 1, 7], &format]
                } else {
                    [none; 3]
                };
                let transfer_fields =
                    [&handle[..], ids[0], ids[1], ids[2], &[0x42], more, none, none, none, aborted];
                let mut f = match kind {
                    0 | 1 => frame(channel, code::TRANSFER, &transfer_fields),
                    2 => frame(channel, code::DETACH, &[&handle, &[0x41]]),
                    _ => frame(channel, code::END, &[]),
                };
                if kind < 2 {
                    f.extend(std::iter::repeat_n(0xab, len));
                    let size = u32::try_from(f.len()).unwrap_or(0);
                    f[..4].copy_from_slice(&size.to_be_bytes());
                }
                f
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let seen = runtime.block_on(fe2o3_reads(&frames, Arc::default()));
        proptest::prop_assert_eq!(seen.len(), frames.len());
    }
}

/// An outgoing transfer as fe2o3 sends it: pre-settled, with its delivery id and format.
fn outgoing_transfer(delivery_id: u32, format: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = frame(
        0,
        code::TRANSFER,
        &[
            &[0x43],
            &wire::encode_uint(delivery_id),
            &[0xa0, 1, 0],
            &wire::encode_uint(format),
            &[0x41],
        ],
    );
    f.extend_from_slice(payload);
    let size = u32::try_from(f.len()).unwrap_or(0);
    f[..4].copy_from_slice(&size.to_be_bytes());
    f
}

/// Each carrier becomes its bundle's transfers, in place, through a pipe far smaller than what
/// the carriers expand to; fe2o3's own deliveries after them get ids past the bundles'.
#[tokio::test]
async fn bundles_are_written_in_place_of_their_carriers() {
    let deliveries = Arc::new(OutboundDeliveries::default());
    let (ours, mut client) = tokio::io::duplex(16 * 1024);
    let mut shim = ServiceShapedStream::new(ours, Arc::default(), deliveries.clone());
    let reader = tokio::spawn(async move {
        let mut bytes = Vec::new();
        client.read_to_end(&mut bytes).await.map(|_| bytes)
    });
    shim.write_all(&frame(0, code::BEGIN, &[&[0x60, 0, 0]]))
        .await
        .expect("begin");
    let mut expected = Vec::new();
    for carrier_id in 0..20u8 {
        let mut bundle = bundles::Bundle::default();
        for event in 0..50u8 {
            let payload = vec![carrier_id ^ event; 1000];
            expected.push(payload.clone());
            bundle
                .push_with(|out| {
                    out.extend_from_slice(&payload);
                    Ok::<(), ()>(())
                })
                .expect("push");
        }
        let token = batches::token_payload(deliveries.park(bundle, &Arc::default()));
        let carrier = outgoing_transfer(carrier_id.into(), BUNDLE_MESSAGE_FORMAT, &token);
        shim.write_all(&carrier).await.expect("carrier");
    }
    // fe2o3's next delivery id on the session is 20: one per carrier.
    shim.write_all(&outgoing_transfer(20, 0, b"own"))
        .await
        .expect("transfer");
    expected.push(b"own".to_vec());
    shim.shutdown().await.expect("shutdown");
    let bytes = reader.await.expect("join").expect("read");

    let mut rest = &bytes[..];
    let mut delivered = Vec::new();
    while let Ok(Unit::Frame { size }) = wire::next_unit(rest, 1 << 20) {
        let body = wire::frame_body(&rest[..size]);
        let p = wire::parse_performative(body).expect("performative");
        if p.descriptor == code::TRANSFER {
            let id = wire::decode_unsigned(p.fields[1]).expect("delivery id");
            assert_eq!(
                wire::decode_unsigned(p.fields[3]),
                Some(0),
                "message format 0"
            );
            delivered.push((id, body[p.encoded_len..].to_vec()));
        }
        rest = &rest[size..];
    }
    assert!(rest.is_empty(), "only whole frames reach the client");
    let ids: Vec<u64> = delivered.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (0..=1000).collect::<Vec<u64>>());
    let payloads: Vec<Vec<u8>> = delivered.into_iter().map(|(_, p)| p).collect();
    assert!(payloads == expected, "every event, in order");
}
