use super::*;
use proptest::prelude::*;

/// What the shim does with a client frame: decoded once, then noted.
fn note(
    links: &mut ReceivingLinks,
    channel: u16,
    frame: &[u8],
    deliveries: &OutboundDeliveries,
) -> Result<Option<Vec<u8>>, wire::WireError> {
    let decoded = crate::protocol::codec::performative(frame).ok().flatten();
    links.on_inbound(channel, frame, decoded.as_ref(), deliveries)
}

fn bundle_of(events: &[Vec<u8>]) -> Bundle {
    let mut bundle = Bundle::default();
    for event in events {
        bundle
            .push_with(|out| {
                out.extend_from_slice(event);
                Ok::<(), ()>(())
            })
            .expect("push");
    }
    bundle
}

/// One written transfer frame, as the client decodes it.
#[derive(Debug)]
struct Written {
    channel: u16,
    fields: Vec<Vec<u8>>,
    payload: Vec<u8>,
    size: usize,
}

fn frames(mut bytes: &[u8]) -> Vec<Written> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let Ok(wire::Unit::Frame { size }) = wire::next_unit(bytes, usize::MAX) else {
            panic!("not a frame");
        };
        let frame = &bytes[..size];
        let body = wire::frame_body(frame);
        let p = wire::parse_performative(body).expect("performative");
        assert_eq!(p.descriptor, code::TRANSFER);
        out.push(Written {
            channel: u16::from_be_bytes([frame[6], frame[7]]),
            fields: p.fields.iter().map(|f| f.to_vec()).collect(),
            payload: body[p.encoded_len..].to_vec(),
            size,
        });
        bytes = &bytes[size..];
    }
    out
}

/// Joins frames into deliveries the way a receiver does: (delivery id, payload).
fn deliveries_of(written: &[Written]) -> Vec<(u64, Vec<u8>)> {
    let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut more = false;
    for frame in written {
        assert_eq!(frame.fields.len(), 11, "full arity");
        assert_eq!(frame.fields[4], [0x41], "settled");
        if more {
            assert_eq!(
                frame.fields[1],
                [0x40],
                "continuations carry no delivery id"
            );
            out.last_mut().expect("a delivery").1.extend(&frame.payload);
        } else {
            let id = wire::decode_unsigned(&frame.fields[1]).expect("delivery id");
            assert_eq!(frame.fields[2][..2], [0xa0, 4], "a delivery tag");
            assert_eq!(frame.fields[3], [0x43], "message format 0");
            out.push((id, frame.payload.clone()));
        }
        more = wire::is_true(&frame.fields[5]);
    }
    assert!(!more, "the last frame ends its delivery");
    out
}

#[test]
fn events_become_settled_transfers_with_consecutive_ids() {
    let events = vec![
        b"one".to_vec(),
        vec![7u8; 1500],
        Vec::new(),
        b"four".to_vec(),
    ];
    let mut out = Vec::new();
    let written = write_transfers(&bundle_of(&events), &[0x52, 3], 40, 9, 512, &mut out);
    assert_eq!(written.delivery_ids, 4);
    let written = frames(&out);
    assert!(written.len() > 4, "the 1500-byte event is split");
    assert!(written.iter().all(|w| w.size <= 512 && w.channel == 9));
    assert!(written.iter().all(|w| w.fields[0] == [0x52, 3]));
    let delivered = deliveries_of(&written);
    let ids: Vec<u64> = delivered.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [40, 41, 42, 43]);
    let payloads: Vec<Vec<u8>> = delivered.into_iter().map(|(_, p)| p).collect();
    assert_eq!(payloads, events);
}

#[test]
fn delivery_ids_wrap() {
    let mut out = Vec::new();
    write_transfers(
        &bundle_of(&[vec![1], vec![2]]),
        &[0x43],
        u32::MAX,
        0,
        512,
        &mut out,
    );
    let ids: Vec<u64> = deliveries_of(&frames(&out))
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(ids, [u64::from(u32::MAX), 0]);
}

#[test]
fn credit_follows_the_client_s_last_flow() {
    let credit = LinkCredit::default();
    assert_eq!(credit.available(0), 0, "nothing before the first flow");
    credit.grant(0, 300);
    assert_eq!(credit.available(0), 300);
    assert_eq!(credit.available(290), 10);
    assert_eq!(credit.available(300), 0);
    // A flow sent before the client had received everything we sent.
    credit.grant(250, 300);
    assert_eq!(credit.available(300), 250);
    // Sequence numbers wrap.
    credit.grant(u32::MAX - 10, 100);
    assert_eq!(credit.available(u32::MAX - 10), 100);
    assert_eq!(credit.available(20), 69);
    assert_eq!(credit.available(89), 0);
    assert_eq!(
        credit.available(100),
        0,
        "past the limit is none, not 4 billion"
    );
}

fn attach(name: &str, handle: u32, receiver: bool) -> Vec<u8> {
    let mut encoded_name = vec![0xa1, u8::try_from(name.len()).unwrap_or(0)];
    encoded_name.extend_from_slice(name.as_bytes());
    let role: &[u8] = if receiver { &[0x41] } else { &[0x42] };
    wire::test_frame(
        1,
        code::ATTACH,
        &[&encoded_name, &wire::encode_uint(handle), role],
    )
}

fn flow(handle: u32, delivery_count: u32, link_credit: u32) -> Vec<u8> {
    let fields: [&[u8]; 11] = [
        &wire::encode_uint(5),
        &wire::encode_uint(2048),
        &wire::encode_uint(0),
        &wire::encode_uint(2048),
        &wire::encode_uint(handle),
        &wire::encode_uint(delivery_count),
        &wire::encode_uint(link_credit),
        &[0x40],
        &[0x41],
        &[0x41],
        &[0x40],
    ];
    wire::test_frame(1, code::FLOW, &fields)
}

#[test]
fn flows_reach_the_link_s_credit_and_fe2o3_sees_ample_credit_once_bundled() {
    let deliveries = OutboundDeliveries::default();
    let mut links = ReceivingLinks::default();
    assert!(
        note(&mut links, 1, &attach("publisher", 0, false), &deliveries)
            .expect("attach")
            .is_none()
    );
    note(&mut links, 1, &attach("reader", 2, true), &deliveries).expect("attach");
    assert!(
        deliveries.claim("publisher", 0).is_none(),
        "sending links are not noted"
    );

    // Before a consume link claims it, the flow reaches fe2o3 as it is.
    assert!(note(&mut links, 1, &flow(2, 0, 300), &deliveries)
        .expect("flow")
        .is_none());
    let credit = deliveries.claim("reader", 2).expect("noted at attach");
    assert_eq!(credit.available(0), 300);
    assert!(deliveries.claim("reader", 2).is_none(), "claimed once");

    let rewritten = note(&mut links, 1, &flow(2, 100, 300), &deliveries)
        .expect("flow")
        .expect("rewritten once bundled");
    assert_eq!(credit.available(100), 300);
    let p = wire::parse_performative(wire::frame_body(&rewritten)).expect("flow");
    assert_eq!(
        p.fields[0],
        wire::encode_uint(5),
        "session fields untouched"
    );
    assert_eq!(p.fields[5], wire::encode_uint(100));
    assert_eq!(p.fields[6], wire::encode_uint(FE2O3_CREDIT));
    assert_eq!(p.fields[8], [0x42], "no drain");
    assert_eq!(p.fields[9], [0x42], "no echo");

    // Another session's flow with the same handle is not this link's.
    let mut other = flow(2, 0, 1);
    other[7] = 3;
    assert!(note(&mut links, 3, &other, &deliveries)
        .expect("flow")
        .is_none());
    assert_eq!(credit.available(100), 300);
}

#[test]
fn detach_and_end_forget_unclaimed_links() {
    let deliveries = OutboundDeliveries::default();
    let mut links = ReceivingLinks::default();
    note(&mut links, 1, &attach("a", 0, true), &deliveries).expect("attach");
    note(&mut links, 1, &attach("b", 1, true), &deliveries).expect("attach");
    let detach = wire::test_frame(1, code::DETACH, &[&wire::encode_uint(0), &[0x41]]);
    note(&mut links, 1, &detach, &deliveries).expect("detach");
    assert!(deliveries.claim("a", 0).is_none());
    note(
        &mut links,
        1,
        &wire::test_frame(1, code::END, &[]),
        &deliveries,
    )
    .expect("end");
    assert!(deliveries.claim("b", 1).is_none());
}

#[test]
fn carrier_tokens_in_every_unsigned_width() {
    assert_eq!(carrier_token(&[0x00, 0x53, 0x77, 0x44]), Some(0));
    assert_eq!(carrier_token(&[0x00, 0x53, 0x77, 0x53, 9]), Some(9));
    assert_eq!(
        carrier_token(&crate::protocol::batches::token_payload(1 << 40)),
        Some(1 << 40)
    );
    assert_eq!(
        carrier_token(&[0x00, 0x53, 0x75, 0x44]),
        None,
        "not amqp-value"
    );
}

proptest! {
    #[test]
    fn any_bundle_is_delivered_whole_within_the_frame_limit(
        events in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 0..12),
        max_frame in 512usize..4096,
        first_id in any::<u32>(),
    ) {
        let mut out = Vec::new();
        let written = write_transfers(&bundle_of(&events), &[0x43], first_id, 0, max_frame, &mut out);
        prop_assert_eq!(written.delivery_ids as usize, events.len());
        let counted = written.frames;
        let written = frames(&out);
        prop_assert_eq!(counted as usize, written.len(), "frames counted for the session's ids");
        prop_assert!(written.iter().all(|w| w.size <= max_frame));
        let delivered = deliveries_of(&written);
        for (i, (id, payload)) in delivered.iter().enumerate() {
            prop_assert_eq!(*id, u64::from(first_id.wrapping_add(u32::try_from(i).unwrap_or(0))));
            prop_assert_eq!(payload, &events[i]);
        }
        prop_assert_eq!(delivered.len(), events.len());
    }
}

#[test]
fn drain_and_echo_are_noted_once_each() {
    let link = LinkCredit::default();
    link.on_flow(Some((0, 10)), true, true);
    assert!(link.draining());
    assert_eq!(link.credit_left(4), 6);
    assert!(link.take_drain());
    assert!(!link.take_drain(), "answered once");
    assert!(link.take_echo());
    assert!(!link.take_echo(), "answered once");
    // A Flow without link fields (a session flow for this handle) keeps the credit.
    link.on_flow(None, false, false);
    assert!(!link.draining());
    assert_eq!(link.credit_left(4), 6);
    // "Unlimited" credit is a great deal of credit, not none.
    link.on_flow(Some((4, u32::MAX)), false, false);
    assert_eq!(link.credit_left(4), u32::MAX / 2);
}

#[test]
fn a_link_waits_while_its_unwritten_bundles_pass_the_limit() {
    let deliveries = OutboundDeliveries::default();
    let link = Arc::new(LinkCredit::default());
    link.grant(0, 10_000);
    let big = |n| bundle_of(&vec![vec![0u8; 64 * 1024]; n]);
    let first = deliveries.park(big(8), &link);
    assert_eq!(link.available(0), 10_000, "half the limit parked");
    let second = deliveries.park(big(8), &link);
    assert_eq!(link.available(0), 0, "the limit parked");
    assert!(deliveries.take(first).is_some());
    assert_eq!(
        link.available(0),
        10_000,
        "room again once the shim wrote one"
    );
    assert!(deliveries.take(second).is_some());
    assert!(deliveries.take(second).is_none(), "taken once");
}
