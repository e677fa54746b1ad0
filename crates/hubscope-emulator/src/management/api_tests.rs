//! The API's answers, request by request, over a namespace in memory.

use super::*;
use crate::config::EmulatorConfig;
use crate::service::auth::sas_token;

/// An API over the default namespace in memory; the Resource Manager tests use it too.
pub(in crate::management) fn api(auth: AuthMode) -> Api {
    let config = EmulatorConfig {
        auth: auth.clone(),
        ..EmulatorConfig::default()
    };
    let namespace = Arc::new(Namespace::open(&config).expect("namespace"));
    Api::new(namespace, Authorizer::new(auth))
}

fn request<'a>(method: &'a str, path: &'a str, body: &'a str) -> Request<'a> {
    Request {
        method,
        path,
        host: "127.0.0.1:5300",
        body: body.as_bytes(),
        ..Request::default()
    }
}

fn hub_body(partitions: u32, days: u32) -> String {
    let mut description = HubDescription::new();
    description.message_retention_in_days = Some(days);
    description.partition_count = Some(partitions);
    atom::to_xml(&Entry::request(Description::EventHubDescription(
        description,
    )))
    .expect("xml")
}

fn detail(answer: &Answer) -> String {
    atom::from_xml::<ErrorBody>(&answer.body)
        .expect("an error body")
        .detail
}

#[test]
fn hubs_are_listed_created_and_deleted() {
    let api = api(AuthMode::AcceptAnyToken);
    let body = hub_body(4, 3);
    let created = api.answer(&request("PUT", "/orders", &body));
    assert_eq!(created.status, 201, "{}", created.body);
    let entry: Entry = atom::from_xml(&created.body).expect("an entry");
    assert_eq!(entry.name(), Some("orders"));
    assert_eq!(entry.hub().and_then(|h| h.partition_count), Some(4));
    assert_eq!(
        entry.hub().and_then(|h| h.message_retention_in_days),
        Some(3)
    );

    let again = api.answer(&request("PUT", "/Orders", &body));
    assert_eq!(again.status, 409);
    assert!(detail(&again).contains("already exists"));

    let list = api.answer(&request("GET", "/$Resources/EventHubs", ""));
    let feed: Feed = atom::from_xml(&list.body).expect("a feed");
    let names: Vec<_> = feed.entries.iter().filter_map(Entry::name).collect();
    assert_eq!(names, vec!["eh1", "orders"]);

    assert_eq!(api.answer(&request("DELETE", "/orders", "")).status, 200);
    let gone = api.answer(&request("DELETE", "/orders", ""));
    assert_eq!(gone.status, 404);
    assert!(
        detail(&gone).contains("could not be found"),
        "{}",
        gone.body
    );
    // A GET of what is not there is the service's empty feed.
    let missing: Feed =
        atom::from_xml(&api.answer(&request("GET", "/orders", "")).body).expect("feed");
    assert_eq!(missing.title.value, atom::NOTHING_THERE);
    assert!(missing.entries.is_empty());
}

#[test]
fn bad_requests_get_the_services_status_and_reason() {
    let api = api(AuthMode::AcceptAnyToken);
    let too_many = api.answer(&request("PUT", "/big", &hub_body(33, 1)));
    assert_eq!(too_many.status, 400);
    assert!(
        detail(&too_many).contains("1 to 32 partitions"),
        "{}",
        too_many.body
    );
    assert_eq!(
        api.answer(&request("PUT", "/long", &hub_body(1, 91)))
            .status,
        400
    );
    assert_eq!(
        api.answer(&request("PUT", "/-bad", &hub_body(1, 1))).status,
        400
    );
    let garbage = api.answer(&request("PUT", "/x", "<entry><content"));
    assert_eq!(garbage.status, 400);
    // No body: the service's defaults.
    let defaults = api.answer(&request("PUT", "/defaults", ""));
    assert_eq!(defaults.status, 201);
    let entry: Entry = atom::from_xml(&defaults.body).expect("entry");
    assert_eq!(entry.hub().and_then(|h| h.partition_count), Some(16));
    assert_eq!(api.answer(&request("POST", "/defaults", "")).status, 405);
}

#[test]
fn consumer_groups_are_listed_created_and_deleted() {
    let api = api(AuthMode::AcceptAnyToken);
    assert_eq!(
        api.answer(&request("PUT", "/eh1/consumergroups/audit", ""))
            .status,
        201
    );
    assert_eq!(
        api.answer(&request("PUT", "/eh1/consumergroups/AUDIT", ""))
            .status,
        409
    );
    assert_eq!(
        api.answer(&request("PUT", "/nosuch/consumergroups/audit", ""))
            .status,
        404
    );
    let list = api.answer(&request("GET", "/eh1/consumergroups", ""));
    let feed: Feed = atom::from_xml(&list.body).expect("feed");
    let names: Vec<_> = feed.entries.iter().filter_map(Entry::name).collect();
    assert_eq!(names, vec!["$Default", "cg1", "audit"]);
    let one: Entry = atom::from_xml(
        &api.answer(&request("GET", "/eh1/consumergroups/Audit", ""))
            .body,
    )
    .expect("entry");
    assert_eq!(one.name(), Some("audit"), "the stored spelling");
    assert_eq!(
        api.answer(&request("DELETE", "/eh1/consumergroups/$Default", ""))
            .status,
        400
    );
    assert_eq!(
        api.answer(&request("DELETE", "/eh1/consumergroups/audit", ""))
            .status,
        200
    );
    assert_eq!(
        api.answer(&request("DELETE", "/eh1/consumergroups/audit", ""))
            .status,
        404
    );
    for i in 0..MAX_CONSUMER_GROUPS - 1 {
        let path = format!("/eh1/consumergroups/g{i}");
        assert_eq!(api.answer(&request("PUT", &path, "")).status, 201);
    }
    let over = api.answer(&request("PUT", "/eh1/consumergroups/over", ""));
    assert_eq!(over.status, 403, "{}", over.body);
}

#[test]
fn lists_come_in_pages() {
    let api = api(AuthMode::AcceptAnyToken);
    for i in 0..5 {
        let _ = api.answer(&request("PUT", &format!("/h{i}"), &hub_body(1, 1)));
    }
    let page = Request {
        query: "$skip=2&$top=2&api-version=2014-01",
        ..request("GET", "/$Resources/EventHubs", "")
    };
    let feed: Feed = atom::from_xml(&api.answer(&page).body).expect("feed");
    let names: Vec<_> = feed.entries.iter().filter_map(Entry::name).collect();
    assert_eq!(names, vec!["h1", "h2"]);
    assert!(feed
        .links
        .iter()
        .any(|l| l.rel == "next" && l.href.contains("$skip=4")));
}

#[test]
fn with_a_key_only_signed_requests_pass() {
    let key = AuthMode::SharedAccessKey {
        key_name: "admin".into(),
        key: "s3cret".into(),
    };
    let api = api(key);
    let list = |authorization| Request {
        authorization,
        ..request("GET", "/$Resources/EventHubs", "")
    };
    let missing = api.answer(&list(None));
    assert_eq!(missing.status, 401);
    assert!(
        detail(&missing).contains("Authorization"),
        "{}",
        missing.body
    );
    let later = now_ms() / 1000 + 600;
    let good = sas_token("http://127.0.0.1:5300/", "admin", "s3cret", later);
    assert_eq!(api.answer(&list(Some(&good))).status, 200);
    let wrong = sas_token("http://127.0.0.1:5300/", "admin", "guess", later);
    let refused = api.answer(&list(Some(&wrong)));
    assert_eq!(refused.status, 401);
    assert!(
        detail(&refused).contains("InvalidSignature"),
        "{}",
        refused.body
    );
    let other_entity = sas_token("http://127.0.0.1:5300/eh1", "admin", "s3cret", later);
    assert_eq!(api.answer(&list(Some(&other_entity))).status, 401);
    assert_eq!(api.answer(&list(Some("Bearer abc"))).status, 401);
    // The health check needs no token.
    assert_eq!(api.answer(&request("GET", "/health", "")).status, 200);
}
