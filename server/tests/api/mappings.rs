//! Mappings: CRUD, filters, CSV and Excel import with per-row reports, export and template.

use dhis2gw_wire::Role;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

pub async fn upload(app: &TestApp, jwt: &str, kind: &str, bytes: Vec<u8>, query: &str) -> reqwest::Response {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(format!("mappings.{kind}")));
    app.request(Method::POST, &format!("/api/v2/mappings/import/{kind}{query}"))
        .bearer_auth(jwt)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn actions(report: &Value) -> Vec<String> {
    report["rows"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn csv_import_reports_each_row_and_upserts() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let csv = "Code,DataElement,category_option_combo,what,source_orgunit,destination_orgunit\n\
               tests,DeNumber001,Male000000a,de,,\n\
               positives,DeInteger01,,,,\n\
               bad,not-a-uid,,de,,\n\
               tests,DeNumber001,,de,,\n\
               FAC001,,,ou,FAC001,OrgFac00001\n";
    let dry = expect_json(upload(&app, &admin.jwt, "csv", csv.into(), "?dryRun=true").await, StatusCode::OK).await;
    assert_eq!(actions(&dry), ["created", "created", "rejected", "rejected", "created"]);
    assert!(dry["rows"][2]["errors"][0].as_str().unwrap().starts_with("dataElement"));
    assert!(dry["rows"][3]["errors"][0].as_str().unwrap().contains("duplicate of row 2"));
    let list = app.request(Method::GET, "/api/v2/mappings").bearer_auth(&admin.jwt).send().await.unwrap();
    assert_eq!(expect_json(list, StatusCode::OK).await["total"], 0, "a dry run writes nothing");

    let real = expect_json(upload(&app, &admin.jwt, "csv", csv.into(), "").await, StatusCode::OK).await;
    assert_eq!(
        (real["created"].as_u64(), real["rejected"].as_u64(), real["total"].as_u64()),
        (Some(3), Some(2), Some(5))
    );
    let changed = "code,dataelement,category_option_combo\ntests,DeNumber001,Female00000\npositives,DeInteger01,\n";
    let again = expect_json(upload(&app, &admin.jwt, "csv", changed.into(), "").await, StatusCode::OK).await;
    assert_eq!(actions(&again), ["updated", "unchanged"]);
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'mapping.import'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(audit, 2);
}

#[tokio::test]
async fn a_large_file_is_compared_and_written_in_parts_each_row_reported_in_place() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    // More rows than one statement takes (10,000), a rejected one early to shift the rest.
    let file = |changed: &[usize]| {
        let mut csv = String::from("code,dataelement,category_option_combo\n");
        for row in 0..20_500 {
            let coc = if changed.contains(&row) { "Female00000" } else { "Male000000a" };
            let element = if row == 7 { "not-a-uid" } else { "DeNumber001" };
            csv.push_str(&format!("code{row},{element},{coc}\n"));
        }
        csv.into_bytes()
    };
    let first = expect_json(upload(&app, &admin.jwt, "csv", file(&[]), "").await, StatusCode::OK).await;
    assert_eq!((first["created"].as_u64(), first["rejected"].as_u64()), (Some(20_499), Some(1)));
    let changed = [3, 10_002, 10_007, 20_499];
    let again = expect_json(upload(&app, &admin.jwt, "csv", file(&changed), "").await, StatusCode::OK).await;
    let actions = actions(&again);
    for (row, action) in actions.iter().enumerate() {
        let expected = match row {
            7 => "rejected",
            _ if changed.contains(&row) => "updated",
            _ => "unchanged",
        };
        assert_eq!(action, expected, "row {}", row + 2);
    }
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dhis2_mappings WHERE category_option_combo = 'Female00000'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, 4);
}

#[tokio::test]
async fn excel_export_reimports_unchanged_and_the_template_has_the_header() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let csv = "code,what,dataelement,category_option_combo,source_name,instance_name,destination_orgunit,source_orgunit\n\
               007,de,DeNumber001,Male000000a,emr,default,,\n\
               FAC001,ou,,,default,default,OrgFac00001,FAC001\n";
    expect_json(upload(&app, &admin.jwt, "csv", csv.into(), "").await, StatusCode::OK).await;
    let export =
        app.request(Method::GET, "/api/v2/mappings/export/excel").bearer_auth(&admin.jwt).send().await.unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.headers()["content-disposition"].to_str().unwrap().contains("dhis2_mappings.xlsx"));
    let bytes = export.bytes().await.unwrap().to_vec();
    let report = expect_json(upload(&app, &admin.jwt, "excel", bytes, "").await, StatusCode::OK).await;
    assert_eq!(actions(&report), ["unchanged", "unchanged"], "{report:#}");
    let template = app.request(Method::GET, "/api/v2/mappings/template").bearer_auth(&admin.jwt).send().await.unwrap();
    let template = template.bytes().await.unwrap().to_vec();
    let empty = expect_json(upload(&app, &admin.jwt, "excel", template, "").await, StatusCode::OK).await;
    assert_eq!(empty["total"], 0);
}

#[tokio::test]
async fn broken_files_and_missing_fields_are_400_naming_the_problem() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("csv", b"code\n\xff\xfe\xfd\n".to_vec(), "UTF-8"),
        ("csv", b"name,value\na,b\n".to_vec(), "code"),
        ("excel", b"this is not a workbook".to_vec(), "Excel"),
        ("excel", b"PK\x03\x04corrupt".to_vec(), "corrupt"),
    ];
    for (kind, bytes, expected) in cases {
        let body = expect_error(upload(&app, &admin.jwt, kind, bytes, "").await, StatusCode::BAD_REQUEST).await;
        assert!(details(&body)[0].contains(expected), "{kind}: {body}");
    }
    let wrong_field = Form::new().part("document", Part::bytes(b"code\nx\n".to_vec()));
    let r = app
        .request(Method::POST, "/api/v2/mappings/import/csv")
        .bearer_auth(&admin.jwt)
        .multipart(wrong_field)
        .send()
        .await
        .unwrap();
    let body = expect_error(r, StatusCode::BAD_REQUEST).await;
    assert!(details(&body)[0].contains("No file is received"));
    let not_multipart = app
        .request(Method::POST, "/api/v2/mappings/import/csv")
        .bearer_auth(&admin.jwt)
        .body("code\nx")
        .send()
        .await
        .unwrap();
    expect_error(not_multipart, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn crud_filters_and_roles() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let viewer = app.user("viewer", Role::Viewer).await;
    let partner = app.user("partner", Role::Partner).await;
    let create = |body: Value| app.request(Method::POST, "/api/v2/mappings").bearer_auth(&admin.jwt).json(&body).send();
    let m = expect_json(
        create(json!({"code": "a1", "dataElement": "DeNumber001", "dataSet": "pBOMPrpg1QY", "name": "Tests"}))
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        (m["what"].as_str(), m["sourceName"].as_str(), m["instanceName"].as_str()),
        (Some("de"), Some("default"), Some("default"))
    );
    expect_json(
        create(json!({"code": "b2", "dataElement": "DeInteger01", "sourceName": "lab"})).await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let dup =
        expect_error(create(json!({"code": "a1", "dataElement": "DeInteger01"})).await.unwrap(), StatusCode::CONFLICT)
            .await;
    assert!(dup["error"].as_str().unwrap().contains("code"));
    let bad = expect_error(
        create(json!({"code": "", "dataElement": "x", "what": "xx"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(details(&bad).len(), 2, "{bad}");

    let list =
        |query: &str, jwt: &str| app.request(Method::GET, &format!("/api/v2/mappings?{query}")).bearer_auth(jwt).send();
    assert_eq!(expect_json(list("source=lab", &viewer.jwt).await.unwrap(), StatusCode::OK).await["total"], 1);
    assert_eq!(expect_json(list("dataSet=pBOMPrpg1QY", &viewer.jwt).await.unwrap(), StatusCode::OK).await["total"], 1);
    assert_eq!(expect_json(list("name=TEST", &viewer.jwt).await.unwrap(), StatusCode::OK).await["total"], 1);
    assert_eq!(expect_json(list("code=%25", &viewer.jwt).await.unwrap(), StatusCode::OK).await["total"], 0);
    expect_error(list("", &partner.jwt).await.unwrap(), StatusCode::FORBIDDEN).await;
    let viewer_create = app
        .request(Method::POST, "/api/v2/mappings")
        .bearer_auth(&viewer.jwt)
        .json(&json!({"code": "z", "dataElement": "DeNumber001"}))
        .send()
        .await
        .unwrap();
    expect_error(viewer_create, StatusCode::FORBIDDEN).await;

    let id = m["id"].as_i64().unwrap();
    let put = app
        .request(Method::PUT, &format!("/api/v2/mappings/{id}"))
        .bearer_auth(&admin.jwt)
        .json(&json!({"code": "a1", "dataElement": "DeNumber001", "categoryOptionCombo": "Male000000a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(put, StatusCode::OK).await["categoryOptionCombo"], "Male000000a");
    let del =
        app.request(Method::DELETE, &format!("/api/v2/mappings/{id}")).bearer_auth(&admin.jwt).send().await.unwrap();
    expect_json(del, StatusCode::OK).await;
    let gone =
        app.request(Method::GET, &format!("/api/v2/mappings/{id}")).bearer_auth(&admin.jwt).send().await.unwrap();
    expect_error(gone, StatusCode::NOT_FOUND).await;
}
