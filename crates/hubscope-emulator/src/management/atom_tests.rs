//! The documents as the service writes them (the management API's reference pages, trimmed),
//! read back; and what the endpoint writes, read back the same way.

use super::*;

/// A hub list as the service's documentation shows it, authorization rule and all.
const SERVICE_HUB_FEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="text">EventHubs</title>
  <id>https://ns.servicebus.windows.net/$Resources/Eventhubs?timeout=60&amp;api-version=2014-01</id>
  <updated>2016-02-19T22:56:38Z</updated>
  <link rel="self" href="https://ns.servicebus.windows.net/$Resources/Eventhubs?timeout=60&amp;api-version=2014-01"/>
  <entry xml:base="https://ns.servicebus.windows.net/$Resources/Eventhubs?timeout=60&amp;api-version=2014-01">
    <id>https://ns.servicebus.windows.net/hub1?api-version=2014-01</id>
    <title type="text">hub1</title>
    <published>2015-09-09T20:30:51Z</published>
    <updated>2015-09-09T21:16:12Z</updated>
    <author><name>ns</name></author>
    <link rel="self" href="../hub1?api-version=2014-01"/>
    <content type="application/xml">
      <EventHubDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
                           xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
        <MessageRetentionInDays>1</MessageRetentionInDays>
        <AuthorizationRules>
          <AuthorizationRule i:type="SharedAccessAuthorizationRule">
            <ClaimType>SharedAccessKey</ClaimType><ClaimValue>None</ClaimValue>
            <Rights><AccessRights>Listen</AccessRights></Rights>
            <KeyName>listen</KeyName>
          </AuthorizationRule>
        </AuthorizationRules>
        <Status>Active</Status>
        <CreatedAt>2015-09-09T20:30:51.083</CreatedAt>
        <UpdatedAt>2015-09-09T21:16:12.057</UpdatedAt>
        <PartitionCount>2</PartitionCount>
        <PartitionIds xmlns:d2p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays">
          <d2p1:string>0</d2p1:string><d2p1:string>1</d2p1:string>
        </PartitionIds>
      </EventHubDescription>
    </content>
  </entry>
</feed>"#;

const SERVICE_GROUP_FEED: &str = r#"<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="text">ConsumerGroups</title>
  <id>https://ns.servicebus.windows.net/hub1/consumergroups?timeout=60&amp;api-version=2014-01</id>
  <updated>2016-02-19T01:40:41Z</updated>
  <entry xml:base="https://ns.servicebus.windows.net/hub1/consumergroups?timeout=60&amp;api-version=2014-01">
    <id>https://ns.servicebus.windows.net/hub1/consumergroups/$Default?api-version=2014-01</id>
    <title type="text">$Default</title>
    <published>2015-09-09T20:31:00Z</published>
    <updated>2015-09-09T20:31:00Z</updated>
    <link rel="self" href="consumergroups/$Default?api-version=2014-01"/>
    <content type="application/xml">
      <ConsumerGroupDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
                                xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
        <CreatedAt>2015-09-09T20:31:00.4479782</CreatedAt>
        <UpdatedAt>2015-09-09T20:31:00.4479782</UpdatedAt>
      </ConsumerGroupDescription>
    </content>
  </entry>
</feed>"#;

#[test]
fn reads_the_services_hub_list() {
    let feed: Feed = from_xml(SERVICE_HUB_FEED).expect("reads");
    assert_eq!(feed.entries.len(), 1);
    let entry = &feed.entries[0];
    assert_eq!(entry.name(), Some("hub1"));
    let hub = entry.hub().expect("a hub");
    assert_eq!(hub.message_retention_in_days, Some(1));
    assert_eq!(hub.status.as_deref(), Some("Active"));
    assert_eq!(hub.partition_count, Some(2));
    let ids = &hub.partition_ids.as_ref().expect("ids").ids;
    assert_eq!(ids, &["0", "1"]);
    let created = parse_time(hub.created_at.as_deref().expect("created")).expect("a time");
    assert_eq!(created.unix_timestamp(), 1_441_830_651);
}

#[test]
fn reads_the_services_group_list() {
    let feed: Feed = from_xml(SERVICE_GROUP_FEED).expect("reads");
    let entry = &feed.entries[0];
    assert_eq!(entry.name(), Some("$Default"));
    assert!(entry.group().is_some() && entry.hub().is_none());
}

#[test]
fn what_the_endpoint_writes_reads_back() {
    let mut description = HubDescription::new();
    description.message_retention_in_days = Some(7);
    description.partition_count = Some(3);
    description.partition_ids = Some(PartitionIds::new(vec!["0".into(), "1".into(), "2".into()]));
    let feed = Feed {
        xmlns: ATOM_NS.into(),
        title: Text::plain("EventHubs"),
        entries: vec![Entry {
            title: Some(Text::plain("a&b")),
            ..Entry::request(Description::EventHubDescription(description.clone()))
        }],
        ..Feed::default()
    };
    let xml = to_xml(&feed).expect("writes");
    assert!(xml.contains("<d2p1:string>2</d2p1:string>"), "{xml}");
    assert!(
        xml.contains(&format!("xmlns:d2p1=\"{ARRAYS_NS}\"")),
        "{xml}"
    );
    let read: Feed = from_xml(&xml).expect("reads");
    assert_eq!(read.entries[0].name(), Some("a&b"));
    let hub = read.entries[0].hub().expect("hub");
    assert_eq!(hub.partition_count, Some(3));
    assert_eq!(hub.partition_ids.as_ref().map(|p| p.ids.len()), Some(3));
}

#[test]
fn an_empty_description_is_a_request_for_the_defaults() {
    let entry: Entry = from_xml(
        r#"<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><EventHubDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"/></content></entry>"#,
    )
    .expect("reads");
    assert_eq!(entry.hub(), Some(&HubDescription::default()));
}

#[test]
fn error_bodies_and_times() {
    let body: ErrorBody =
        from_xml("<Error><Code>409</Code><Detail>exists. TrackingId:x</Detail></Error>")
            .expect("reads");
    assert_eq!(body.code, 409);
    assert_eq!(atom_time(1_441_830_651_083), "2015-09-09T20:30:51Z");
    assert_eq!(
        description_time(1_441_830_651_083),
        "2015-09-09T20:30:51.0830000Z"
    );
    assert_eq!(
        parse_time("2015-09-09T20:30:51.0830000Z").map(OffsetDateTime::unix_timestamp),
        Some(1_441_830_651)
    );
    assert!(parse_time("yesterday").is_none());
}
