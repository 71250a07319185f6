//! `GET /api/docs`: the OpenAPI document as one plain HTML page, rendered on the server from the
//! same document `GET /api/openapi.json` serves.
//!
//! Swagger UI, Redoc and Scalar are JavaScript applications that their Rust crates load from a CDN
//! or download at build time; our CSP allows no foreign scripts and our machines reach no CDN. This
//! page needs neither: no script at all, one inline stylesheet (the CSP allows inline styles),
//! operations grouped by tag with their parameters, bodies and answers, then every schema.

use std::fmt::Write as _;

use serde_json::Value;

/// The page for `doc` (the document as JSON).
pub fn render(doc: &Value) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let title = text(&doc["info"]["title"]);
    let version = text(&doc["info"]["version"]);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} {v}</title><style>{STYLE}</style></head><body><header><h1>{t} \
         <small>{v}</small></h1><p><a href=\"openapi.json\">OpenAPI {o} document (JSON)</a></p>{d}",
        t = escape(&title),
        v = escape(&version),
        o = escape(&text(&doc["openapi"])),
        d = markdown(&text(&doc["info"]["description"])),
    );
    let tags: Vec<(String, String)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (text(&t["name"]), text(&t["description"])))
        .collect();
    out.push_str("<nav><ul>");
    for (name, _) in &tags {
        let _ = write!(
            out,
            "<li><a href=\"#tag-{n}\">{n}</a></li>",
            n = escape(name)
        );
    }
    out.push_str("<li><a href=\"#schemas\">schemas</a></li></ul></nav></header><main>");

    let operations = operations(doc);
    for (tag, description) in &tags {
        let _ = write!(
            out,
            "<section id=\"tag-{n}\"><h2>{n}</h2>{d}",
            n = escape(tag),
            d = markdown(description),
        );
        for (method, path, op) in operations.iter().filter(|(_, _, op)| {
            op["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == tag.as_str()))
        }) {
            operation(&mut out, method, path, op);
        }
        out.push_str("</section>");
    }

    out.push_str("<section id=\"schemas\"><h2>Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let _ = write!(
                out,
                "<article id=\"schema-{n}\"><h3>{n}</h3>{d}",
                n = escape(name),
                d = markdown(&text(&schema["description"])),
            );
            properties(&mut out, schema);
            out.push_str("</article>");
        }
    }
    out.push_str("</section></main></body></html>");
    out
}

/// Every operation as (method, path, operation), by path then method.
fn operations(doc: &Value) -> Vec<(&'static str, &str, &Value)> {
    const METHODS: [&str; 8] = [
        "get", "post", "put", "patch", "delete", "head", "options", "trace",
    ];
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method, path.as_str(), op));
            }
        }
    }
    out
}

fn operation(out: &mut String, method: &str, path: &str, op: &Value) {
    let _ = write!(
        out,
        "<article class=\"op\" id=\"op-{id}\"><h3><span class=\"method {m}\">{mu}</span> \
         <code>{p}</code></h3><p class=\"summary\">{s}</p>{d}",
        id = escape(&text(&op["operationId"])),
        m = method,
        mu = method.to_uppercase(),
        p = escape(path),
        s = escape(&text(&op["summary"])),
        d = markdown(&text(&op["description"])),
    );
    if op["security"].as_array().is_some_and(Vec::is_empty) {
        out.push_str("<p>Public: no credentials needed.</p>");
    }
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str(
            "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th>\
             <th>required</th><th>description</th></tr>",
        );
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&text(&p["name"])),
                escape(&text(&p["in"])),
                type_of(&p["schema"]),
                if p["required"] == true { "yes" } else { "no" },
                markdown_inline(&text(&p["description"])),
            );
        }
        out.push_str("</table>");
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        out.push_str("<h4>Request body</h4>");
        out.push_str(&markdown(&text(&op["requestBody"]["description"])));
        out.push_str("<ul>");
        for (media_type, body) in content {
            let _ = write!(
                out,
                "<li><code>{}</code>: {}</li>",
                escape(media_type),
                type_of(&body["schema"])
            );
        }
        out.push_str("</ul>");
    }
    out.push_str(
        "<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th>\
         <th>headers</th></tr>",
    );
    for (status, response) in op["responses"].as_object().into_iter().flatten() {
        let bodies: Vec<String> = response["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(media_type, body)| {
                format!(
                    "{} <small>({})</small>",
                    type_of(&body["schema"]),
                    escape(media_type)
                )
            })
            .collect();
        let headers: Vec<String> = response["headers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, _)| format!("<code>{}</code>", escape(name)))
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(status),
            markdown_inline(&text(&response["description"])),
            bodies.join("<br>"),
            headers.join(" "),
        );
    }
    out.push_str("</table></article>");
}

/// A schema's properties as a table (objects), or its type (anything else).
fn properties(out: &mut String, schema: &Value) {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let Some(props) = schema["properties"].as_object() else {
        let _ = write!(out, "<p>{}</p>", type_of(schema));
        return;
    };
    out.push_str(
        "<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>",
    );
    for (name, prop) in props {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            type_of(prop),
            if required.contains(&name.as_str()) {
                "yes"
            } else {
                "no"
            },
            markdown_inline(&match prop.get("default") {
                Some(default) if !default.is_null() => {
                    format!("{} (default `{default}`)", text(&prop["description"]))
                        .trim_start()
                        .to_owned()
                }
                _ => text(&prop["description"]),
            }),
        );
    }
    out.push_str("</table>");
    for key in ["allOf", "oneOf"] {
        if schema.get(key).is_some() {
            let _ = write!(out, "<p>{}</p>", type_of(schema));
        }
    }
}

/// A schema as a short type expression (HTML), schema names linked.
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("<a href=\"#schema-{n}\">{n}</a>", n = escape(name));
    }
    for (key, joiner) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " &amp; ")] {
        if let Some(parts) = schema[key].as_array() {
            return parts.iter().map(type_of).collect::<Vec<_>>().join(joiner);
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        return values
            .iter()
            .map(|v| format!("<code>{}</code>", escape(&v.to_string())))
            .collect::<Vec<_>>()
            .join(" | ");
    }
    let types: Vec<String> = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts.iter().map(text).collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        return if schema.get("properties").is_some() {
            "object"
        } else {
            "any"
        }
        .to_owned();
    }
    types
        .iter()
        .map(|t| match t.as_str() {
            "array" => format!("array of {}", type_of(&schema["items"])),
            "object" if schema["additionalProperties"].is_object() => {
                format!("map of {}", type_of(&schema["additionalProperties"]))
            }
            "null" => "null".to_owned(),
            other => match schema["format"].as_str() {
                Some(format) => format!("{} ({})", escape(other), escape(format)),
                None => escape(other),
            },
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn escape(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Paragraphs (blank-line separated) of [`markdown_inline`] text.
fn markdown(input: &str) -> String {
    input
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", markdown_inline(p)))
        .collect()
}

/// The little markdown our descriptions use: `code` and **bold**; everything escaped.
fn markdown_inline(input: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(input).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            for (j, piece) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    let _ = write!(out, "<strong>{piece}</strong>");
                } else {
                    out.push_str(piece);
                }
            }
        }
    }
    out
}

const STYLE: &str = "\
body{margin:0;font:15px/1.5 system-ui,sans-serif;color:#1f2328;background:#fff}\
header,main{max-width:980px;margin:0 auto;padding:0 16px}\
h1 small{font-weight:400;color:#59636e;font-size:60%}\
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:6px 14px}\
h2{border-bottom:1px solid #d1d9e0;padding-bottom:4px;margin-top:40px}\
article{border:1px solid #d1d9e0;border-radius:6px;padding:4px 14px 10px;margin:14px 0}\
h3{font-size:16px}h4{margin:12px 0 4px;font-size:14px}\
table{border-collapse:collapse;width:100%;font-size:13px}\
th,td{border:1px solid #d1d9e0;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#f6f8fa}code{font:13px ui-monospace,monospace;background:#f6f8fa;padding:0 3px}\
.method{display:inline-block;min-width:58px;text-align:center;color:#fff;border-radius:4px;\
font:600 12px ui-monospace,monospace;padding:2px 6px}\
.get{background:#1a7f37}.post{background:#0969da}.put,.patch{background:#9a6700}\
.delete{background:#cf222e}.summary{font-weight:500}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_code_marked() {
        assert_eq!(
            markdown_inline("a <b> & `x<y>` **bold**"),
            "a &lt;b&gt; &amp; <code>x&lt;y&gt;</code> <strong>bold</strong>"
        );
    }

    #[test]
    fn types_read_as_expressions() {
        let schema =
            serde_json::json!({"type": "array", "items": {"$ref": "#/components/schemas/Lead"}});
        assert_eq!(
            type_of(&schema),
            "array of <a href=\"#schema-Lead\">Lead</a>"
        );
        let schema = serde_json::json!({"type": ["string", "null"], "format": "uuid"});
        assert_eq!(type_of(&schema), "string (uuid) | null");
    }
}
