//! Message-template rules shared by the browser (live preview in the dashboard) and the server (what
//! the store saves), so both always agree. No dependencies: it compiles for WASM and the host alike.

/// The distinct `{{name}}` placeholders of a template, in order of first use. A placeholder name is
/// letters, digits, `_` and `.` (surrounding spaces allowed); anything else between braces, such as
/// `{{}}` or `{{two words}}`, is plain text, not a variable.
pub fn template_variables(content: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if is_variable_name(name) && !found.iter().any(|f| f == name) {
            found.push(name.to_owned());
        }
        rest = &after[end + 2..];
    }
    found
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::template_variables;

    #[test]
    fn variables_are_found_once_in_order_and_junk_is_ignored() {
        assert_eq!(
            template_variables("Hi {{ name }}, {{company}} and {{name}} {{}} {{bad name}} {{x"),
            vec!["name".to_string(), "company".to_string()]
        );
        assert!(template_variables("no variables").is_empty());
        assert_eq!(
            template_variables("{{lead.first_name}}"),
            vec!["lead.first_name".to_string()]
        );
    }
}
