//! The OpenAPI document and the router list the same routes, and every listed route exists.

use std::collections::BTreeSet;

use job_importer::http::ROUTES;
use serde_json::Value;

use crate::helpers::*;

fn documented() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(job_importer::http::routes::openapi::DOCUMENT).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_every_documented_route_is_routed() {
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(routed, documented(), "ROUTES and docs/openapi.json differ");
}

#[tokio::test]
async fn every_route_in_the_table_is_served_under_its_path() {
    let app = TestApp::spawn().await;
    for r in ROUTES {
        let m = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
        let resp = app
            .http
            .request(m, app.url(&r.path.replace("{id}", "probe")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains("no route") && !text.contains("dashboard is not built"),
            "{} {} is not routed ({status}): {text}",
            r.method,
            r.path
        );
    }
    let (s, doc) = get_json(&app, "/api/openapi.json").await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    app.cleanup().await;
}
