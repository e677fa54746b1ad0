//! Request/response nodes: `$cbs` put-token (docs/amqp-wire.md §2) and `$management` READ (docs/amqp-wire.md §3).
//!
//! Both are pure functions from a request message to a reply message; the session module carries
//! them over links.

use fe2o3_amqp_types::messaging::Body;
use fe2o3_amqp_types::primitives::{Array, OrderedMap, Timestamp, Value};

use crate::config::AuthMode;
use crate::protocol::amqp::{
    error_reply, integer_property, reply, status_condition, string_property, AmqpMessage,
};
use crate::service::auth::{Authorizer, ConnectionGrants};
use crate::storage::namespace::{Hub, Namespace};
use crate::storage::store::Partition;

const SAS_TOKEN_TYPE: &str = "servicebus.windows.net:sastoken";

fn body_string(message: &AmqpMessage) -> Option<&str> {
    match &message.body {
        Body::Value(v) => match &v.0 {
            Value::String(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// Handles a `$cbs` put-token: on success the grant is added to the connection.
#[must_use]
pub fn put_token(
    request: &AmqpMessage,
    authorizer: &Authorizer,
    grants: &ConnectionGrants,
    now_s: i64,
) -> AmqpMessage {
    let operation = string_property(request, "operation");
    if operation.as_deref() != Some("put-token") {
        return error_reply(
            request,
            400,
            None,
            &format!("The operation {operation:?} is not supported by $cbs."),
        );
    }
    let (Some(token_type), Some(audience), Some(token)) = (
        string_property(request, "type"),
        string_property(request, "name"),
        body_string(request),
    ) else {
        return error_reply(
            request,
            400,
            None,
            "A put-token request needs 'type', 'name' and a string token body.",
        );
    };
    // `expiration` is a timestamp (Python) or a number (others); both in milliseconds.
    let requested_expiry_s = integer_property(request, "expiration").map(|ms| ms / 1000);
    match authorizer.check(&token_type, &audience, token, now_s, requested_expiry_s) {
        Ok(grant) => {
            tracing::debug!(scope = %grant.scope, "token accepted");
            grants.add(grant);
            reply(request, 202, "Accepted", Value::Null)
        }
        Err(e) => {
            // No `error-condition` here: the Python client drops the status and description of a
            // put-token reply that carries one, and reports "Status code: None".
            tracing::info!(audience = %audience, error = %e, "token refused");
            error_reply(request, 401, None, &e.to_string())
        }
    }
}

/// Handles a `$management` READ of hub or partition properties.
#[must_use]
pub fn management(
    request: &AmqpMessage,
    namespace: &Namespace,
    authorizer: &Authorizer,
    grants: &ConnectionGrants,
    endpoint: &str,
    now_s: i64,
) -> AmqpMessage {
    let operation = string_property(request, "operation").unwrap_or_default();
    if operation != "READ" {
        return error_reply(
            request,
            400,
            status_condition(400),
            &format!("The operation '{operation}' is not supported; only READ is."),
        );
    }
    let hub_name = string_property(request, "name").unwrap_or_default();
    let Some(hub) = namespace.hub(&hub_name) else {
        return error_reply(
            request,
            404,
            status_condition(404),
            &format!("The messaging entity '{endpoint}/{hub_name}' could not be found."),
        );
    };
    if !management_allowed(request, authorizer, grants, &hub.name, now_s) {
        return error_reply(
            request,
            401,
            status_condition(401),
            &format!(
                "Unauthorized access to '{}/$management'. Put a valid token on $cbs first.",
                hub.name
            ),
        );
    }
    match string_property(request, "type").as_deref() {
        Some("com.microsoft:eventhub") => reply(request, 200, "OK", hub_properties(&hub)),
        Some("com.microsoft:partition") => {
            let id = string_property(request, "partition").unwrap_or_default();
            match hub.partition(&id) {
                Some(partition) => {
                    reply(request, 200, "OK", partition_properties(&hub, partition))
                }
                None => error_reply(
                    request,
                    400,
                    Some("com.microsoft:argument-out-of-range"),
                    &format!(
                        "The specified partition '{id}' is invalid for an EventHub partition sender or receiver. It should be between 0 and {}.",
                        hub.partitions.len().saturating_sub(1)
                    ),
                ),
            }
        }
        other => error_reply(
            request,
            400,
            status_condition(400),
            &format!("The entity type {other:?} is not supported."),
        ),
    }
}

fn management_allowed(
    request: &AmqpMessage,
    authorizer: &Authorizer,
    grants: &ConnectionGrants,
    hub: &str,
    now_s: i64,
) -> bool {
    if grants.allows(&format!("{hub}/$management"), now_s) {
        return true;
    }
    // Requests also carry the token itself; accept it when it verifies for this hub.
    match (
        authorizer.mode(),
        string_property(request, "security_token"),
    ) {
        (AuthMode::AcceptAnyToken, _) => true,
        (AuthMode::SharedAccessKey { .. }, Some(token)) => authorizer
            .check_own_scope(SAS_TOKEN_TYPE, &token, now_s)
            .is_ok_and(|grant| grant.covers(&format!("{hub}/$management"), now_s)),
        (AuthMode::SharedAccessKey { .. }, None) => false,
    }
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let mut m = OrderedMap::new();
    for (k, v) in entries {
        m.insert(Value::String(k.to_owned()), v);
    }
    Value::Map(m)
}

fn hub_properties(hub: &Hub) -> Value {
    let ids: Vec<Value> = hub
        .partitions
        .iter()
        .map(|p| Value::String(p.id.clone()))
        .collect();
    map(vec![
        ("name", Value::String(hub.name.clone())),
        ("type", Value::String("com.microsoft:eventhub".to_owned())),
        (
            "created_at",
            Value::Timestamp(Timestamp::from_milliseconds(hub.created_ms)),
        ),
        (
            "partition_count",
            Value::Int(i32::try_from(hub.partitions.len()).unwrap_or(i32::MAX)),
        ),
        ("partition_ids", Value::Array(Array(ids))),
    ])
}

fn partition_properties(hub: &Hub, partition: &Partition) -> Value {
    let info = partition.info();
    map(vec![
        ("name", Value::String(hub.name.clone())),
        ("type", Value::String("com.microsoft:partition".to_owned())),
        ("partition", Value::String(partition.id.clone())),
        (
            "begin_sequence_number",
            Value::Long(info.begin_sequence_number),
        ),
        (
            "last_enqueued_sequence_number",
            Value::Long(info.last_sequence_number),
        ),
        (
            "last_enqueued_offset",
            Value::String(info.last_offset.to_string()),
        ),
        (
            "last_enqueued_time_utc",
            Value::Timestamp(Timestamp::from_milliseconds(info.last_enqueued_ms)),
        ),
        ("last_enqueued_sequence_number_epoch", Value::Long(0)),
        ("is_partition_empty", Value::Bool(info.is_empty)),
    ])
}
