//! A request and its answer as the management API sees them, whichever shape it answers in
//! (Atom or Resource Manager's JSON): what `server` fills in from HTTP and writes back.

/// A request, as far as the API cares.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Percent-decoded, without the query.
    pub path: &'a str,
    pub query: &'a str,
    /// The `Host` header: ids and links in the answer name it.
    pub host: &'a str,
    pub https: bool,
    pub authorization: Option<&'a str>,
    /// `If-Match: *`: an update of an existing entity.
    pub if_match: bool,
    pub body: &'a [u8],
}

/// An answer: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// A query parameter that is a number, its name matched without case (`$skip`, `$top`).
pub fn number_param(query: &str, name: &str) -> Option<usize> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| value.parse().ok())
}
