//! The REST API on a host's database whose own `public.leads` (owner column `owner_id`, set with
//! `LEADS_OWNER_COLUMN`) was adopted at start-up: the user's host leads are listed, leads created
//! through the API belong to the user in the host's column too, host values are left as they are.

use http::{Method, Request, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::helpers::{JWT_SECRET, TestApp, TestResponse, request, spawn_app_on};

/// The host's table before we ever ran: no `auth` schema yet (plain PostgreSQL), so its policy
/// reads the claims itself.
const HOST_LEADS: &str = r#"
CREATE TABLE public.leads (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id uuid NOT NULL,
  name text,
  phone text,
  status text NOT NULL DEFAULT 'open',
  deal_value numeric(12, 2),
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Host: owners read their leads" ON public.leads FOR SELECT
  USING (owner_id::text = current_setting('request.jwt.claims', true)::jsonb ->> 'sub');
"#;

fn token(sub: Uuid) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": sub.to_string(), "aud": "authenticated", "role": "authenticated",
                 "email": format!("{sub}@host.example"), "exp": exp }),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

async fn as_user(
    app: &TestApp,
    method: Method,
    path: &str,
    sub: Uuid,
    body: Option<Value>,
) -> TestResponse {
    let mut req: Request<axum::body::Body> =
        request(method, path, None, body.map(|b| b.to_string()));
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {}", token(sub)).parse().unwrap(),
    );
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    app.send(req).await
}

#[tokio::test]
async fn the_api_serves_an_adopted_host_leads_table_with_its_own_owner_column() {
    let url = store::test_support::fresh_database()
        .await
        .unwrap_or_else(|e| panic!("these tests need PostgreSQL: {e}"));
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(HOST_LEADS).execute(&mut conn).await.unwrap();
    let (ana, bob) = (Uuid::new_v4(), Uuid::new_v4());
    sqlx::query(
        "INSERT INTO public.leads (owner_id, name, phone, status, deal_value) VALUES \
         ($1, 'Maria Host', '+351911111111', 'negotiation', 1200.50), \
         ($2, 'Bob Lead', '+447700900123', 'open', NULL)",
    )
    .bind(ana)
    .bind(bob)
    .execute(&mut conn)
    .await
    .unwrap();

    let app = spawn_app_on(&url, &[("LEADS_OWNER_COLUMN", "owner_id")]).await;

    let listed = as_user(&app, Method::GET, "/api/leads", ana, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let leads = listed.json();
    let leads = leads.as_array().unwrap();
    assert_eq!(leads.len(), 1, "only Ana's lead: {leads:?}");
    assert_eq!(leads[0]["name"], "Maria Host");
    assert_eq!(leads[0]["status"], "new", "a host status reads as ours");

    let created = as_user(
        &app,
        Method::POST,
        "/api/leads",
        ana,
        Some(json!({"name": "Carla New", "phone": "+351933333333"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id: Uuid = created.json()["id"].as_str().unwrap().parse().unwrap();
    let owner: Uuid = sqlx::query_scalar("SELECT owner_id FROM public.leads WHERE id = $1")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(owner, ana, "the host's owner column names the user");

    let host_row: (String, Option<String>) = sqlx::query_as(
        "SELECT status, deal_value::text FROM public.leads WHERE name = 'Maria Host'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        host_row,
        ("negotiation".to_owned(), Some("1200.50".to_owned()))
    );
    let bobs = as_user(&app, Method::GET, "/api/leads", bob, None).await;
    assert_eq!(bobs.json().as_array().map(Vec::len), Some(1));
}
