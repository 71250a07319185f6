//! Message-template rules shared by the browser (live preview in the dashboard) and the server (what
//! the store saves), so both always agree. No dependencies: it compiles for WASM and the host alike.

/// The distinct `{{name}}` placeholders of a template, in order of first use. A placeholder name is
/// letters, digits, `_` and `.` (surrounding spaces allowed), optionally followed by `|` and a
/// fallback (`{{name|there}}`); anything else between braces, such as `{{}}` or `{{two words}}`,
/// is plain text, not a variable.
pub fn template_variables(content: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for piece in pieces(content) {
        if let Piece::Variable { name, .. } = piece
            && !found.iter().any(|f| f == name)
        {
            found.push(name.to_owned());
        }
    }
    found
}

/// A variable that has no value and no fallback: rendering refuses the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVariable {
    pub name: String,
}

impl std::fmt::Display for MissingVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{{{}}}}} has no value and no fallback", self.name)
    }
}

impl std::error::Error for MissingVariable {}

/// Fills a template's placeholders: each `{{name}}` with `value(name)`, or with its fallback
/// (`{{name|there}}`) when the value is missing or blank. Text that is not a placeholder is kept
/// as it is. The first variable with neither is the error (nothing half-filled is returned).
pub fn render(
    content: &str,
    value: impl Fn(&str) -> Option<String>,
) -> Result<String, MissingVariable> {
    let mut out = String::with_capacity(content.len());
    for piece in pieces(content) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Variable { name, fallback } => {
                match (value(name).filter(|v| !v.trim().is_empty()), fallback) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(fallback)) => out.push_str(fallback),
                    (None, None) => {
                        return Err(MissingVariable {
                            name: name.to_owned(),
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// What a lead gives a template: `name`, `first_name` (the name's first word), `phone`,
/// `company`, `email`, `status`, and any imported column (`extra`, by its field name).
#[derive(Debug, Clone, Copy)]
pub struct LeadFields<'a> {
    pub name: &'a str,
    pub phone: &'a str,
    pub company: Option<&'a str>,
    pub email: Option<&'a str>,
    pub status: &'a str,
    /// Imported columns, `(field name, value)`; the built-in fields win over a column of the same
    /// name.
    pub extra: &'a [(String, String)],
}

impl LeadFields<'_> {
    /// The value of `field`; `None` for an unknown field or a blank one.
    pub fn value(&self, field: &str) -> Option<String> {
        let v = match field {
            "name" => Some(self.name),
            "first_name" => self.name.split_whitespace().next(),
            "phone" => Some(self.phone),
            "company" => self.company,
            "email" => self.email,
            "status" => Some(self.status),
            other => self
                .extra
                .iter()
                .find(|(name, _)| name == other)
                .map(|(_, value)| value.as_str()),
        }?;
        (!v.trim().is_empty()).then(|| v.to_owned())
    }

    /// The template filled in for this lead ([`render`]).
    pub fn render(&self, content: &str) -> Result<String, MissingVariable> {
        render(content, |field| self.value(field))
    }
}

enum Piece<'a> {
    Text(&'a str),
    Variable {
        name: &'a str,
        fallback: Option<&'a str>,
    },
}

/// The template cut into text and placeholders, in order.
fn pieces(content: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let inner = &after[..end];
        let (name, fallback) = match inner.split_once('|') {
            Some((name, fallback)) => (name.trim(), Some(fallback)),
            None => (inner.trim(), None),
        };
        if is_variable_name(name) {
            out.push(Piece::Text(&rest[..start]));
            out.push(Piece::Variable { name, fallback });
        } else {
            out.push(Piece::Text(&rest[..start + 2 + end + 2]));
        }
        rest = &after[end + 2..];
    }
    out.push(Piece::Text(rest));
    out
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
        assert_eq!(
            template_variables("Hi {{name|there}} from {{ company | us }}"),
            vec!["name".to_string(), "company".to_string()]
        );
    }

    fn ana(field: &str) -> Option<String> {
        let extra = [
            ("city".to_string(), "Leeds".to_string()),
            ("name".to_string(), "not this one".to_string()),
            ("blank".to_string(), " ".to_string()),
        ];
        super::LeadFields {
            name: "Ana Lima",
            phone: "+15550009001",
            company: Some("Sofas Ltd"),
            email: None,
            status: "new",
            extra: &extra,
        }
        .value(field)
    }

    #[test]
    fn imported_columns_are_variables_but_never_shadow_a_lead_field() {
        assert_eq!(
            super::render("{{name}} in {{city}}{{blank|!}}", ana).unwrap(),
            "Ana Lima in Leeds!"
        );
    }

    #[test]
    fn values_and_fallbacks_fill_the_template_and_junk_stays_text() {
        assert_eq!(
            super::render(
                "Hi {{first_name}} of {{ company }}! {{}} {{bad name}} {{x",
                ana
            )
            .unwrap(),
            "Hi Ana of Sofas Ltd! {{}} {{bad name}} {{x"
        );
        assert_eq!(
            super::render("Write to {{email|our team}}, {{name|friend}}", ana).unwrap(),
            "Write to our team, Ana Lima"
        );
        // A blank value takes the fallback; an empty fallback is allowed.
        assert_eq!(
            super::render("[{{email|}}]", |_| Some("  ".into())).unwrap(),
            "[]"
        );
        assert_eq!(super::render("no variables", ana).unwrap(), "no variables");
    }

    #[test]
    fn a_variable_without_value_or_fallback_refuses_the_template() {
        let err = super::render("Hi {{name}}, about {{email}} and {{unknown}}", ana).unwrap_err();
        assert_eq!(err.name, "email");
        assert_eq!(err.to_string(), "{{email}} has no value and no fallback");
        assert_eq!(
            super::render("{{unknown}}", ana).unwrap_err().name,
            "unknown"
        );
    }
}
