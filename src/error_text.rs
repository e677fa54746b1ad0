//! An error and its causes on one line for a user: each cause once (SDK errors often repeat
//! their source), without the prefixes libraries add to each layer they wrap. The lowest floor
//! of the engine: every module that reports errors uses it, it uses none of them.

/// Prefixes the SDK and `azure_core` put on each layer; they say nothing to a user.
const NOISE: [&str; 3] = ["AMQP Error: ", "Azure Core Error: ", "Transport error: "];

/// `error` and its causes joined with `: `. `last_word` may recognise a cause whose own words
/// end the chain (what was wrapped around them, or under them, is debug text).
#[must_use]
pub fn one_line(
    error: &(dyn std::error::Error + 'static),
    last_word: impl Fn(&(dyn std::error::Error + 'static)) -> Option<String>,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(text) = last_word(e) {
            if !parts.iter().any(|p| p.contains(&text)) {
                parts.push(text);
            }
            break;
        }
        let mut text = e.to_string();
        while let Some(rest) = NOISE.iter().find_map(|n| text.strip_prefix(n)) {
            text = rest.to_string();
        }
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}
