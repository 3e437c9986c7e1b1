//! Property-based fuzzing of the whole API from its own OpenAPI document, with schemathesis
//! (PyPI): every operation gets generated and mutated requests as an admin, and none may
//! answer with a server error. The admin it uses must still be able to sign in afterwards.

use dhis2_double::Version;
use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use dhis2gw_test_support::*;

#[tokio::test]
async fn generated_requests_to_every_operation_never_get_a_server_error() {
    let Ok(schemathesis) = std::env::var("DHIS2GW_TEST_SCHEMATHESIS") else {
        panic!("DHIS2GW_TEST_SCHEMATHESIS is not set: packaging/dev.sh test installs schemathesis and sets it");
    };
    let p = pipeline(Version::V2_40, |_| {}).await;
    // A name the fuzzer cannot guess, so its sign-in attempts never lock this admin out.
    let username = format!("fuzz-admin-{}", uuid::Uuid::new_v4().simple());
    let admin = p.app.user(&username, Role::Admin).await;
    let long_lived = p.app.sign_in(&username, PASSWORD).await.token;
    let report = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(&schemathesis)
        .arg("run")
        .arg(p.app.url("/api-docs/openapi.json"))
        .args(["--url", &p.app.address])
        .args(["--header", &format!("Authorization: Bearer {long_lived}")])
        .args(["--checks", "not_a_server_error"])
        .args(["--max-examples", "8", "--seed", "20261204", "--generation-deterministic", "--no-shrink"])
        .args(["--phases", "examples,coverage,fuzzing"])
        // One worker: with two, hypothesis describes strategies from two threads at once and
        // CPython 3.11's ast.parse can fail with "AST constructor recursion depth mismatch"
        // (CPython gh-106905), a runtime error of the fuzzer's own, not a finding.
        .args(["--request-timeout", "30", "--workers", "1"])
        // What would end the admin's own account or sessions is not the fuzzer's to try.
        .args(["--exclude-path-regex", "^/api/v2/users/\\{uid\\}$|signOut"])
        .args(["--exclude-deprecated"])
        .arg("--no-color")
        .current_dir(report.path())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{schemathesis}: {e}"));
    let printed = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found server errors:\n{printed}");
    // Its summary, for the test log: operations and cases run.
    eprintln!(
        "{}",
        printed.lines().filter(|l| l.contains("passed") || l.contains("Operations")).collect::<Vec<_>>().join("\n")
    );
    // The admin is intact: it still signs in and works.
    let again = p.app.sign_in(&username, PASSWORD).await;
    let me = p.app.request(Method::GET, "/api/v2/me").bearer_auth(&again.token).send().await.unwrap();
    assert_eq!(expect_json(me, StatusCode::OK).await["uid"], json!(admin.uid));
}
