use super::*;
use fe2o3_amqp_types::definitions::{Handle, ReceiverSettleMode, Role};
use fe2o3_amqp_types::performatives::{Begin, End};

fn frame(channel: u16, body: &[u8]) -> BytesMut {
    let mut frame = BytesMut::new();
    let size = u32::try_from(FRAME_HEADER_LEN + body.len()).expect("size");
    frame.extend_from_slice(&size.to_be_bytes());
    frame.extend_from_slice(&[2, 0]);
    frame.extend_from_slice(&channel.to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

fn one_frame(mut bytes: BytesMut) -> Frame {
    match next_unit(&mut bytes, 65536, false).expect("valid") {
        Some(Unit::Frame(frame)) => frame,
        other => panic!("not a frame: {other:?}"),
    }
}

fn performative_of(bytes: BytesMut) -> Performative {
    match decode(&one_frame(bytes).body).expect("decodes") {
        Body::Other(p) => *p,
        other => panic!("not a performative: {other:?}"),
    }
}

/// An attach from a sender asking for rcv-settle-mode second, with `role` encoded as `false`
/// in the given form.
fn attach(role_false: &[u8]) -> BytesMut {
    let mut fields = Vec::new();
    fields.extend_from_slice(&[0xa1, 1, b'l']); // name
    fields.extend_from_slice(&[0x43]); // handle 0
    fields.extend_from_slice(role_false); // role
    fields.extend_from_slice(&[0x50, 0x02]); // snd-settle-mode mixed
    fields.extend_from_slice(&[0x50, 0x01]); // rcv-settle-mode second
    let mut body = vec![0x00, 0x53, 0x12, 0xc0];
    body.push(u8::try_from(fields.len() + 1).expect("size"));
    body.push(5);
    body.extend_from_slice(&fields);
    frame(3, &body)
}

#[test]
fn both_encodings_of_false_are_one_role() {
    for role in [&[0x42][..], &[0x56, 0x00][..]] {
        let Performative::Attach(attach) = performative_of(attach(role)) else {
            panic!("not an attach");
        };
        assert_eq!(attach.role, Role::Sender, "role {role:02x?}");
        assert_eq!(attach.rcv_settle_mode, ReceiverSettleMode::Second);
    }
}

#[test]
fn descriptors_in_every_encoding() {
    let end = |descriptor: &[u8]| frame(0, &[&[0x00][..], descriptor, &[0x45][..]].concat());
    let mut symbol = vec![0xa3, 13];
    symbol.extend_from_slice(b"amqp:end:list");
    for descriptor in [
        &[0x53, 0x17][..],
        &[0x80, 0, 0, 0, 0, 0, 0, 0, 0x17],
        &symbol,
    ] {
        assert!(
            matches!(performative_of(end(descriptor)), Performative::End(_)),
            "{descriptor:02x?}"
        );
    }
}

#[test]
fn frames_wait_until_whole_and_keep_their_channel() {
    let whole = frame(3, &[]);
    let mut partial = BytesMut::from(&whole[..5]);
    assert!(next_unit(&mut partial, 65536, false)
        .expect("valid")
        .is_none());
    partial.extend_from_slice(&whole[5..]);
    let frame = one_frame(partial);
    assert_eq!(frame.channel, 3);
    assert!(matches!(decode(&frame.body), Ok(Body::Heartbeat)));
}

#[test]
fn oversized_and_garbage_frames_are_errors_not_panics() {
    let mut big = frame(0, &[0x40; 100]);
    assert!(matches!(
        next_unit(&mut big, 64, false),
        Err(CodecError::TooLarge { .. })
    ));
    let garbage = one_frame(frame(0, &[0x00, 0x53, 0x12, 0xff]));
    assert!(decode(&garbage.body).is_err());
    let mut short = BytesMut::from(&[0, 0, 0, 4, 2, 0, 0, 0][..]);
    assert!(next_unit(&mut short, 65536, false).is_err());
}

#[test]
fn a_transfer_keeps_its_payload_as_a_slice() {
    let mut out = Vec::new();
    let head = TransferHead {
        handle: 1,
        delivery_id: Some(7),
        settled: true,
    };
    let taken = write_transfer(&mut out, 2, head, b"payload", 65536);
    assert_eq!(taken, 7);
    let frame = one_frame(BytesMut::from(&out[..]));
    assert_eq!(frame.channel, 2);
    let Ok(Body::Transfer(transfer, payload)) = decode(&frame.body) else {
        panic!("not a transfer");
    };
    assert_eq!(transfer.handle, Handle(1));
    assert_eq!(transfer.delivery_id, Some(7));
    assert_eq!(transfer.settled, Some(true));
    assert!(!transfer.more);
    assert_eq!(&payload[..], b"payload");
}

#[test]
fn a_long_payload_is_cut_to_the_frame_size_with_more_set() {
    let payload = vec![7u8; 1000];
    let mut out = Vec::new();
    let head = TransferHead {
        handle: 0,
        delivery_id: Some(0),
        settled: true,
    };
    let taken = write_transfer(&mut out, 0, head, &payload, 512);
    assert_eq!(out.len(), 512);
    let frame = one_frame(BytesMut::from(&out[..]));
    let Ok(Body::Transfer(transfer, part)) = decode(&frame.body) else {
        panic!("not a transfer");
    };
    assert!(transfer.more);
    assert_eq!(part.len(), taken);
}

#[test]
fn every_performative_goes_out_at_full_arity() {
    let mut out = Vec::new();
    let begin = Performative::Begin(Begin {
        remote_channel: Some(0),
        next_outgoing_id: 0,
        incoming_window: 10,
        outgoing_window: 10,
        handle_max: Handle(255),
        offered_capabilities: None,
        desired_capabilities: None,
        properties: None,
    });
    write_performative(&mut out, 0, &begin).expect("encodes");
    write_performative(&mut out, 0, &Performative::End(End { error: None })).expect("encodes");
    let mut bytes = BytesMut::from(&out[..]);
    for arity in [8, 1] {
        let Some(Unit::Frame(frame)) = next_unit(&mut bytes, 65536, false).expect("valid") else {
            panic!("no frame");
        };
        let parsed = wire::parse_performative(&frame.body).expect("parses");
        assert_eq!(parsed.fields.len(), arity);
    }
}

#[test]
fn the_rust_sdk_is_known_by_its_product() {
    let mut open = Open {
        container_id: "c".into(),
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
    assert!(!PeerProfile::of(&open).rust_sdk);
    let mut properties = fe2o3_amqp_types::definitions::Fields::new();
    properties.insert(Symbol::from("product"), Value::from(RUST_SDK_PRODUCT));
    open.properties = Some(properties);
    assert!(PeerProfile::of(&open).rust_sdk);
}
