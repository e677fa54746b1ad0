//! Shared Key authorization for Blob requests: the string-to-sign the service recomputes, signed
//! with HMAC-SHA256 under the account key.
//! <https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key>

use std::fmt::Write as _;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One request as Shared Key sees it. Only requests without a body are signed here (hubscope's
/// GETs, and the tests' PUTs of empty blobs), so the content and conditional headers of the
/// string-to-sign are all empty.
pub struct Request<'a> {
    pub method: &'a str,
    /// The `x-ms-*` headers sent, names in lowercase.
    pub ms_headers: &'a [(&'a str, String)],
    pub account: &'a str,
    /// The URI's path as sent (percent-encoded), from its first `/`.
    pub path: &'a str,
    /// The query parameters, decoded.
    pub query: &'a [(&'a str, String)],
}

/// The `Authorization` header's value: `SharedKey <account>:<signature>`.
#[must_use]
pub fn authorization(request: &Request<'_>, key: &[u8]) -> String {
    let signature = sign(&string_to_sign(request), key);
    format!("SharedKey {}:{signature}", request.account)
}

fn string_to_sign(request: &Request<'_>) -> String {
    // VERB, then Content-Encoding, -Language, -Length, -MD5, -Type, Date, If-Modified-Since,
    // If-Match, If-None-Match, If-Unmodified-Since, Range: eleven empty lines for a bare GET.
    let mut text = format!("{}\n", request.method);
    text.push_str(&"\n".repeat(11));
    let mut headers: Vec<_> = request.ms_headers.iter().collect();
    headers.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in headers {
        let _ = writeln!(text, "{name}:{}", value.trim());
    }
    let _ = write!(text, "/{}{}", request.account, request.path);
    let mut query: Vec<(String, &str)> = request
        .query
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_str()))
        .collect();
    query.sort();
    for (name, value) in query {
        let _ = write!(text, "\n{name}:{value}");
    }
    text
}

fn sign(text: &str, key: &[u8]) -> String {
    // An HMAC takes a key of any length: `new_from_slice` cannot fail for HMAC-SHA256.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_string_to_sign_has_the_documented_shape() {
        let headers = [
            ("x-ms-version", "2021-08-06".to_string()),
            ("x-ms-date", "Wed, 02 Dec 2026 00:00:00 GMT".to_string()),
        ];
        let query = [
            ("restype", "container".to_string()),
            ("comp", "list".to_string()),
            ("prefix", "ns/hub/$default/".to_string()),
        ];
        let request = Request {
            method: "GET",
            ms_headers: &headers,
            account: "devstoreaccount1",
            path: "/devstoreaccount1/checkpoints",
            query: &query,
        };
        assert_eq!(
            string_to_sign(&request),
            "GET\n\n\n\n\n\n\n\n\n\n\n\n\
             x-ms-date:Wed, 02 Dec 2026 00:00:00 GMT\nx-ms-version:2021-08-06\n\
             /devstoreaccount1/devstoreaccount1/checkpoints\n\
             comp:list\nprefix:ns/hub/$default/\nrestype:container"
        );
    }

    #[test]
    fn signs_with_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("what do ya want for nothing?", b"Jefe"),
            base64::engine::general_purpose::STANDARD.encode([
                0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
                0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
                0x64, 0xec, 0x38, 0x43
            ])
        );
    }
}
