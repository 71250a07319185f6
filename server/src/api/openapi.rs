//! The OpenAPI 3.1 document of `/api`, generated from the code.
//!
//! Every route is registered with `utoipa_axum::routes!` from a handler that carries
//! `#[utoipa::path(…)]`: one registration adds the route to the router *and* the operation to the
//! document (see `mod.rs`). The handler's annotation says what only the handler knows — its
//! summary, parameters, body and the answers it gives itself (201, 404, 409, 422, …). What every
//! handler shares is added here by [`finish`], from the code that causes it:
//!
//! - **Who may call it** (`security`): the session cookie, a Supabase bearer JWT, or an API key
//!   with the scope [`super::extract::required_scope`] asks of that method and path (none of them
//!   for an operation annotated `security(())`, which is public).
//! - **Answers of the layers in front of every handler**: 401 (no or bad credentials), 403
//!   (cross-origin write, or an API key without the scope), 429 (rate limits, `Retry-After`), 503
//!   (session lookups saturated, `Retry-After`) and 500.
//! - **Answers of the extractors**: a JSON body ([`super::ApiJson`]) can be malformed (400), too
//!   big (413), not JSON (415) or the wrong shape (422); a `{id}` in the path
//!   ([`super::ResourceId`]) that names nothing of the caller's is 404.
//!
//! An answer the annotation lists already keeps its more specific description.

use utoipa::OpenApi as _;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{HttpMethod, InfoBuilder, OpenApi, Ref};

use super::error::{ErrorBody, ErrorDetail};
use super::extract::required_scope;

/// Where the router is nested (`router.rs`); the document names full paths.
pub const PREFIX: &str = "/api";

/// Security scheme names.
const SESSION: &str = "session";
const SUPABASE_JWT: &str = "supabase_jwt";
const API_KEY: &str = "api_key";

const DESCRIPTION: &str = "\
The REST API of Rarity Leads: WhatsApp accounts, messages and media, leads (with CSV import), \
templates, campaigns, consent and privacy, and API keys.

**Authentication.** Send one of: the dashboard's session cookie; a Supabase access token as \
`Authorization: Bearer <jwt>`; or an API key as `Authorization: Bearer rk_…`. An API key acts \
for its owner within its scopes: `read` for GET, `send` for `POST /api/messages` and \
`POST /api/messages/media`, `manage` for every other change. API keys can never manage API keys \
or delete the account.

**Errors** are JSON: `{\"error\": {\"code\", \"message\", \"field\"?}}` (schema `ErrorBody`); \
switch on `code`. `field` names the request field to fix in a 422. A path that exists with \
another method answers 405 (`method_not_allowed`); an unknown path under `/api` 404 \
(`not_found`). Someone else's id is indistinguishable from a missing one (404).

**Paging.** Lists answer a JSON array of at most `limit` items; when more follow, a \
`Link: <…>; rel=\"next\"` header gives the next page's URL. Cursors are opaque.

**Limits.** Over a rate limit: 429 with `Retry-After` (seconds). JSON bodies: at most 64 KiB.";

/// The bytes of a file, as a response body.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // Describes a body; never built.
pub struct FileBytes(Vec<u8>);

/// The shared parts: error schema, tags and security schemes; `routes!` adds the rest.
#[derive(utoipa::OpenApi)]
#[openapi(
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "me", description = "Who is calling."),
        (name = "accounts", description = "Linked WhatsApp accounts: link by QR or pairing code, rename, reconnect, log out, delete."),
        (name = "messages", description = "Send texts and files, read messages and conversations, download media."),
        (name = "leads", description = "Leads: list with filters, create, change, bulk actions, CSV import."),
        (name = "templates", description = "Message templates with {{variables}}."),
        (name = "campaigns", description = "Paced campaigns to many leads, tracked per lead."),
        (name = "privacy", description = "Consent ledger, privacy settings, export, erasure, account deletion, audit log."),
        (name = "keys", description = "API keys (signed-in users only)."),
        (name = "embed", description = "Tokens for the embeddable chat and account manager (`/embed/…`)."),
        (name = "webhooks", description = "Webhook endpoints (Standard Webhooks signatures), their delivery log and redelivery."),
        (name = "docs", description = "This document and its page (public)."),
    )
)]
struct Shared;

/// The document's starting point, before `routes!` adds the operations.
pub fn base() -> OpenApi {
    let mut doc = Shared::openapi();
    doc.info = InfoBuilder::new()
        .title("Rarity Leads REST API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            "rl_session",
            "The dashboard's session cookie, set by signing in (named `__Host-rl_session` when \
             cookies are Secure). Writes must come from our own origin or `FRONTEND_URL`.",
        ))),
    );
    components.add_security_scheme(
        SUPABASE_JWT,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "A Supabase access token (HS256, `aud = authenticated`), accepted when the \
                     server has `SUPABASE_JWT_SECRET`; `sub` is the user.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("rk_…")
                .description(Some(
                    "An API key (`rk_…`, created under Settings or `POST /api/keys`). Its scopes \
                     (`read`, `send`, `manage`) are listed on each operation.",
                ))
                .build(),
        ),
    );
    doc
}

/// The finished document: full paths, and what every operation shares (see the module docs).
pub fn finish(mut doc: OpenApi) -> OpenApi {
    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, mut item) in paths {
        let full = format!("{PREFIX}{path}");
        for (method, operation) in [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Put, &mut item.put),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Delete, &mut item.delete),
            (HttpMethod::Patch, &mut item.patch),
            (HttpMethod::Head, &mut item.head),
            (HttpMethod::Options, &mut item.options),
            (HttpMethod::Trace, &mut item.trace),
        ] {
            if let Some(operation) = operation {
                complete(operation, &method, &full);
            }
        }
        doc.paths.paths.insert(full, item);
    }
    doc
}

fn complete(operation: &mut Operation, method: &HttpMethod, path: &str) {
    let public = operation.security.as_deref() == Some(&[SecurityRequirement::default()][..]);
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, response: Response| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| response.into());
    };
    add(
        "429",
        error("Too many requests from this address or user: wait `Retry-After` seconds.")
            .header("Retry-After", seconds_header())
            .build(),
    );
    if public {
        operation.security = Some(Vec::new());
        return;
    }

    let scope = required_scope(&http_method(method), path).ok();
    let mut security = vec![
        SecurityRequirement::new(SESSION, Vec::<String>::new()),
        SecurityRequirement::new(SUPABASE_JWT, Vec::<String>::new()),
    ];
    let note = match scope {
        Some(scope) => {
            security.push(SecurityRequirement::new(API_KEY, [scope]));
            format!("API keys need the `{scope}` scope.")
        }
        None => "Not with an API key: sign in (session cookie or Supabase token).".to_owned(),
    };
    operation.security = Some(security);
    operation.description = Some(match operation.description.take() {
        Some(text) if !text.is_empty() => format!("{text}\n\n{note}"),
        _ => note,
    });

    add(
        "401",
        error("No credentials, or they are not valid (expired session, bad token, revoked key).")
            .header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some("`Bearer`"))
                    .build(),
            )
            .build(),
    );
    add(
        "403",
        error(
            "`insufficient_scope`: the API key lacks the scope this needs; `forbidden`: a write \
             from another site's origin.",
        )
        .build(),
    );
    add(
        "503",
        error("`overloaded`: the server cannot look sessions up right now; retry after `Retry-After` seconds.")
            .header("Retry-After", seconds_header())
            .build(),
    );
    add(
        "500",
        error("Something failed on our side (`internal`); the cause is logged, never sent.")
            .build(),
    );
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.contains_key("application/json"));
    if json_body {
        add("400", error("The body is not well-formed JSON.").build());
        add("413", error("The body is larger than 64 KiB.").build());
        add(
            "415",
            error("The body is not sent as `Content-Type: application/json`.").build(),
        );
        add(
            "422",
            error("The body has the wrong shape, or a field is not valid (`field` names it).")
                .build(),
        );
    }
    if path.contains('{') {
        add(
            "404",
            error("No such resource of yours (ids of other users' resources, and ids that are not UUIDs, are 404 too).")
                .build(),
        );
    }
}

/// A response whose body is [`ErrorBody`].
pub fn error(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

fn seconds_header() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        )
        .description(Some("Seconds to wait before trying again."))
        .build()
}

fn http_method(method: &HttpMethod) -> http::Method {
    match method {
        HttpMethod::Get => http::Method::GET,
        HttpMethod::Put => http::Method::PUT,
        HttpMethod::Post => http::Method::POST,
        HttpMethod::Delete => http::Method::DELETE,
        HttpMethod::Patch => http::Method::PATCH,
        HttpMethod::Head => http::Method::HEAD,
        HttpMethod::Options => http::Method::OPTIONS,
        HttpMethod::Trace => http::Method::TRACE,
    }
}
