//! The admin UI over HTTP, without a browser: sessions (login, signed cookie, logout, revoked
//! keys), tenant isolation on every page, escaping, and what the pages show. The browser tests
//! in tests/e2e drive the same pages in Chromium.

use ml_audit_core::auth::{KeyScope, issue_key};
use ml_audit_core::review::ReviewPolicy;
use ml_audit_server::ServerSettings;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{Backend, ON_DEMAND_SEALING, TestApp, event, with};

on_both_backends!(
    pages_without_a_session_send_to_the_login_page,
    logging_in_sets_a_signed_http_only_same_site_strict_cookie,
    unknown_revoked_and_ingest_keys_cannot_log_in,
    a_tampered_or_foreign_session_cookie_is_refused_and_cleared,
    a_session_works_on_every_replica_sharing_the_ledger_key,
    a_session_stops_working_when_its_key_is_revoked,
    logging_out_clears_the_cookie,
    a_tenant_key_sees_only_its_tenant_on_every_page,
    the_detail_page_marks_redactions_and_draws_the_attributions,
    everything_shown_is_escaped,
    the_list_filters_and_pages_with_cursors,
    bad_filters_are_reported_not_ignored,
    the_models_overview_actors_and_tenants_pages_count,
    outcomes_and_reviews_show_on_the_detail_list_and_models_pages,
);

/// Every page behind the login.
const PAGES: &[&str] = &["/", "/?window=30d", "/predictions", "/models", "/actors", "/tenants"];

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    body: String,
}

async fn fetch(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut request = client().get(app.url(path));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    read(request.send().await.unwrap()).await
}

async fn read(response: reqwest::Response) -> Page {
    let header = |name: reqwest::header::HeaderName| {
        response.headers().get(name).map(|value| value.to_str().unwrap().to_owned())
    };
    let (location, set_cookie) = (header(LOCATION), header(SET_COOKIE));
    Page { status: response.status(), location, set_cookie, body: response.text().await.unwrap() }
}

async fn post_login(app: &TestApp, key: &str, next: &str) -> Page {
    let body = format!("key={}&next={}", encode(key), encode(next));
    let request =
        client().post(app.url("/login")).header("content-type", "application/x-www-form-urlencoded").body(body);
    read(request.send().await.unwrap()).await
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Logs in and returns the `Cookie` header value of the session.
async fn login(app: &TestApp, key: &str) -> String {
    let page = post_login(app, key, "/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "login: {}", page.body);
    let set = page.set_cookie.expect("a session cookie");
    set.split(';').next().unwrap().to_owned()
}

async fn ok_page(app: &TestApp, path: &str, cookie: &str) -> String {
    let page = fetch(app, path, Some(cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    page.body
}

fn actor(tenant: &str, id: &str) -> Value {
    json!({"actor_type": "user", "actor_id": id, "tenant_id": tenant})
}

async fn record_for(app: &TestApp, tenant: &str, prediction_id: &str, outcome: &str) -> Value {
    let body = with(
        with(event("fraud"), "prediction_id", json!(prediction_id)),
        "actor",
        actor(tenant, &format!("{tenant}-user")),
    );
    app.record(&with(with(body, "decision_outcome", json!(outcome)), "confidence", json!(0.91))).await
}

/// How many prediction rows a list page shows.
fn rows(body: &str) -> usize {
    body.matches("<tr><td><a href=\"/predictions/").count()
}

/// The `href` of the "Older →" link, unescaped.
fn next_link(body: &str) -> Option<String> {
    let start = body.find("rel=\"next\" href=\"")? + "rel=\"next\" href=\"".len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].replace("&amp;", "&"))
}

async fn pages_without_a_session_send_to_the_login_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = record_for(&app, "acme", "p-1", "approved").await;
    let detail = format!("/predictions/{}", stored["id"].as_str().unwrap());
    for path in PAGES.iter().copied().chain([detail.as_str(), "/predictions?status=failed"]) {
        let page = fetch(&app, path, None).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        let location = page.location.unwrap();
        assert!(location.starts_with("/login"), "{path} → {location}");
        assert!(!page.body.contains("p-1"), "{path} shows nothing without a session");
        if path != "/" {
            assert!(location.contains("next=%2F"), "{path} → {location}: comes back after login");
        }
    }
    // The login page and its stylesheet answer without a session; the API is unchanged.
    let login = fetch(&app, "/login", None).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("name=\"key\"") && login.body.contains("type=\"password\""));
    assert_eq!(fetch(&app, "/ui/style.css", None).await.status, StatusCode::OK);
    assert_eq!(fetch(&app, "/api/v1/predictions", None).await.status, StatusCode::UNAUTHORIZED);
    // A garbage cookie is no session either.
    let page = fetch(&app, "/models", Some("mla_session=garbage")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

async fn logging_in_sets_a_signed_http_only_same_site_strict_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let page = post_login(&app, &app.admin_key, "/models").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/models"));
    let cookie = page.set_cookie.unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} missing in {cookie}");
    }
    assert!(!cookie.contains(&app.admin_key[4..]), "the cookie never holds the key's secret");
    let session = cookie.split(';').next().unwrap();
    assert!(ok_page(&app, "/models", session).await.contains("<h1>Models</h1>"));
    // `next` stays on this site.
    for evil in ["//evil.example/x", "https://evil.example/", "/\\evil.example"] {
        let page = post_login(&app, &app.admin_key, evil).await;
        assert_eq!(page.location.as_deref(), Some("/"), "next={evil}");
    }
    // Read keys may use the UI too.
    let read = app.key(KeyScope::Read, None).await;
    assert_eq!(post_login(&app, &read, "/").await.status, StatusCode::SEE_OTHER);
}

async fn unknown_revoked_and_ingest_keys_cannot_log_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let unknown = post_login(&app, "mla_0000", "/").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.set_cookie.is_none() && unknown.body.contains("unknown or revoked"));
    let empty = post_login(&app, "", "/").await;
    assert_eq!(empty.status, StatusCode::UNAUTHORIZED);
    let ingest = app.key(KeyScope::Ingest, None).await;
    let refused = post_login(&app, &ingest, "/").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.set_cookie.is_none() && refused.body.contains("ingest key"));
    let issued = issue_key("soon revoked", KeyScope::Admin, None);
    app.store.create_api_key(&issued).await.unwrap();
    app.store.revoke_api_key(issued.key.id).await.unwrap();
    assert_eq!(post_login(&app, &issued.secret, "/").await.status, StatusCode::UNAUTHORIZED);
}

async fn a_tampered_or_foreign_session_cookie_is_refused_and_cleared(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = login(&app, &app.admin_key).await;
    let token = session.strip_prefix("mla_session=").unwrap();
    let (key_id, rest) = token.split_once('.').unwrap();
    let (expiry, tag) = rest.split_once('.').unwrap();
    let read = issue_key("other", KeyScope::Read, None);
    app.store.create_api_key(&read).await.unwrap();
    let other = TestApp::spawn(backend).await;
    let tampered = [
        // Another key's id under this signature.
        format!("mla_session={}.{expiry}.{tag}", read.key.id.simple()),
        // A later expiry under this signature.
        format!("mla_session={key_id}.{}.{tag}", expiry.parse::<i64>().unwrap() + 86_400 * 365),
        // Another signature.
        format!("mla_session={key_id}.{expiry}.{}", "A".repeat(tag.len())),
        // Signed by another server (with another ledger key, so another session secret).
        login(&other, &other.admin_key).await,
    ];
    for cookie in tampered {
        let page = fetch(&app, "/predictions", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{cookie}");
        assert!(page.set_cookie.is_some_and(|c| c.contains("Max-Age=0")), "the bad cookie is cleared");
    }
    assert_eq!(fetch(&app, "/predictions", Some(&session)).await.status, StatusCode::OK);
}

async fn a_session_works_on_every_replica_sharing_the_ledger_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = login(&app, &app.admin_key).await;
    let replica = app.spawn_replica(ServerSettings::default()).await;
    let response =
        client().get(format!("http://{}/predictions", replica.address)).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "a session outlives its server and moves between replicas");
}

async fn a_session_stops_working_when_its_key_is_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issued = issue_key("analyst", KeyScope::Read, None);
    app.store.create_api_key(&issued).await.unwrap();
    let session = login(&app, &issued.secret).await;
    assert_eq!(fetch(&app, "/predictions", Some(&session)).await.status, StatusCode::OK);
    app.store.revoke_api_key(issued.key.id).await.unwrap();
    for path in PAGES {
        let page = fetch(&app, path, Some(&session)).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path} after revocation");
        assert!(page.location.unwrap().starts_with("/login"));
    }
}

async fn logging_out_clears_the_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = login(&app, &app.admin_key).await;
    let response = client().post(app.url("/logout")).header(COOKIE, &session).send().await.unwrap();
    let page = read(response).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/login"));
    let cleared = page.set_cookie.unwrap();
    assert!(cleared.starts_with("mla_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    // The browser drops the cookie; without it every page sends to the login page again.
    assert_eq!(fetch(&app, "/predictions", None).await.status, StatusCode::SEE_OTHER);
}

async fn a_tenant_key_sees_only_its_tenant_on_every_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let own = record_for(&app, "acme", "acme-p1", "approved").await;
    record_for(&app, "acme", "acme-p2", "flagged").await;
    let foreign = record_for(&app, "globex", "globex-p1", "flagged").await;
    app.seal().await;
    let acme = login(&app, &app.key(KeyScope::Read, Some("acme")).await).await;
    let admin = login(&app, &app.admin_key).await;

    let own_id = own["id"].as_str().unwrap();
    let foreign_id = foreign["id"].as_str().unwrap();
    let pages = [
        "/".to_owned(),
        "/?window=24h".into(),
        "/predictions".into(),
        "/predictions?tenant_id=globex".into(),
        "/predictions?q=globex-p1".into(),
        format!("/predictions?q={foreign_id}"),
        "/predictions?decision_outcome=flagged".into(),
        "/models".into(),
        "/actors".into(),
        "/actors?tenant=globex".into(),
        "/tenants".into(),
        format!("/predictions/{own_id}"),
    ];
    // Searches and filters echo what was asked for; nothing of globex's may be shown.
    let foreign_link = format!("/predictions/{foreign_id}\"");
    for path in &pages {
        let body = ok_page(&app, path, &acme).await;
        for leak in ["globex-user", ">globex<", ">globex-p1<", "data-tenant=\"globex\"", foreign_link.as_str()] {
            assert!(!body.contains(leak), "{path} shows {leak} of another tenant to a tenant key");
        }
        if (path.starts_with("/predictions?") && path.contains("globex")) || path.contains(foreign_id) {
            assert_eq!(rows(&body), 0, "{path}");
        }
    }
    for path in [format!("/predictions/{foreign_id}"), "/predictions/globex-p1".into()] {
        let page = fetch(&app, &path, Some(&acme)).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("globex"));
    }
    // What the tenant key does see, and that the admin sees everything.
    let list = ok_page(&app, "/predictions", &acme).await;
    assert_eq!(rows(&list), 2);
    assert!(list.contains("acme-p1") && list.contains("acme-p2"));
    assert!(ok_page(&app, "/", &acme).await.contains("<strong id=\"window-total\">2</strong>"));
    assert!(ok_page(&app, "/models", &acme).await.contains("<strong class=\"predictions\">2</strong>"));
    assert!(ok_page(&app, "/tenants", &acme).await.contains("data-tenant=\"acme\""));
    for path in ["/predictions", "/tenants", "/actors"] {
        assert!(ok_page(&app, path, &admin).await.contains("globex"), "{path} as admin");
    }
    assert!(ok_page(&app, "/", &admin).await.contains("<strong id=\"window-total\">3</strong>"));
    assert_eq!(fetch(&app, &format!("/predictions/{foreign_id}"), Some(&admin)).await.status, StatusCode::OK);
}

async fn the_detail_page_marks_redactions_and_draws_the_attributions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({
        "model_name": "fraud_detector", "model_version": "3.2.0", "prediction_id": "txn-42",
        "features": {"age": 42, "customer": {"email": "jane@example.com", "phone": "+1 415 555 0134"},
                     "note": "write to bob@example.org"},
        "output": {"score": 0.93}, "decision_outcome": "flagged", "confidence": 0.93, "latency_ms": 12.5,
        "trace_id": "trace-abc", "metadata": {"channel": "web"},
        "actor": {"actor_type": "service", "actor_id": "checkout-api", "tenant_id": "acme", "ip_address": "203.0.113.7"},
        "explanation": {"method": "shap", "method_version": "0.46.0",
                        "payload": {"income": -0.41, "age": 0.12, "velocity": 0.3},
                        "summary_text": "High velocity raised the score."},
    });
    let stored = app.record(&body).await;
    let session = login(&app, &app.admin_key).await;
    let path = format!("/predictions/{}", stored["id"].as_str().unwrap());
    let page = ok_page(&app, &path, &session).await;
    // The same page by prediction_id, but for its "who has seen this" panel, which now lists the
    // first view.
    let before_panel = |page: &str| page.split(r#"<section id="seen""#).next().unwrap().to_owned();
    let again = ok_page(&app, "/predictions/txn-42", &session).await;
    assert_eq!(before_panel(&again), before_panel(&page), "by prediction_id too");
    assert!(again.contains("Who has seen this") && page.contains("Who has seen this"));

    for shown in [
        "fraud_detector 3.2.0",
        "service:checkout-api",
        "acme",
        "203.0.113.7",
        "flagged",
        "0.930",
        "12.5 ms",
        "trace-abc",
        "High velocity raised the score.",
    ] {
        assert!(page.contains(shown), "{shown} is shown");
    }
    // Masked paths are marked; the raw values are nowhere.
    for masked in ["$.customer.email", "$.customer.phone", "$.note"] {
        assert!(page.contains(&format!("<tr class=\"redacted\" data-path=\"{masked}\">")), "{masked} is marked");
    }
    let age = &page[page.find("data-path=\"$.age\"").expect("the age row") - 30..][..60];
    assert!(!age.contains("redacted"), "an unmasked path is not marked: {age}");
    assert!(!page.contains("jane@example.com") && !page.contains("bob@example.org") && !page.contains("555 0134"));
    // The attribution chart: one bar per feature, largest magnitude first, signed colours.
    let chart = &page[page.find("<svg class=\"chart attribution-chart\"").expect("an attribution chart")..];
    let order: Vec<&str> = chart.match_indices("data-feature=\"").map(|(i, m)| &chart[i + m.len()..][..3]).collect();
    assert_eq!(order, ["inc", "vel", "age"]);
    assert!(chart.contains("class=\"bar neg\"") && chart.contains("fill=\"#1D4ED8\""));
    assert!(chart.contains("class=\"bar pos\"") && chart.contains("fill=\"#C2410C\""));
    assert_eq!(page.contains("Not sealed yet"), !backend.seals_at_commit(), "sealed at commit on SQLite only");
    assert!(!page.contains("Earlier explanation revisions"));

    // A second revision: the first is listed as earlier; sealing shows the ledger entry.
    let attached = app
        .post(
            "/api/v1/predictions/txn-42/explanation",
            &app.admin_key,
            &json!({"method": "lime", "payload": {"age": 0.5}, "summary_text": "Recomputed."}),
        )
        .await;
    assert_eq!(attached.status(), StatusCode::CREATED);
    let sealed = app.post("/api/v1/ledger/checkpoint", &app.admin_key, &json!({})).await;
    assert_eq!(sealed.status(), StatusCode::CREATED);
    let page = ok_page(&app, &path, &session).await;
    assert!(page.contains("Earlier explanation revisions") && page.contains("Revision 1"));
    assert!(page.contains("Recomputed.") && page.contains("revision 2 of 2"));
    let shown: Value = app
        .get(&format!("/api/v1/predictions/{}", stored["id"].as_str().unwrap()), &app.admin_key)
        .await
        .json()
        .await
        .unwrap();
    let leaf = shown["ledger"]["leaf_hash"].as_str().unwrap();
    assert!(page.contains(&format!("<dd id=\"ledger-seq\">{}</dd>", shown["ledger"]["seq"])), "the ledger seq");
    assert!(page.contains(leaf), "the leaf hash");
}

async fn everything_shown_is_escaped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({
        "model_name": "<b>model</b>", "model_version": "1\"><script>alert(1)</script>",
        "prediction_id": "<script>alert(2)</script>",
        "features": {"<img src=x onerror=alert(3)>": "\"><script>alert(4)</script>"},
        "output": {"html": "</pre><script>alert(5)</script>"}, "decision_outcome": "<i>flagged</i>",
        "actor": {"actor_type": "user", "actor_id": "<svg onload=alert(6)>", "tenant_id": "t<&>"},
        "explanation": {"method": "<u>shap</u>", "payload": {"<script>alert(7)</script>": 0.5}, "summary_text": "<script>alert(8)</script>"},
    });
    let stored = app.record(&body).await;
    let session = login(&app, &app.admin_key).await;
    let detail = format!("/predictions/{}", stored["id"].as_str().unwrap());
    for path in [detail.as_str(), "/predictions", "/models", "/actors", "/tenants", "/"] {
        let page = ok_page(&app, path, &session).await;
        for raw in ["<script>", "<img src", "<svg onload", "<b>model", "<i>flagged", "<u>shap", "t<&>"] {
            assert!(!page.contains(raw), "{path} contains unescaped {raw}");
        }
    }
    let page = ok_page(&app, &detail, &session).await;
    assert!(page.contains("&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert!(page.contains("&lt;script&gt;alert(8)&lt;/script&gt;"));
}

async fn the_list_filters_and_pages_with_cursors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..7 {
        let model = if i % 2 == 0 { "even" } else { "odd" };
        let body = with(
            with(event(model), "prediction_id", json!(format!("p-{i}"))),
            "timestamp",
            json!(format!("2026-11-2{}T08:00:00Z", i + 1)),
        );
        app.record(&body).await;
    }
    let session = login(&app, &app.admin_key).await;
    assert_eq!(rows(&ok_page(&app, "/predictions", &session).await), 7);
    // Empty form fields are no filters; the others are the API's.
    let filtered = ok_page(&app, "/predictions?q=&model_name=even&actor_id=&has_explanation=&limit=2", &session).await;
    assert_eq!(rows(&filtered), 2);
    assert!(filtered.contains("p-6") && filtered.contains("p-4"), "newest first");
    let shown = |page: &str| {
        let mut found: Vec<(usize, String)> =
            (0..7).filter_map(|i| page.find(&format!(">p-{i}<")).map(|at| (at, format!("p-{i}")))).collect();
        found.sort();
        found.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };
    let mut pages = vec![shown(&filtered)];
    let mut next = next_link(&filtered);
    while let Some(link) = next {
        assert!(link.contains("cursor=") && link.contains("model_name=even"), "{link}");
        let page = ok_page(&app, &link, &session).await;
        pages.push(shown(&page));
        next = next_link(&page);
    }
    assert_eq!(pages, [vec!["p-6", "p-4"], vec!["p-2", "p-0"]], "newest first, each once");
    // Time inputs from the form (no zone) are UTC; the search takes a prediction_id.
    let window = ok_page(&app, "/predictions?time_from=2026-11-23T00:00&time_to=2026-11-25T00:00", &session).await;
    assert_eq!(rows(&window), 2, "p-2 and p-3");
    let search = ok_page(&app, "/predictions?q=p-5", &session).await;
    assert_eq!(rows(&search), 1);
    assert!(search.contains(">p-5<"));
}

async fn bad_filters_are_reported_not_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = login(&app, &app.admin_key).await;
    for (query, field) in [
        ("min_confidence=2", "min_confidence"),
        ("status=ok", "status"),
        ("time_from=yesterday", "time_from"),
        ("colour=blue", "colour"),
        ("limit=0", "limit"),
    ] {
        let page = fetch(&app, &format!("/predictions?{query}"), Some(&session)).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(page.body.contains("role=\"alert\"") && page.body.contains(field), "{query}: {}", page.body);
    }
}

async fn the_models_overview_actors_and_tenants_pages_count(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (i, (tenant, outcome, confidence)) in [
        ("acme", "approved", 0.95),
        ("acme", "flagged", 0.85),
        ("globex", "approved", 0.05),
        ("globex", "approved", 1.0),
    ]
    .into_iter()
    .enumerate()
    {
        let body = with(event("fraud"), "actor", actor(tenant, &format!("u{}", i % 2)));
        let body = with(with(body, "decision_outcome", json!(outcome)), "confidence", json!(confidence));
        app.record(&body).await;
    }
    app.record(&with(event("fraud"), "status", json!("failed"))).await; // no actor, no confidence
    let session = login(&app, &app.admin_key).await;
    let models = ok_page(&app, "/models", &session).await;
    let before_sealing = if backend.seals_at_commit() { 5 } else { 0 };
    let shown = format!("<strong class=\"predictions\">{before_sealing}</strong>");
    assert!(models.contains(&shown), "the totals count sealed predictions only");
    app.seal().await;

    let models = ok_page(&app, "/models", &session).await;
    assert!(models.contains("<strong class=\"predictions\">5</strong>"));
    assert!(models.contains("1 failed") && models.contains("1 without confidence"));
    // Bins: 0.05 → 0, 0.85 → 8, 0.95 and 1.0 → 9.
    let counts: Vec<&str> = models.match_indices("data-count=\"").map(|(i, m)| &models[i + m.len()..][..1]).collect();
    assert_eq!(counts, ["1", "0", "0", "0", "0", "0", "0", "0", "1", "2"]);
    assert!(models.contains("approved") && models.contains("60%"));

    let overview = ok_page(&app, "/", &session).await;
    assert!(overview.contains("<strong id=\"window-total\">5</strong>"));
    assert!(overview.contains("data-label=\"fraud 1.0.0\""));

    let tenants = ok_page(&app, "/tenants", &session).await;
    for tenant in ["acme", "globex", ""] {
        assert!(tenants.contains(&format!("data-tenant=\"{tenant}\"")), "tenant {tenant:?}");
    }
    let actors = ok_page(&app, "/actors", &session).await;
    assert_eq!(actors.matches("<tr><td>").count(), 4, "u0 and u1 in two tenants");
}

/// Posts an outcome or a review of `reference` with the admin key, expecting 201.
async fn follow_up(app: &TestApp, reference: &str, kind: &str, body: Value) {
    let response = app.post(&format!("/api/v1/predictions/{reference}/{kind}"), &app.admin_key, &body).await;
    let status = response.status();
    assert_eq!(status, StatusCode::CREATED, "{kind} {body}: {}", response.text().await.unwrap());
}

/// The `data-…` attribute of the element with `id`.
fn attribute<'a>(body: &'a str, id: &str, name: &str) -> &'a str {
    let start = body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}"));
    let tag = &body[body[..start].rfind('<').unwrap()..];
    let tag = &tag[..tag.find('>').unwrap()];
    let at = tag.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("no {name} in {tag}")) + name.len() + 3;
    &tag[at..at + tag[at..].find('"').unwrap()]
}

async fn outcomes_and_reviews_show_on_the_detail_list_and_models_pages(backend: Backend) {
    let settings = ServerSettings {
        review: ReviewPolicy { two_person_models: ["credit".to_owned()].into() },
        ledger_schedule: ON_DEMAND_SEALING,
        ..ServerSettings::default()
    };
    let app = TestApp::spawn_with(backend, settings).await;
    let at = |body: Value| with(body, "timestamp", json!("2026-11-20T10:00:00Z"));
    let fraud = app
        .record(&at(with(with(event("fraud"), "prediction_id", json!("f-1")), "decision_outcome", json!("flagged"))))
        .await;
    let fraud_id = fraud["id"].as_str().unwrap().to_owned();
    app.record(&at(with(
        with(with(event("fraud"), "prediction_id", json!("f-2")), "decision_outcome", json!("flagged")),
        "actor",
        actor("acme", "u-2"),
    )))
    .await;
    let credit = at(with(with(event("credit"), "prediction_id", json!("c-1")), "decision_outcome", json!("approve")));
    let credit = app.record(&with(credit, "actor", actor("acme", "u-3"))).await;
    let credit_id = credit["id"].as_str().unwrap().to_owned();

    // f-1: an outcome later corrected, and an override by a reviewer (whose words are escaped).
    follow_up(
        &app,
        "f-1",
        "outcomes",
        json!({"label": "legit", "source": "chargeback", "observed_at": "2026-11-22T10:00:00Z"}),
    )
    .await;
    follow_up(
        &app,
        "f-1",
        "outcomes",
        json!({"label": "flagged", "source": "appeal", "observed_at": "2026-11-24T10:00:00Z"}),
    )
    .await;
    let comment = "Checked <b>by hand</b>";
    follow_up(
        &app,
        "f-1",
        "reviews",
        json!({"reviewer": {"reviewer_id": "u-1", "name": "Ana"}, "action": "override",
        "final_decision": "legit", "reason_codes": ["R-7"], "comment": comment, "reviewed_at": "2026-11-25T09:00:00Z"}),
    )
    .await;
    // f-2 (tenant acme): the model was wrong.
    follow_up(
        &app,
        "f-2",
        "outcomes",
        json!({"label": "legit", "source": "chargeback", "observed_at": "2026-11-23T10:00:00Z"}),
    )
    .await;
    // c-1: an override waiting for a second reviewer (the two-person rule covers credit).
    follow_up(
        &app,
        "c-1",
        "reviews",
        json!({"reviewer": {"reviewer_id": "u-1"}, "action": "override", "final_decision": "decline"}),
    )
    .await;
    app.seal().await;
    let admin = login(&app, &app.admin_key).await;

    // The detail page: the final decision, and the timeline in time order.
    let detail = ok_page(&app, &format!("/predictions/{fraud_id}"), &admin).await;
    assert_eq!(attribute(&detail, "final-decision", "data-review-state"), "final");
    assert_eq!(attribute(&detail, "final-decision", "data-overridden"), "true");
    assert!(detail.contains("<strong id=\"final-decision-value\">legit</strong>"), "{detail}");
    let timeline = &detail[detail.find("id=\"timeline\"").unwrap()..];
    let timeline = &timeline[..timeline.find("</section>").unwrap()];
    let kinds: Vec<&str> = timeline
        .match_indices("data-kind=\"")
        .map(|(i, m)| &timeline[i + m.len()..][..timeline[i + m.len()..].find('"').unwrap()])
        .collect();
    assert_eq!(kinds, ["prediction", "outcome", "outcome", "review"]);
    assert_eq!(timeline.matches("data-current=\"true\"").count(), 1);
    let current = timeline.find("data-current=\"true\"").unwrap();
    assert!(
        timeline[current..].starts_with("data-current=\"true\"><span class=\"when\"><time datetime=\"2026-11-24"),
        "the later observation is current"
    );
    assert!(timeline.contains("superseded") && timeline.contains("source appeal") && timeline.contains("R-7"));
    assert!(timeline.contains("<span class=\"reviewer\">Ana (u-1)</span>"));
    assert!(
        timeline.contains("Checked &lt;b&gt;by hand&lt;/b&gt;") && !timeline.contains(comment),
        "the comment is escaped"
    );
    let pending = ok_page(&app, &format!("/predictions/{credit_id}"), &admin).await;
    assert_eq!(attribute(&pending, "final-decision", "data-review-state"), "pending_second");
    assert_eq!(attribute(&pending, "final-decision", "data-overridden"), "false");
    assert!(pending.contains("<strong id=\"final-decision-value\">approve</strong>"));
    assert!(pending.contains("pending second review") && pending.contains("waits for a second reviewer"));

    // The list's new filters, kept in the form, and its final-decision column.
    for (query, expected) in [
        ("review_state=pending_second", vec!["c-1"]),
        ("overridden=true", vec!["f-1"]),
        ("reviewed=true", vec!["c-1", "f-1"]),
        ("has_outcome=true", vec!["f-1", "f-2"]),
        ("has_outcome=false", vec!["c-1"]),
        ("outcome_label=legit", vec!["f-2"]),
        ("final_decision=legit", vec!["f-1"]),
    ] {
        let list = ok_page(&app, &format!("/predictions?{query}"), &admin).await;
        let mut shown: Vec<&str> =
            ["c-1", "f-1", "f-2"].into_iter().filter(|id| list.contains(&format!(">{id}</a>"))).collect();
        shown.sort_unstable();
        assert_eq!(shown, expected, "{query}");
        assert_eq!(rows(&list), expected.len(), "{query}");
        let (name, value) = query.split_once('=').unwrap();
        assert!(
            list.contains(&format!("<option value=\"{value}\" selected>"))
                || list.contains(&format!("name=\"{name}\" value=\"{value}\"")),
            "the form keeps {query}"
        );
    }
    let list = ok_page(&app, "/predictions?review_state=pending_second", &admin).await;
    assert!(list.contains("data-review-state=\"pending_second\"") && list.contains("pending 2nd"));

    // The models page: fraud's quality over every tenant, then over acme's only.
    let models = ok_page(&app, "/models", &admin).await;
    assert!(models.contains("data-predicted=\"flagged\" data-actual=\"legit\" data-count=\"1\""), "{models}");
    assert!(models.contains("data-predicted=\"flagged\" data-actual=\"flagged\" data-count=\"1\""));
    assert!(models.contains("class=\"accuracy\" data-value=\"0.5000\""));
    assert!(models.contains("data-value=\"0.500000\" data-overridden=\"1\""), "fraud: 1 of 2 overridden");
    assert!(models.contains("svg class=\"chart accuracy-chart\""));
    let acme = login(&app, &app.key(KeyScope::Read, Some("acme")).await).await;
    let models = ok_page(&app, "/models", &acme).await;
    assert!(models.contains("class=\"accuracy\" data-value=\"0.0000\""), "acme's fraud prediction was wrong");
    assert!(models.contains("data-value=\"0.000000\" data-overridden=\"0\""), "f-1 is not acme's");
    assert!(!models.contains("data-actual=\"flagged\" data-count=\"1\""));
    let list = ok_page(&app, "/predictions?overridden=true", &acme).await;
    assert_eq!(rows(&list), 0);
}
