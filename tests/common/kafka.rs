//! A Kafka group's offsets committed as a standalone consumer commits them (generation -1, no
//! member), through `kafka-protocol`'s messages over a plain socket.

use bytes::{Buf as _, BufMut as _, BytesMut};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetCommitResponse, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable as _, Encodable as _, StrBytes};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Commits `offset` for `group` on `topic`'s partition 0 at `endpoint` (`host:port`).
pub async fn commit(endpoint: &str, group: &str, topic: &str, offset: i64) {
    const VERSION: i16 = 2;
    let mut stream = tokio::net::TcpStream::connect(endpoint).await.unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(ApiKey::OffsetCommit as i16)
        .with_request_api_version(VERSION)
        .with_correlation_id(1)
        .encode(&mut frame, 1)
        .unwrap();
    OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
        .with_generation_id_or_member_epoch(-1)
        .with_retention_time_ms(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])])
        .encode(&mut frame, VERSION)
        .unwrap();
    let length = i32::try_from(frame.len() - 4).unwrap();
    frame[..4].copy_from_slice(&length.to_be_bytes());
    stream.write_all(&frame).await.unwrap();
    let size = stream.read_i32().await.unwrap();
    let mut answer = vec![0; usize::try_from(size).unwrap()];
    stream.read_exact(&mut answer).await.unwrap();
    let mut answer = bytes::Bytes::from(answer);
    ResponseHeader::decode(&mut answer, 0).unwrap();
    let response = OffsetCommitResponse::decode(&mut answer, VERSION).unwrap();
    assert!(answer.remaining() == 0);
    for topic in &response.topics {
        for partition in &topic.partitions {
            assert_eq!(partition.error_code, 0, "the commit is taken");
        }
    }
}
