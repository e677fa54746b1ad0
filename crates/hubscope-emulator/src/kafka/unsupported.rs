//! The answer to a request the endpoint does not serve (an API, or a version of one): the API's
//! own response, empty, with `UNSUPPORTED_VERSION` as its error where the response has a
//! top-level error code, so the client reads a refusal instead of losing its connection.
//! Responses with only per-item errors (`DeleteRecords`, `CreateAcls`, ...) go back empty.
//!
//! The table is every API `kafka-protocol` 0.18 defines, listed from its `ResponseKind`, split by
//! whether the response struct has a top-level `error_code`. `ApiVersions` is not here: the
//! connection answers it with the served list (KIP-511). A version newer than Kafka's schemas
//! know, or an API key Kafka does not define, has no response shape; that connection closes, as
//! a broker's does.

use bytes::Bytes;
use kafka_protocol::messages::{self as m, ApiKey, RequestHeader};
use kafka_protocol::ResponseError;

use crate::kafka::wire::{self, Response};

/// The encoded refusal of `header`'s request, if Kafka's schemas define its response at the
/// request's version.
pub(crate) fn refusal(header: &RequestHeader, api: ApiKey) -> Option<Bytes> {
    let code = ResponseError::UnsupportedVersion.code();
    // Some responses gained their top-level error in a later version (Metadata, Fetch): at an
    // older one the code cannot be encoded, and the empty response is the refusal.
    [code, 0]
        .into_iter()
        .filter_map(|code| response(api, code))
        .find_map(|response| wire::encode(header, &response).ok())
}

/// `api`'s response, empty, with `code` as its top-level error where it has one.
#[allow(clippy::too_many_lines)] // one arm per Kafka API, nothing else
fn response(api: ApiKey, code: i16) -> Option<Response> {
    Some(match api {
        ApiKey::Produce => m::ProduceResponse::default().into(),
        ApiKey::Fetch => m::FetchResponse::default().with_error_code(code).into(),
        ApiKey::ListOffsets => m::ListOffsetsResponse::default().into(),
        ApiKey::Metadata => m::MetadataResponse::default().with_error_code(code).into(),
        ApiKey::OffsetFetch => m::OffsetFetchResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::FindCoordinator => m::FindCoordinatorResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::JoinGroup => m::JoinGroupResponse::default().with_error_code(code).into(),
        ApiKey::Heartbeat => m::HeartbeatResponse::default().with_error_code(code).into(),
        ApiKey::LeaveGroup => m::LeaveGroupResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::SyncGroup => m::SyncGroupResponse::default().with_error_code(code).into(),
        ApiKey::ListGroups => m::ListGroupsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::SaslHandshake => m::SaslHandshakeResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::InitProducerId => m::InitProducerIdResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::AddPartitionsToTxn => m::AddPartitionsToTxnResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::AddOffsetsToTxn => m::AddOffsetsToTxnResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::EndTxn => m::EndTxnResponse::default().with_error_code(code).into(),
        ApiKey::DescribeAcls => m::DescribeAclsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::AlterConfigs => m::AlterConfigsResponse::default().into(),
        ApiKey::DescribeLogDirs => m::DescribeLogDirsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::SaslAuthenticate => m::SaslAuthenticateResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::CreateDelegationToken => m::CreateDelegationTokenResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::RenewDelegationToken => m::RenewDelegationTokenResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::ExpireDelegationToken => m::ExpireDelegationTokenResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::DescribeDelegationToken => m::DescribeDelegationTokenResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::ElectLeaders => m::ElectLeadersResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::IncrementalAlterConfigs => m::IncrementalAlterConfigsResponse::default().into(),
        ApiKey::AlterPartitionReassignments => m::AlterPartitionReassignmentsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::ListPartitionReassignments => m::ListPartitionReassignmentsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::OffsetDelete => m::OffsetDeleteResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::DescribeClientQuotas => m::DescribeClientQuotasResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::DescribeUserScramCredentials => m::DescribeUserScramCredentialsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::Vote => m::VoteResponse::default().with_error_code(code).into(),
        ApiKey::BeginQuorumEpoch => m::BeginQuorumEpochResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::EndQuorumEpoch => m::EndQuorumEpochResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::DescribeQuorum => m::DescribeQuorumResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::AlterPartition => m::AlterPartitionResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::UpdateFeatures => m::UpdateFeaturesResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::Envelope => m::EnvelopeResponse::default().with_error_code(code).into(),
        ApiKey::FetchSnapshot => m::FetchSnapshotResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::DescribeCluster => m::DescribeClusterResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::BrokerRegistration => m::BrokerRegistrationResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::BrokerHeartbeat => m::BrokerHeartbeatResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::UnregisterBroker => m::UnregisterBrokerResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::ListTransactions => m::ListTransactionsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::AllocateProducerIds => m::AllocateProducerIdsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::ConsumerGroupHeartbeat => m::ConsumerGroupHeartbeatResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::ControllerRegistration => m::ControllerRegistrationResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::GetTelemetrySubscriptions => m::GetTelemetrySubscriptionsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::PushTelemetry => m::PushTelemetryResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::AssignReplicasToDirs => m::AssignReplicasToDirsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::ListConfigResources => m::ListConfigResourcesResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::ShareGroupHeartbeat => m::ShareGroupHeartbeatResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::ShareFetch => m::ShareFetchResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::ShareAcknowledge => m::ShareAcknowledgeResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::AddRaftVoter => m::AddRaftVoterResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::RemoveRaftVoter => m::RemoveRaftVoterResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::UpdateRaftVoter => m::UpdateRaftVoterResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::AlterShareGroupOffsets => m::AlterShareGroupOffsetsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::DeleteShareGroupOffsets => m::DeleteShareGroupOffsetsResponse::default()
            .with_error_code(code)
            .into(),
        ApiKey::OffsetCommit => m::OffsetCommitResponse::default().into(),
        ApiKey::DescribeGroups => m::DescribeGroupsResponse::default().into(),
        ApiKey::CreateTopics => m::CreateTopicsResponse::default().into(),
        ApiKey::DeleteTopics => m::DeleteTopicsResponse::default().into(),
        ApiKey::DeleteRecords => m::DeleteRecordsResponse::default().into(),
        ApiKey::OffsetForLeaderEpoch => m::OffsetForLeaderEpochResponse::default().into(),
        ApiKey::WriteTxnMarkers => m::WriteTxnMarkersResponse::default().into(),
        ApiKey::TxnOffsetCommit => m::TxnOffsetCommitResponse::default().into(),
        ApiKey::CreateAcls => m::CreateAclsResponse::default().into(),
        ApiKey::DeleteAcls => m::DeleteAclsResponse::default().into(),
        ApiKey::DescribeConfigs => m::DescribeConfigsResponse::default().into(),
        ApiKey::AlterReplicaLogDirs => m::AlterReplicaLogDirsResponse::default().into(),
        ApiKey::CreatePartitions => m::CreatePartitionsResponse::default().into(),
        ApiKey::DeleteGroups => m::DeleteGroupsResponse::default().into(),
        ApiKey::AlterClientQuotas => m::AlterClientQuotasResponse::default().into(),
        ApiKey::AlterUserScramCredentials => m::AlterUserScramCredentialsResponse::default().into(),
        ApiKey::DescribeProducers => m::DescribeProducersResponse::default().into(),
        ApiKey::DescribeTransactions => m::DescribeTransactionsResponse::default().into(),
        ApiKey::ConsumerGroupDescribe => m::ConsumerGroupDescribeResponse::default().into(),
        ApiKey::DescribeTopicPartitions => m::DescribeTopicPartitionsResponse::default().into(),
        ApiKey::ShareGroupDescribe => m::ShareGroupDescribeResponse::default().into(),
        ApiKey::InitializeShareGroupState => m::InitializeShareGroupStateResponse::default().into(),
        ApiKey::ReadShareGroupState => m::ReadShareGroupStateResponse::default().into(),
        ApiKey::WriteShareGroupState => m::WriteShareGroupStateResponse::default().into(),
        ApiKey::DeleteShareGroupState => m::DeleteShareGroupStateResponse::default().into(),
        ApiKey::ReadShareGroupStateSummary => {
            m::ReadShareGroupStateSummaryResponse::default().into()
        }
        ApiKey::DescribeShareGroupOffsets => m::DescribeShareGroupOffsetsResponse::default().into(),
        // Answered by the connection with the served list.
        ApiKey::ApiVersions => return None,
    })
}
