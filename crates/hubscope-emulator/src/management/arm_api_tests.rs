//! The Resource Manager answers, request by request, over a namespace in memory.

use super::super::api::tests::api;
use super::super::arm::{ErrorResponse, GroupResource, HubResource, List};
use super::super::Api;
use super::*;
use crate::config::AuthMode;
use crate::service::auth::sas_token;
use crate::storage::store::now_ms;

const NS: &str = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns";

fn call(api: &Api, method: &str, path: &str, query: &str, body: &str) -> Answer {
    api.answer(&Request {
        method,
        path: &format!("{NS}{path}"),
        query,
        host: "127.0.0.1:5300",
        body: body.as_bytes(),
        ..Request::default()
    })
}

const V: &str = "api-version=2024-01-01";

fn code(answer: &Answer) -> String {
    serde_json::from_str::<ErrorResponse>(&answer.body)
        .expect("an ARM error body")
        .error
        .code
}

#[test]
fn hubs_are_created_listed_and_deleted_the_resource_managers_way() {
    let api = api(AuthMode::AcceptAnyToken);
    let body = r#"{"properties": {"partitionCount": 4, "messageRetentionInDays": 2}}"#;
    let created = call(&api, "PUT", "/eventhubs/orders", V, body);
    assert_eq!(created.status, 200, "{}", created.body);
    let hub: HubResource = serde_json::from_str(&created.body).expect("a hub");
    assert_eq!(hub.properties.partition_count, Some(4));
    assert_eq!(hub.properties.retention_secs(), Some(2 * 86_400));
    assert_eq!(hub.id.as_deref(), Some(&*format!("{NS}/eventhubs/orders")));
    // The same description again is a no-op; another one is refused, not half-applied.
    assert_eq!(call(&api, "PUT", "/eventhubs/orders", V, body).status, 200);
    let changed = call(
        &api,
        "PUT",
        "/eventhubs/orders",
        V,
        r#"{"properties": {"partitionCount": 8, "messageRetentionInDays": 2}}"#,
    );
    assert_eq!(
        (changed.status, code(&changed).as_str()),
        (400, "BadRequest")
    );

    let list: List<HubResource> =
        serde_json::from_str(&call(&api, "GET", "/eventhubs", V, "").body).expect("a list");
    let names: Vec<_> = list
        .value
        .iter()
        .filter_map(|h| h.name.as_deref())
        .collect();
    assert_eq!(names, ["eh1", "orders"]);
    let paged: List<HubResource> =
        serde_json::from_str(&call(&api, "GET", "/eventhubs", &format!("{V}&$top=1"), "").body)
            .expect("a page");
    assert_eq!(paged.value.len(), 1);
    assert!(paged.next_link.is_some_and(|l| l
        .starts_with(&format!("http://127.0.0.1:5300{NS}/eventhubs?"))
        && l.contains("$skip=1")));

    assert_eq!(call(&api, "DELETE", "/eventhubs/orders", V, "").status, 200);
    assert_eq!(call(&api, "DELETE", "/eventhubs/orders", V, "").status, 204);
    let missing = call(&api, "GET", "/eventhubs/orders", V, "");
    assert_eq!((missing.status, code(&missing).as_str()), (404, "NotFound"));
}

#[test]
fn consumer_groups_and_every_refusal_in_arms_words() {
    let api = api(AuthMode::AcceptAnyToken);
    assert_eq!(
        call(&api, "PUT", "/eventhubs/eh1/consumergroups/audit", V, "").status,
        200
    );
    let list: List<GroupResource> =
        serde_json::from_str(&call(&api, "GET", "/eventhubs/eh1/consumergroups", V, "").body)
            .expect("a list");
    let names: Vec<_> = list
        .value
        .iter()
        .filter_map(|g| g.name.as_deref())
        .collect();
    assert_eq!(names, ["$Default", "cg1", "audit"]);
    let default = call(
        &api,
        "DELETE",
        "/eventhubs/eh1/consumergroups/$Default",
        V,
        "",
    );
    assert_eq!(default.status, 400);
    assert_eq!(
        call(&api, "DELETE", "/eventhubs/eh1/consumergroups/audit", V, "").status,
        200
    );
    assert_eq!(
        call(&api, "DELETE", "/eventhubs/eh1/consumergroups/audit", V, "").status,
        204
    );
    let no_hub = call(&api, "GET", "/eventhubs/nope/consumergroups", V, "");
    assert_eq!(no_hub.status, 404);

    let bad_count = call(
        &api,
        "PUT",
        "/eventhubs/big",
        V,
        r#"{"properties": {"partitionCount": 33}}"#,
    );
    assert_eq!(
        (bad_count.status, code(&bad_count).as_str()),
        (400, "BadRequest")
    );
    let not_json = call(&api, "PUT", "/eventhubs/big", V, "<entry/>");
    assert_eq!(code(&not_json), "InvalidRequestContent");
    let no_version = call(&api, "GET", "/eventhubs", "", "");
    assert_eq!(code(&no_version), "MissingApiVersionParameter");
    let elsewhere = call(&api, "GET", "/queues", V, "");
    assert_eq!(elsewhere.status, 404);
}

#[test]
fn a_refused_token_is_an_arm_error_too() {
    let api = api(AuthMode::SharedAccessKey {
        key_name: "admin".into(),
        key: "s3cret".into(),
    });
    let refused = call(&api, "GET", "/eventhubs", V, "");
    assert_eq!(
        (refused.status, code(&refused).as_str()),
        (401, "AuthenticationFailed")
    );
    let later = now_ms() / 1000 + 600;
    let good = sas_token("http://127.0.0.1:5300/", "admin", "s3cret", later);
    let answer = api.answer(&Request {
        method: "GET",
        path: &format!("{NS}/eventhubs"),
        query: V,
        host: "127.0.0.1:5300",
        authorization: Some(&good),
        ..Request::default()
    });
    assert_eq!(answer.status, 200, "{}", answer.body);
}
