//! The SDK's errors in the service's words. An `AmqpError` that carries the service's refusal
//! prints itself as `AMQP Described Error: condition: NotFound, description: Some("…"), info:
//! AmqpOrderedMap {…}`: debug text no user should see. Its description is what the service said;
//! for the "could not be found" family, that is said again as what does not exist.

use azure_core_amqp::{AmqpError, AmqpErrorCondition, AmqpErrorKind};

/// What the service said when it refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The entity (hub, consumer group) does not exist: retrying will not help.
    pub not_found: bool,
    pub text: String,
}

/// The service's refusal, if `error` is an AMQP error that carries one.
#[must_use]
pub fn refusal(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let amqp = error.downcast_ref::<AmqpError>()?;
    let (not_found, said) = match amqp.kind() {
        AmqpErrorKind::AmqpDescribedError(described) => (
            described.condition == AmqpErrorCondition::NotFound,
            described
                .description
                .clone()
                .unwrap_or_else(|| described.condition.to_string()),
        ),
        AmqpErrorKind::ManagementStatusCode(status, description) => (
            *status == azure_core::http::StatusCode::NotFound,
            description
                .clone()
                .unwrap_or_else(|| format!("the service answered {status}")),
        ),
        _ => return None,
    };
    let said = first_sentence(&said);
    Some(Refusal {
        text: if not_found {
            missing_entity(&said).unwrap_or(said)
        } else {
            said
        },
        not_found,
    })
}

/// The service appends tracking ids and links to every description: they say nothing to a user.
fn first_sentence(text: &str) -> String {
    let cut = ["TrackingId:", "To know more visit", "Reference:"]
        .iter()
        .filter_map(|marker| text.find(marker))
        .min()
        .unwrap_or(text.len());
    text[..cut]
        .trim()
        .trim_end_matches(['.', ','])
        .trim()
        .to_string()
}

/// "The messaging entity '<ns>/<hub>/consumergroups/<g>' could not be found" (the endpoint's and
/// the service's form, the service's with `sb://`) as what does not exist.
fn missing_entity(text: &str) -> Option<String> {
    let entity = text.split('\'').nth(1)?;
    let path: Vec<&str> = entity
        .trim_start_matches("sb://")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match path
        .iter()
        .position(|s| s.eq_ignore_ascii_case("consumergroups"))
    {
        Some(at) if at >= 1 && at + 1 < path.len() => Some(format!(
            "consumer group '{}' does not exist on hub '{}'",
            path[at + 1],
            path[at - 1]
        )),
        None if path.len() >= 2 => Some(format!(
            "hub '{}' does not exist in namespace '{}'",
            path[path.len() - 1],
            path[path.len() - 2]
        )),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn missing_entities_are_named() {
        assert_eq!(
            missing_entity(
                "The messaging entity 'emulatorNs1/eh1/consumergroups/nosuch' could not be found"
            )
            .as_deref(),
            Some("consumer group 'nosuch' does not exist on hub 'eh1'")
        );
        assert_eq!(
            missing_entity("The messaging entity 'sb://ns.servicebus.windows.net/telemetry' could not be found").as_deref(),
            Some("hub 'telemetry' does not exist in namespace 'ns.servicebus.windows.net'")
        );
        assert_eq!(missing_entity("no quotes here"), None);
    }

    #[test]
    fn tracking_noise_is_cut() {
        assert_eq!(
            first_sentence("The messaging entity 'x' could not be found. To know more visit https://aka.ms/sbResourceMgrExceptions. TrackingId:abc, SystemTracker:x, Timestamp:2026"),
            "The messaging entity 'x' could not be found"
        );
    }

    #[test]
    fn a_described_error_reads_as_the_service_said_it() {
        let error = AmqpError::from(AmqpErrorKind::AmqpDescribedError(
            azure_core_amqp::AmqpDescribedError::new(
                AmqpErrorCondition::NotFound,
                Some(
                    "The messaging entity 'ns/eh1/consumergroups/nosuch' could not be found."
                        .into(),
                ),
                azure_core_amqp::AmqpOrderedMap::new(),
            ),
        ));
        let refusal = refusal(&error).unwrap();
        assert!(refusal.not_found);
        assert_eq!(
            refusal.text,
            "consumer group 'nosuch' does not exist on hub 'eh1'"
        );
    }
}
