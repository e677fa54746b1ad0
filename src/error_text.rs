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
        let mut text = flattened(&e.to_string());
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

/// A message of several lines (`azure_identity` lists each credential it tried, each with a
/// troubleshooting link) as one: the lines joined, the links left out.
fn flattened(text: &str) -> String {
    let mut line = String::new();
    for part in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("To troubleshoot"))
    {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_of_several_lines_becomes_one() {
        let text = "Multiple errors were encountered while attempting to authenticate:\nAzureCliCredential authentication failed. az not found on PATH\nTo troubleshoot, visit https://aka.ms/x - az not found on PATH\nAzureDeveloperCliCredential authentication failed. azd not found on PATH\n";
        assert_eq!(
            flattened(text),
            "Multiple errors were encountered while attempting to authenticate: AzureCliCredential authentication failed. az not found on PATH; AzureDeveloperCliCredential authentication failed. azd not found on PATH"
        );
    }
}
