//! The OpenAPI document of `/api` (`GET /api/openapi.json`) and its page (`GET /api/docs`):
//!
//! - **Coverage**: every route the running router has under `/api` is in the document, method by
//!   method (read from the router itself), and the API's source registers routes only through
//!   `utoipa_axum::routes!`, which documents them (a plain axum `.route(…)` fails the test).
//! - **Existence**: every documented operation answers as a real route (401 without credentials,
//!   200 for the public ones), never the 404/405 of an unknown route.
//! - **Validity**: the served document passes `openapi-spec-validator` (PyPI, installed by
//!   `scripts/setup-test.sh` into `target/openapi-venv`); the test fails loudly when it is missing.
//! - **Completeness**: every operation has an id, a summary, a tag, its security (with the API
//!   key scope `required_scope` asks), a success answer, and error answers in the shared shape.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use http::{Method, Request, StatusCode, header};
use serde_json::Value;

use crate::helpers::spawn_app;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// (METHOD, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    out
}

fn document() -> Value {
    serde_json::to_value(server::api::openapi()).expect("the document serialises")
}

/// (METHOD, path) of every route the router serves under `/api`. axum has no route listing, but
/// its `Debug` output names each route's path and which methods it has; if that output ever
/// changes shape, this finds nothing and the test fails (it never passes by finding nothing).
fn routed(router_debug: &str) -> BTreeSet<(String, String)> {
    // The fallback router comes after the routes and has ids of its own.
    let main = router_debug
        .split(", fallback_router:")
        .next()
        .unwrap_or_default();
    let (routes, node) = main
        .split_once("node: Node { paths: {")
        .expect("the router's Debug output lists its paths");
    let mut paths = BTreeMap::new();
    for entry in node.split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once("): \"").expect("RouteId(n): \"path\"");
        let path = rest.split('"').next().expect("a quoted path");
        paths.insert(id.to_owned(), path.to_owned());
    }
    let mut out = BTreeSet::new();
    for entry in routes.split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once("): ").expect("RouteId(n): endpoint");
        let path = &paths[id];
        if !(path == "/api" || path.starts_with("/api/")) {
            continue;
        }
        let Some(fields) = rest.strip_prefix("MethodRouter(MethodRouter {") else {
            panic!("{path} is routed to a service, not a method router: it cannot be documented");
        };
        let fields = fields.split(" fallback: ").next().unwrap_or_default();
        for method in METHODS {
            let value = fields
                .split(&format!(" {method}: "))
                .nth(1)
                .and_then(|v| v.split([',', ' ']).next())
                .unwrap_or_else(|| panic!("no `{method}` in the method router of {path}"));
            // axum answers HEAD with the GET handler; it is not an operation of its own.
            if value != "None" && method != "head" {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_under_api_is_documented() {
    let app = spawn_app().await;
    let routed = routed(&app.router_debug());
    assert!(
        routed.contains(&("GET".to_owned(), "/api/me".to_owned())) && routed.len() > 40,
        "reading the router's routes failed (found {routed:?})"
    );
    let documented = documented(&document());
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:?}. Register them with \
         `.routes(routes!(handler))` and a `#[utoipa::path]` on the handler (see server/src/api/mod.rs)"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A second line of defence that needs no running router: the API's modules register routes
/// only through `routes!` (which documents them), and nothing outside them adds `/api` routes.
#[test]
fn api_routes_are_registered_only_with_their_documentation() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let api_dir = src.join("api");
    let mut offences = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        let forbidden: &[&str] = if file.starts_with(&api_dir) {
            // Plain axum registration bypasses the document.
            &[
                ".route(",
                ".route_service(",
                ".nest_service(",
                "axum::routing",
                "Router::new(",
            ]
        } else {
            &[
                ".route(\"/api",
                ".route_service(\"/api",
                ".nest_service(\"/api",
            ]
        };
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            // `OpenApiRouter::new()` is the documented kind.
            let line = line.replace("OpenApiRouter::new(", "");
            if forbidden.iter().any(|pattern| line.contains(pattern)) {
                offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "routes registered without their OpenAPI documentation (use `.routes(routes!(handler))` \
         with `#[utoipa::path]` on the handler):\n{}",
        offences.join("\n")
    );
    let router = std::fs::read_to_string(src.join("router.rs")).expect("router.rs");
    assert_eq!(
        router.matches(".nest(\"/api\"").count(),
        1,
        "router.rs nests the documented API router at /api exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_a_real_route() {
    let app = spawn_app().await;
    let doc = document();
    let dummy = "00000000-0000-4000-8000-000000000000";
    for (method, path, op) in operations(&doc) {
        let mut uri = String::new();
        for (i, part) in path.split('{').enumerate() {
            if i == 0 {
                uri.push_str(part);
            } else {
                let (_, rest) = part.split_once('}').expect("closed path parameter");
                uri.push_str(dummy);
                uri.push_str(rest);
            }
        }
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(&uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.send(request).await;
        let public = op["security"].as_array().is_some_and(Vec::is_empty);
        if public {
            assert_eq!(
                response.status,
                StatusCode::OK,
                "{method} {uri}: {}",
                response.body
            );
        } else {
            assert_eq!(
                (response.status, response.error_code()),
                (StatusCode::UNAUTHORIZED, "unauthorized".to_owned()),
                "{method} {uri} should be a route that wants credentials"
            );
        }
    }
}

/// openapi-spec-validator, as `scripts/setup-test.sh` installs it.
fn validator() -> PathBuf {
    if let Ok(path) = std::env::var("OPENAPI_SPEC_VALIDATOR") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let path = target.join("openapi-venv/bin/openapi-spec-validator");
    assert!(
        path.exists(),
        "openapi-spec-validator is missing at {}: run `source scripts/setup-test.sh` (it installs \
         it from PyPI), or set OPENAPI_SPEC_VALIDATOR",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_valid_openapi_3_1() {
    let app = spawn_app().await;
    let response = app.get("/api/openapi.json", None).await;
    assert_eq!(response.status, StatusCode::OK, "public, no credentials");
    assert_eq!(
        response.headers[header::CONTENT_TYPE],
        "application/json",
        "served as JSON"
    );
    let served = response.json();
    assert_eq!(
        served,
        document(),
        "the served document is the generated one"
    );
    assert!(
        served["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1"
    );

    let file = tempfile::NamedTempFile::with_suffix(".json").expect("temp file");
    std::fs::write(file.path(), &response.body).expect("write the document");
    let out = std::process::Command::new(validator())
        .args(["--schema", "3.1", "--validation-errors", "all"])
        .arg(file.path())
        .output()
        .expect("openapi-spec-validator runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the document is not valid:\n{report}");
    assert!(report.contains("OK"), "{report}");
}

#[test]
fn every_operation_is_described_with_its_auth_and_answers() {
    let doc = document();
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(!doc["info"]["title"].as_str().unwrap_or("").is_empty());
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let at = format!("{method} {path}");
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: no operationId"));
        assert!(
            ids.insert(id.to_owned()),
            "{at}: operationId {id} is used twice"
        );
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{at}: no summary"
        );
        let op_tags = op["tags"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: no tag"));
        assert!(
            op_tags
                .iter()
                .all(|t| tags.contains(t.as_str().unwrap_or(""))),
            "{at}: a tag that is not declared"
        );
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{at}: no success answer"
        );
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{at}: {status} is not in the shared error shape"
                );
            }
        }
        assert!(
            responses["429"]["headers"].get("Retry-After").is_some(),
            "{at}: 429 without Retry-After"
        );

        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: no security"));
        if security.is_empty() {
            assert!(
                ["/api/openapi.json", "/api/docs"].contains(&path.as_str()),
                "{at} is public: only the document and its page should be"
            );
            continue;
        }
        for status in ["401", "403", "500"] {
            assert!(responses.contains_key(status), "{at}: no {status}");
        }
        if path.contains('{') {
            assert!(responses.contains_key("404"), "{at}: no 404");
        }
        if op["requestBody"]["content"]
            .get("application/json")
            .is_some()
        {
            for status in ["400", "413", "415", "422"] {
                assert!(
                    responses.contains_key(status),
                    "{at}: JSON body but no {status}"
                );
            }
        }
        let key_scopes: Vec<&Value> = security.iter().filter_map(|s| s.get("api_key")).collect();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        match server::api::api_key_scope(&method, &path) {
            Some(scope) => assert_eq!(key_scopes, [&serde_json::json!([scope])], "{at}: scope"),
            None => assert!(key_scopes.is_empty(), "{at}: no API key may do this"),
        }
        assert!(
            security.iter().any(|s| s.get("session").is_some())
                && security.iter().any(|s| s.get("supabase_jwt").is_some()),
            "{at}: cookie and JWT users may call it"
        );
    }
    let text = doc.to_string();
    for leak in ["crate::", "[`"] {
        let at = text
            .find(leak)
            .map(|i| &text[i.saturating_sub(120)..(i + 40).min(text.len())]);
        assert!(
            at.is_none(),
            "a Rust doc link leaked into the document: {at:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_shows_every_operation_without_scripts() {
    let app = spawn_app().await;
    let response = app.get("/api/docs", None).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        response.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = response.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'"),
        "the strict CSP applies: {csp}"
    );
    let page = &response.body;
    assert!(!page.contains("<script"), "no scripts");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from elsewhere"
    );
    assert!(page.contains("href=\"openapi.json\""), "links to the JSON");
    for (method, path, op) in operations(&document()) {
        let id = op["operationId"].as_str().unwrap();
        assert!(
            page.contains(&format!("id=\"op-{id}\""))
                && page.contains(&format!("<code>{path}</code>")),
            "{method} {path} is not on the page"
        );
    }
    assert!(
        page.contains("id=\"schema-ErrorBody\""),
        "schemas are listed"
    );
}
