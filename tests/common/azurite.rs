//! Azurite, started by `scripts/test` (`AZURITE_BLOB_PORT`), and checkpoints written into it as
//! the SDKs' Blob checkpoint stores write them: empty blobs whose metadata is the checkpoint.

use hubscope::checkpoints::signing::{authorization, Request};

const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub fn port() -> u16 {
    std::env::var("AZURITE_BLOB_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .expect("AZURITE_BLOB_PORT is not set: scripts/test starts Azurite and sets it")
}

/// The storage connection string a user would paste for this Azurite.
pub fn connection_string() -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};\
         BlobEndpoint=http://127.0.0.1:{}/{ACCOUNT};",
        port()
    )
}

/// Creates a container with a fresh name and returns the name.
pub async fn new_container() -> String {
    let name = format!("ui-{}", uuid::Uuid::new_v4().simple());
    put(&format!("/{name}"), &[("restype", "container".into())], &[]).await;
    name
}

/// Writes `<namespace>/<hub>/<group>/checkpoint/<partition>` with `sequencenumber` and `offset`.
pub async fn write_checkpoint(container: &str, prefix: &str, partition: &str, sequence: i64) {
    let path = format!("/{container}/{prefix}/checkpoint/{partition}").replace('$', "%24");
    let metadata = [
        ("x-ms-meta-sequencenumber", sequence.to_string()),
        ("x-ms-meta-offset", (sequence * 100).to_string()),
    ];
    put(&path, &[], &metadata).await;
}

async fn put(path: &str, query: &[(&str, String)], metadata: &[(&str, String)]) {
    let full_path = format!("/{ACCOUNT}{path}");
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .unwrap();
    let mut headers = vec![
        ("x-ms-date", date),
        ("x-ms-version", "2021-08-06".to_string()),
    ];
    if query.is_empty() {
        headers.push(("x-ms-blob-type", "BlockBlob".to_string()));
    }
    headers.extend(metadata.iter().cloned());
    let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, KEY).unwrap();
    let signed = authorization(
        &Request {
            method: "PUT",
            ms_headers: &headers,
            account: ACCOUNT,
            path: &full_path,
            query,
        },
        &key,
    );
    let mut url = reqwest::Url::parse(&format!("http://127.0.0.1:{}{full_path}", port())).unwrap();
    url.query_pairs_mut()
        .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
    let mut request = reqwest::Client::new()
        .put(url)
        .header("authorization", signed)
        .header("content-length", "0");
    for (name, value) in &headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "Azurite refused a PUT: {} {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
}
