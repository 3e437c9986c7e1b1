//! Intake in standards: ADX messages and FHIR MeasureReports become ordinary submissions that
//! reach DHIS2 exactly as the same data posted as JSON does, and each sender hears of
//! problems in its own format (the gateway's JSON naming lines for ADX, `OperationOutcome`
//! with FHIRPath expressions for FHIR).

use std::time::Duration;

use dhis2_double::{Version, fixture};
use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

/// A pipeline whose DHIS2 metadata and hierarchy are synced (data set and org-unit codes
/// resolve, the data set's period type is known), with mappings for the standards' keys.
async fn standards_pipeline() -> Pipeline {
    let p = pipeline(Version::V2_40, |_| {}).await;
    expect_json(p.sync_metadata().await, StatusCode::OK).await;
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    for (code, element, coc) in [
        ("HIV_TESTS[SEX=M]", fixture::DE_HIV_TESTS, Some(fixture::COC_MALE)),
        ("HIV_TESTS[SEX=F]", fixture::DE_HIV_TESTS, Some(fixture::COC_FEMALE)),
        ("HIV_POSITIVES", fixture::DE_POSITIVES, None),
        ("HIV_TESTS.MALE", fixture::DE_HIV_TESTS, Some(fixture::COC_MALE)),
        ("HIV_TESTS.FEMALE", fixture::DE_HIV_TESTS, Some(fixture::COC_FEMALE)),
    ] {
        let body = json!({"code": code, "dataElement": element, "categoryOptionCombo": coc, "dataSet": fixture::DS_MONTHLY_HIV});
        expect_json(p.call(Method::POST, "/api/v2/mappings", Some(body)).await, StatusCode::CREATED).await;
    }
    p
}

/// One month of Facility 1's HIV data as an ADX message.
fn adx_month(period: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<adx xmlns="urn:ihe:qrph:adx:2015" exported="2024-02-03T10:00:00Z">
  <group dataSet="{ds}" orgUnit="{ou}" period="{period}">
    <dataValue dataElement="HIV_TESTS" SEX="M" value="10"/>
    <dataValue dataElement="HIV_TESTS" SEX="F" value="12"/>
    <dataValue dataElement="HIV_POSITIVES" value="3"/>
  </group>
</adx>
"#,
        ds = fixture::DS_MONTHLY_HIV_CODE,
        ou = fixture::OU_FACILITY_1_CODE,
    )
}

/// The same month as a FHIR MeasureReport: a total, and tests stratified by sex.
fn measure_report(start: &str, end: &str) -> Value {
    let coding = |code: &str| json!({"coding": [{"system": "urn:example:codes", "code": code}]});
    json!({
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": format!("http://moh.example.org/Measure/{}", fixture::DS_MONTHLY_HIV_CODE),
        "subject": {"identifier": {"system": "urn:example:facilities", "value": fixture::OU_FACILITY_1_CODE}},
        "period": {"start": start, "end": end},
        "group": [
            {"code": coding("HIV_TESTS"), "stratifier": [{"code": [coding("SEX")], "stratum": [
                {"value": coding("M"), "measureScore": {"value": 10}},
                {"value": coding("F"), "measureScore": {"value": 12}}
            ]}]},
            {"code": coding("HIV_POSITIVES"), "measureScore": {"value": 3}}
        ]
    })
}

async fn post_adx(p: &Pipeline, xml: &str, query: &str) -> reqwest::Response {
    p.app
        .request(Method::POST, &format!("/api/v2/adx{query}"))
        .header("Authorization", format!("Token {}", p.partner_token))
        .header("Content-Type", "application/adx+xml")
        .body(xml.to_string())
        .send()
        .await
        .unwrap()
}

/// The same month as rows of a spreadsheet, in the column order of one partner's export.
fn data_rows(period: &str) -> String {
    let ou = fixture::OU_FACILITY_1_CODE;
    format!(
        "Org Unit,Period,Data Element,Category Option Combo,Value\n\
         {ou},{period},HIV_TESTS,MALE,10\n{ou},{period},HIV_TESTS,FEMALE,12\n{ou},{period},HIV_POSITIVES,,3\n"
    )
}

/// Uploads a data file as the console does (multipart field `file`) to `path`.
async fn upload(p: &Pipeline, path: &str, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    upload_as(p, &p.partner_token, path, name, bytes).await
}

async fn upload_as(p: &Pipeline, token: &str, path: &str, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    upload_request(p, token, path, name, bytes).send().await.unwrap()
}

fn upload_request(p: &Pipeline, token: &str, path: &str, name: &str, bytes: Vec<u8>) -> reqwest::RequestBuilder {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    p.app
        .request(Method::POST, &format!("/api/v2{path}"))
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
}

async fn post_fhir(p: &Pipeline, path: &str, body: &Value) -> reqwest::Response {
    post_fhir_as(p, &p.partner_token, path, body).await
}

async fn post_fhir_as(p: &Pipeline, token: &str, path: &str, body: &Value) -> reqwest::Response {
    p.app
        .request(Method::POST, &format!("/api/v2{path}"))
        .header("Authorization", format!("Token {token}"))
        .header("Content-Type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// The data value set DHIS2 was sent for a settled submission.
async fn sent(p: &Pipeline, id: i64) -> Value {
    let log = p.settled(id, FINAL, Duration::from_secs(30)).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    log["attempts"].as_array().unwrap().last().unwrap()["request_payload"].clone()
}

#[tokio::test]
async fn the_same_month_as_json_adx_fhir_and_a_spreadsheet_from_three_partners_reaches_dhis2_identically() {
    let p = standards_pipeline().await;
    let json_id = p.submit(json!({"tests_male": 10, "tests_female": 12, "positives": 3})).await;
    let by_json = sent(&p, json_id).await;

    let answer = expect_json(post_adx(&p, &adx_month("2024-01-01/P1M"), "").await, StatusCode::ACCEPTED).await;
    let adx_id = answer["submissions"][0]["submission_id"].as_i64().unwrap();
    assert_eq!(answer["submissions"][0]["warnings"], json!([]), "{answer:#}");
    let by_adx = sent(&p, adx_id).await;

    // Another partner, an EMR with its own codes (its mapping scope `openmrs`), sends a FHIR Bundle.
    let openmrs = p.app.user("openmrs", Role::Partner).await;
    let openmrs_token = p.app.api_token(&p.admin, &openmrs).await;
    for (code, element, coc) in [
        ("TESTED[GENDER=male]", fixture::DE_HIV_TESTS, Some(fixture::COC_MALE)),
        ("TESTED[GENDER=female]", fixture::DE_HIV_TESTS, Some(fixture::COC_FEMALE)),
        ("POSITIVE", fixture::DE_POSITIVES, None),
    ] {
        let body = json!({"code": code, "dataElement": element, "categoryOptionCombo": coc,
                          "dataSet": fixture::DS_MONTHLY_HIV, "sourceName": "openmrs"});
        expect_json(p.call(Method::POST, "/api/v2/mappings", Some(body)).await, StatusCode::CREATED).await;
    }
    let mut report = measure_report("2024-01-01", "2024-01-31");
    let coding = |code: &str| json!({"coding": [{"system": "http://openmrs.org/concepts", "code": code}]});
    report["group"] = json!([
        {"code": coding("TESTED"), "stratifier": [{"code": [coding("GENDER")], "stratum": [
            {"value": coding("male"), "measureScore": {"value": 10}},
            {"value": coding("female"), "measureScore": {"value": 12}}
        ]}]},
        {"code": coding("POSITIVE"), "measureScore": {"value": 3}}
    ]);
    let bundle = json!({"resourceType": "Bundle", "type": "batch",
                        "entry": [{"resource": report, "request": {"method": "POST", "url": "MeasureReport"}}]});
    let r = post_fhir_as(&p, &openmrs_token, "/fhir?source_name=openmrs", &bundle).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/fhir+json");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["type"], "batch-response");
    let response = &answer["entry"][0]["response"];
    assert_eq!(response["status"], "202 Accepted");
    assert_eq!(response["outcome"]["issue"][0]["severity"], "information");
    let location = response["location"].as_str().unwrap();
    let fhir_id: i64 = location.strip_prefix("/api/v2/logs/").unwrap().parse().unwrap();
    assert!(
        response["outcome"]["issue"][0]["diagnostics"].as_str().unwrap().contains(&format!("submission {fhir_id}"))
    );
    let by_fhir = sent(&p, fhir_id).await;

    // A third, a laboratory with only a spreadsheet: previewed as the console shows it, then uploaded.
    let lab = p.app.user("lab", Role::Partner).await;
    let lab_token = p.app.api_token(&p.admin, &lab).await;
    let rows = data_rows("202401").into_bytes();
    let preview = expect_json(
        upload_as(&p, &lab_token, "/aggregate/file/preview", "jan.csv", rows.clone()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(preview["ready"], true, "{preview:#}");
    assert_eq!(preview["submissions"][0]["payload"], by_json);
    assert_eq!(preview["submissions"][0]["org_unit_name"], fixture::OU_FACILITY_1_NAME);
    assert_eq!(preview["submissions"][0]["values"], 3);
    let answer =
        expect_json(upload_as(&p, &lab_token, "/aggregate/file", "jan.csv", rows).await, StatusCode::ACCEPTED).await;
    let file_id = answer["submissions"][0]["submission_id"].as_i64().unwrap();
    let by_file = sent(&p, file_id).await;

    assert_eq!(by_adx, by_json);
    assert_eq!(by_fhir, by_json);
    assert_eq!(by_file, by_json);
    let file = p.log(file_id).await;
    assert_eq!(file["source_format"], "spreadsheet");
    assert_eq!(file["source_document"].as_str().unwrap().lines().count(), 4, "{file:#}");
    assert_eq!(by_json["dataValues"].as_array().unwrap().len(), 3, "{by_json:#}");
    let stored = p.dhis2.value(fixture::DE_HIV_TESTS, "202401", fixture::OU_FACILITY_1, fixture::COC_FEMALE).unwrap();
    assert_eq!(stored.value, "12");

    // Each keeps its part of the document as sent, and /aggregate's form of it, which a
    // requeue rebuilds from.
    let adx = p.log(adx_id).await;
    assert_eq!(adx["source_format"], "adx");
    let group = adx["source_document"].as_str().unwrap();
    assert!(group.starts_with("<group ") && group.ends_with("</group>"), "{group}");
    assert_eq!(adx["payload"]["dataValues"]["HIV_TESTS[SEX=F]"]["value"], "12");
    let fhir = p.log(fhir_id).await;
    assert_eq!(fhir["source_format"], "fhir");
    let kept: Value = serde_json::from_str(fhir["source_document"].as_str().unwrap()).unwrap();
    assert_eq!(kept, bundle["entry"][0]["resource"], "the Bundle's report as sent");
    assert_eq!(fhir["user"], "openmrs");
    assert_eq!(p.log(json_id).await["source_format"], Value::Null);
    let requeued = p.call(Method::POST, "/api/v2/aggregate/reenqueue/batch", Some(json!({"ids": [adx_id]}))).await;
    assert_eq!(expect_json(requeued, StatusCode::OK).await["reEnqueued"], 1);
    assert_eq!(sent(&p, adx_id).await, by_json);
    assert_eq!(p.log(adx_id).await["attempts"].as_array().unwrap().len(), 2);
}

/// The DHIS2 values a stored submission will send, as (data element, COC, AOC, value).
async fn values_of(p: &Pipeline, id: i64) -> Vec<(String, String, String, String)> {
    let payload = p.log(id).await["dhis2_payload"].clone();
    let text = |v: &Value, field: &str| v[field].as_str().or(payload[field].as_str()).unwrap_or_default().to_string();
    let mut values: Vec<_> = payload["dataValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (text(v, "dataElement"), text(v, "categoryOptionCombo"), text(v, "attributeOptionCombo"), text(v, "value"))
        })
        .collect();
    values.sort();
    values
}

#[tokio::test]
async fn every_disaggregation_form_reaches_the_mapping_of_its_key() {
    let p = standards_pipeline().await;
    let aoc = fixture::DEFAULT_AOC;
    for (code, element, coc, aoc) in [
        ("HIV_TESTS[FUNDER=MOH,SEX=F]", fixture::DE_HIV_TESTS, Some(fixture::COC_FEMALE), Some(aoc)),
        ("HIV_TESTS[categoryOptionCombo=MALE]", fixture::DE_HIV_TESTS, Some(fixture::COC_MALE), None),
        ("HIV_TESTS[AGE=15+,SEX=M]", fixture::DE_HIV_TESTS, Some(fixture::COC_MALE), None),
        ("HIV_POSITIVES[population=numerator]", fixture::DE_POSITIVES, None, None),
    ] {
        let body =
            json!({"code": code, "dataElement": element, "categoryOptionCombo": coc, "attributeOptionCombo": aoc});
        expect_json(p.call(Method::POST, "/api/v2/mappings", Some(body)).await, StatusCode::CREATED).await;
    }

    // ADX: an attribute category on the group joins every value's key; a category option combo
    // given whole on a value is a dimension of its own; a whole AOC on the group is a code.
    let adx = format!(
        r#"<adx xmlns="urn:ihe:qrph:adx:2015">
  <group dataSet="{ds}" orgUnit="{ou}" period="2024-07-01/P1M" FUNDER="MOH">
    <dataValue dataElement="HIV_TESTS" SEX="F" value="5"/>
  </group>
  <group dataSet="{ds}" orgUnit="{ou}" period="2024-08-01/P1M" attributeOptionCombo="default">
    <dataValue dataElement="HIV_TESTS" categoryOptionCombo="MALE" value="6"/>
  </group>
</adx>"#,
        ds = fixture::DS_MONTHLY_HIV_CODE,
        ou = fixture::OU_FACILITY_1_CODE,
    );
    let answer = expect_json(post_adx(&p, &adx, "").await, StatusCode::ACCEPTED).await;
    let ids: Vec<i64> =
        answer["submissions"].as_array().unwrap().iter().map(|s| s["submission_id"].as_i64().unwrap()).collect();
    let value =
        |de: &str, coc: &str, aoc: &str, v: &str| (de.to_string(), coc.to_string(), aoc.to_string(), v.to_string());
    assert_eq!(values_of(&p, ids[0]).await, [value(fixture::DE_HIV_TESTS, fixture::COC_FEMALE, aoc, "5")]);
    assert_eq!(values_of(&p, ids[1]).await, [value(fixture::DE_HIV_TESTS, fixture::COC_MALE, aoc, "6")]);
    assert_eq!(p.log(ids[1]).await["dhis2_payload"]["attributeOptionCombo"], aoc);

    // FHIR: a stratum of several components, and a population's count.
    let coding = |code: &str| json!({"coding": [{"code": code}]});
    let mut report = measure_report("2024-09-01", "2024-09-30");
    report["group"] = json!([
        {"code": coding("HIV_TESTS"), "stratifier": [{"code": [coding("AGE_SEX")], "stratum": [
            {"component": [{"code": coding("SEX"), "value": coding("M")}, {"code": coding("AGE"), "value": coding("15+")}],
             "measureScore": {"value": 7}}
        ]}]},
        {"code": coding("HIV_POSITIVES"), "population": [{"code": coding("numerator"), "count": 2}]}
    ]);
    let r = post_fhir(&p, "/fhir/MeasureReport", &report).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id: i64 = r.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().parse().unwrap();
    let mut expected =
        vec![value(fixture::DE_HIV_TESTS, fixture::COC_MALE, "", "7"), value(fixture::DE_POSITIVES, "", "", "2")];
    expected.sort();
    assert_eq!(values_of(&p, id).await, expected);
}

#[tokio::test]
async fn an_adx_message_is_checked_whole_and_its_problems_named_by_line() {
    let p = standards_pipeline().await;
    let lines = |body: &Value| details(body);

    // Not well-formed: the line of the fault.
    let broken = "<adx xmlns=\"urn:ihe:qrph:adx:2015\">\n  <group>\n</adx>";
    let body = expect_error(post_adx(&p, broken, "").await, StatusCode::BAD_REQUEST).await;
    assert!(lines(&body)[0].starts_with("line 3"), "{body:#}");

    // Schema problems, all at once: namespace, required attributes, strange elements, periods.
    let invalid = format!(
        r#"<adx xmlns="urn:example:not-adx">
  <group dataSet="{ds}" period="2024-01-01/P3M">
    <dataValue dataElement="HIV_POSITIVES"/>
    <value>3</value>
  </group>
  <group dataSet="NO_SUCH_SET" orgUnit="{ou}" period="January">
    <dataValue dataElement="HIV_POSITIVES" value="1"/>
  </group>
</adx>"#,
        ds = fixture::DS_MONTHLY_HIV_CODE,
        ou = fixture::OU_FACILITY_1_CODE,
    );
    let body = expect_error(post_adx(&p, &invalid, "").await, StatusCode::BAD_REQUEST).await;
    let found = lines(&body);
    for expected in [
        "line 1 <adx>: the root element must be in the ADX namespace urn:ihe:qrph:adx:2015",
        "line 2 <group>: orgUnit is required",
        "line 2 <group>: period: '2024-01-01/P3M' is not a Monthly period, as the data set's are",
        "line 3 <dataValue>: value is required",
        "line 4 <value>: is not an ADX element here; expected <dataValue>",
        "line 6 <group>: dataSet: 'NO_SUCH_SET' is not the code of a data set in DHIS2",
        "line 6 <group>: period: 'January' is not an ADX period (a start date and an ISO 8601 duration: 2024-01-01/P1M)",
    ] {
        assert!(found.iter().any(|d| d == expected), "missing {expected:?} in {found:#?}");
    }

    // Unmapped codes: the same per-key report as JSON, each with its line; the rest is stored.
    let unmapped = adx_month("2024-02-01/P1M").replace("SEX=\"F\"", "SEX=\"X\"");
    let body = expect_json(post_adx(&p, &unmapped, "").await, StatusCode::ACCEPTED).await;
    assert_eq!(
        body["submissions"][0]["warnings"],
        json!(["line 5 <dataValue>: dataValues.HIV_TESTS[SEX=X]: no mapping; left out"])
    );
    // Nothing mappable in one group refuses the message; its other group is not stored either.
    let before = p.get_as_admin("/api/v2/logs").await["total"].clone();
    let two = adx_month("2024-03-01/P1M").replace(
        "</adx>",
        &format!(
            "  <group dataSet=\"{}\" orgUnit=\"{}\" period=\"2024-03-01/P1M\">\n    <dataValue dataElement=\"NOPE\" value=\"1\"/>\n  </group>\n</adx>",
            fixture::DS_MONTHLY_HIV,
            fixture::OU_FACILITY_2
        ),
    );
    let body = expect_error(post_adx(&p, &two, "").await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(lines(&body), ["line 9 <dataValue>: dataValues.NOPE: no mapping; left out"]);
    assert_eq!(p.get_as_admin("/api/v2/logs").await["total"], before);

    // Sent with a password (as a browser could be made to), a body must say it is XML; FHIR too.
    let plain = |path: &str, body: String| {
        p.app
            .request(Method::POST, path)
            .header("Authorization", basic("emr", PASSWORD))
            .header("Content-Type", "application/octet-stream")
            .body(body)
            .send()
    };
    let body = expect_error(
        plain("/api/v2/adx", adx_month("2024-04-01/P1M")).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert!(body["error"].as_str().unwrap().contains("application/adx+xml"), "{body}");
    let r = plain("/api/v2/fhir", measure_report("2024-04-01", "2024-04-30").to_string()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.json::<Value>().await.unwrap()["issue"][0]["code"], "not-supported");

    // Id schemes as DHIS2 names them: uid asks for UIDs; names are not taken.
    let body =
        expect_error(post_adx(&p, &adx_month("2024-04-01/P1M"), "?orgUnitIdScheme=uid").await, StatusCode::BAD_REQUEST)
            .await;
    assert_eq!(
        lines(&body),
        [format!("line 3 <group>: orgUnit: '{}' is not a DHIS2 UID", fixture::OU_FACILITY_1_CODE)]
    );
    let body =
        expect_error(post_adx(&p, &adx_month("2024-04-01/P1M"), "?idScheme=name").await, StatusCode::BAD_REQUEST).await;
    assert!(lines(&body)[0].starts_with("idScheme: 'name' is not taken here"), "{body:#}");

    // A retry with the same Idempotency-Key gets the first answer; other content under it, 409.
    let message = adx_month("2024-05-01/P1M");
    let keyed = |xml: String| {
        p.app
            .request(Method::POST, "/api/v2/adx")
            .header("Authorization", format!("Token {}", p.partner_token))
            .header("Content-Type", "application/adx+xml")
            .header("Idempotency-Key", "adx-2024-05")
            .body(xml)
            .send()
    };
    let first = expect_json(keyed(message.clone()).await.unwrap(), StatusCode::ACCEPTED).await;
    let again = expect_json(keyed(message.clone()).await.unwrap(), StatusCode::ACCEPTED).await;
    assert_eq!(first["submissions"][0]["submission_id"], again["submissions"][0]["submission_id"]);
    expect_error(keyed(message.replace("value=\"3\"", "value=\"4\"")).await.unwrap(), StatusCode::CONFLICT).await;

    // Comments come from annotations, entities and all; groups of a message become submissions in order.
    let annotated = adx_month("2024-06-01/P1M")
        .replace(
            "<dataValue dataElement=\"HIV_POSITIVES\" value=\"3\"/>",
            "<dataValue dataElement=\"HIV_POSITIVES\" value=\"3\"><annotation>checked &amp; signed</annotation></dataValue>",
        )
        .replace(
            "</adx>",
            &format!(
                "<group dataSet=\"{}\" orgUnit=\"{}\" period=\"2024-06-01/P1M\"><dataValue dataElement=\"HIV_POSITIVES\" value=\"5\"/></group></adx>",
                fixture::DS_MONTHLY_HIV,
                fixture::OU_FACILITY_2
            ),
        );
    let body = expect_json(post_adx(&p, &annotated, "").await, StatusCode::ACCEPTED).await;
    let ids: Vec<i64> =
        body["submissions"].as_array().unwrap().iter().map(|s| s["submission_id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    let first = p.log(ids[0]).await;
    let positives = first["dhis2_payload"]["dataValues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["dataElement"] == fixture::DE_POSITIVES)
        .cloned();
    assert_eq!(positives.unwrap()["comment"], "checked & signed");
    assert_eq!(p.log(ids[1]).await["dhis2_payload"]["orgUnit"], fixture::OU_FACILITY_2);
}

#[tokio::test]
async fn a_data_file_is_previewed_and_taken_whole_with_its_rows_named() {
    let p = standards_pipeline().await;

    // An Excel workbook too, with a group of another facility and an unmapped value.
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let rows = [
        ["data_element", "category_option_combo", "org_unit", "period", "value", "comment"],
        ["HIV_TESTS", "MALE", fixture::OU_FACILITY_1_CODE, "202402", "10", ""],
        ["HIV_POSITIVES", "", fixture::OU_FACILITY_2, "202402", "1", "from the lab"],
        ["HIV_TESTS", "OTHER", fixture::OU_FACILITY_1_CODE, "202402", "2", ""],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            sheet.write_string(r as u32, c as u16, *cell).unwrap();
        }
    }
    let xlsx = workbook.save_to_buffer().unwrap();
    let preview =
        expect_json(upload(&p, "/aggregate/file/preview", "feb.xlsx", xlsx.clone()).await, StatusCode::OK).await;
    assert_eq!(preview["ready"], true, "{preview:#}");
    let shown = preview["submissions"].as_array().unwrap();
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0]["warnings"], json!(["row 4: dataValues.HIV_TESTS.OTHER: no mapping; left out"]));
    assert_eq!(shown[1]["org_unit"], fixture::OU_FACILITY_2);
    assert_eq!(shown[1]["payload"]["dataValues"][0]["comment"], "from the lab");
    assert_eq!(p.get_as_admin("/api/v2/logs").await["total"], 0, "a preview stores nothing");
    let answer = expect_json(upload(&p, "/aggregate/file", "feb.xlsx", xlsx).await, StatusCode::ACCEPTED).await;
    assert_eq!(answer["submissions"].as_array().unwrap().len(), 2);
    assert_eq!(p.get_as_admin("/api/v2/logs").await["total"], 2);

    // A group that cannot be taken shows in the preview and refuses the upload whole.
    let csv = format!("{}{},202403,NOPE,,1\n", data_rows("202403"), fixture::OU_FACILITY_2_CODE);
    let preview =
        expect_json(upload(&p, "/aggregate/file/preview", "mar.csv", csv.clone().into_bytes()).await, StatusCode::OK)
            .await;
    assert_eq!(preview["ready"], false);
    assert_eq!(preview["submissions"][1]["problems"], json!(["row 5: dataValues.NOPE: no mapping; left out"]));
    let body = expect_error(
        upload(&p, "/aggregate/file", "mar.csv", csv.into_bytes()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(details(&body), ["row 5: dataValues.NOPE: no mapping; left out"]);
    assert_eq!(p.get_as_admin("/api/v2/logs").await["total"], 2);

    // Rows that cannot be read, and files that are no spreadsheet, are named.
    let csv = "org_unit,period,data_element,value\nFAC001,202401,HIV_POSITIVES,1\n,202401,HIV_POSITIVES,2\nFAC001,2024-01,HIV_POSITIVES,3\n";
    let body =
        expect_error(upload(&p, "/aggregate/file", "bad.csv", csv.as_bytes().to_vec()).await, StatusCode::BAD_REQUEST)
            .await;
    assert_eq!(details(&body)[0], "row 3: org_unit is required");
    let body = expect_error(
        upload(&p, "/aggregate/file", "x.csv", b"value,period\n1,202401\n".to_vec()).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(details(&body)[0].starts_with("file: row 1 has no 'data_element' column"), "{body:#}");
    let body = expect_error(
        upload(&p, "/aggregate/file", "x.xlsx", b"not a workbook".to_vec()).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(details(&body)[0].contains("not a readable Excel workbook"), "{body:#}");
    let template = p
        .app
        .request(Method::GET, "/api/v2/aggregate/file/template")
        .header("Authorization", format!("Token {}", p.partner_token))
        .send()
        .await
        .unwrap();
    assert_eq!(template.status(), StatusCode::OK);
    let bytes = template.bytes().await.unwrap().to_vec();
    let body = expect_json(upload(&p, "/aggregate/file/preview", "t.xlsx", bytes).await, StatusCode::OK).await;
    assert_eq!(body["submissions"], json!([]), "the template reads back empty");
}

#[tokio::test]
async fn a_document_over_a_partners_daily_limit_is_stored_not_in_part() {
    let p = standards_pipeline().await;
    let users = p.get_as_admin("/api/v2/users?username=emr").await;
    let uid = users["items"][0]["uid"].as_str().unwrap().to_string();
    let access = p.call(Method::PUT, &format!("/api/v2/users/{uid}/access"), Some(json!({"values_per_day": 5}))).await;
    expect_json(access, StatusCode::OK).await;
    // Two months of three values each: the second crosses the limit, so neither is stored.
    let february = adx_month("2024-02-01/P1M");
    let (_, february_groups) = february.split_once("exported=\"2024-02-03T10:00:00Z\">").unwrap();
    let two = adx_month("2024-01-01/P1M").replace("</adx>", february_groups);
    let body = expect_error(post_adx(&p, &two, "").await, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(details(&body), ["values_per_day"], "{body}");
    assert_eq!(p.get_as_admin("/api/v2/logs").await["total"], 0);
    // One month fits.
    expect_json(post_adx(&p, &adx_month("2024-01-01/P1M"), "").await, StatusCode::ACCEPTED).await;
    assert_eq!(p.get_as_admin("/api/v2/logs").await["total"], 1);
}

#[tokio::test]
async fn fhir_senders_get_operation_outcomes_and_bundles() {
    let p = standards_pipeline().await;

    // A Bundle: a batch-response with a location per report.
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": measure_report("2024-02-01", "2024-02-29"), "request": {"method": "POST", "url": "MeasureReport"}},
        {"resource": measure_report("2024-03", "2024-03")},
    ]});
    let r = post_fhir(&p, "/fhir", &bundle).await;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["resourceType"], "Bundle");
    assert_eq!(answer["type"], "batch-response");
    let entries = answer["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for entry in entries {
        assert_eq!(entry["response"]["status"], "202 Accepted");
        let id: i64 =
            entry["response"]["location"].as_str().unwrap().strip_prefix("/api/v2/logs/").unwrap().parse().unwrap();
        assert_eq!(entry["response"]["outcome"]["resourceType"], "OperationOutcome");
        p.settled(id, &["succeeded"], Duration::from_secs(30)).await;
    }
    assert!(p.dhis2.value(fixture::DE_POSITIVES, "202403", fixture::OU_FACILITY_1, fixture::DEFAULT_COC).is_some());

    // Bad resources: an issue per element, with its FHIRPath, in the R4 shape.
    let mut bad = measure_report("2024-04-01", "2024-04-15");
    bad["status"] = json!("pending");
    bad["group"][0]["stratifier"][0]["stratum"][1]["measureScore"]["value"] = json!("twelve");
    let mut other = measure_report("2024-04-01", "2024-04-30");
    other["subject"] = json!({});
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": bad}, {"resource": other}, {"resource": {"resourceType": "Patient"}}
    ]});
    let r = post_fhir(&p, "/fhir", &bundle).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/fhir+json");
    let outcome: Value = r.json().await.unwrap();
    check_operation_outcome(&outcome);
    let expressions: Vec<&str> =
        outcome["issue"].as_array().unwrap().iter().map(|i| i["expression"][0].as_str().unwrap()).collect();
    assert_eq!(
        expressions,
        [
            "Bundle.entry[0].resource.status",
            "Bundle.entry[0].resource.group[0].stratifier[0].stratum[1].measureScore.value",
            "Bundle.entry[1].resource.subject",
            "Bundle.entry[2].resource.resourceType",
        ]
    );
    // The period is checked against the data set's type once the rest is readable.
    let r = post_fhir(&p, "/fhir/MeasureReport", &measure_report("2024-04-01", "2024-04-15")).await;
    let outcome: Value = r.json().await.unwrap();
    check_operation_outcome(&outcome);
    assert_eq!(outcome["issue"][0]["expression"], json!(["MeasureReport.period"]));
    assert_eq!(outcome["issue"][0]["code"], "invalid");

    // Unmapped codes: a warning per value on success; nothing mapped is a 422 outcome.
    let mut unmapped = measure_report("2024-05-01", "2024-05-31");
    unmapped["group"][0]["stratifier"][0]["stratum"][1]["value"] = json!({"coding": [{"code": "X"}]});
    let r = post_fhir(&p, "/fhir/MeasureReport", &unmapped).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let outcome: Value = r.json().await.unwrap();
    check_operation_outcome(&outcome);
    assert_eq!(outcome["issue"][1]["severity"], "warning");
    assert_eq!(
        outcome["issue"][1]["expression"],
        json!(["MeasureReport.group[0].stratifier[0].stratum[1].measureScore"])
    );
    let mut nothing = measure_report("2024-06-01", "2024-06-30");
    nothing["group"] = json!([{"code": {"coding": [{"code": "NOPE"}]}, "measureScore": {"value": 1}}]);
    let r = post_fhir(&p, "/fhir/MeasureReport", &nothing).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let outcome: Value = r.json().await.unwrap();
    check_operation_outcome(&outcome);
    assert_eq!(outcome["issue"][0]["expression"], json!(["MeasureReport.group[0].measureScore"]));

    // Even a missing credential or a wrong resource answers in FHIR's terms.
    let r = p
        .app
        .request(Method::POST, "/api/v2/fhir/MeasureReport")
        .header("Content-Type", "application/fhir+json")
        .body(measure_report("2024-01-01", "2024-01-31").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let outcome: Value = r.json().await.unwrap();
    check_operation_outcome(&outcome);
    assert_eq!(outcome["issue"][0]["code"], "login");
    let r = post_fhir(&p, "/fhir/MeasureReport", &json!({"resourceType": "Bundle", "type": "batch"})).await;
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["issue"][0]["expression"], json!(["resourceType"]));
    let r = post_fhir(&p, "/fhir", &json!([1, 2])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    check_operation_outcome(&r.json().await.unwrap());
}

#[tokio::test]
async fn documents_sent_as_dry_runs_are_checked_by_dhis2_and_stored_nowhere() {
    let p = standards_pipeline().await;
    // January is approved in DHIS2: something only DHIS2 knows, so only its dry run can tell.
    p.dhis2.approve(fixture::DS_MONTHLY_HIV, "202401", fixture::OU_FACILITY_1);
    let keys = |result: &Value| -> Vec<String> {
        let conflicts = result["dhis2"]["conflicts"].as_array().unwrap();
        let mut keys: Vec<String> = conflicts
            .iter()
            .flat_map(|c| c["partner_keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };

    // ADX: each group's payload and DHIS2's verdict, in the gateway's JSON.
    let r = post_adx(&p, &adx_month("2024-01-01/P1M"), "?dryRun=true").await;
    let answer = expect_json(r, StatusCode::OK).await;
    assert!(
        answer["message"].as_str().unwrap().starts_with("Dry run: ADX message checked as 1 submission"),
        "{answer:#}"
    );
    let january = &answer["submissions"][0];
    assert_eq!(january["payload"]["dataValues"].as_array().unwrap().len(), 3);
    assert_eq!(keys(january), ["HIV_POSITIVES", "HIV_TESTS[SEX=F]", "HIV_TESTS[SEX=M]"], "{january:#}");
    // In names, as the log shows them.
    let described = january["dhis2"]["conflicts"][0]["described"].as_str().unwrap_or_default();
    assert!(described.contains("HIV tests, Male") && described.contains(fixture::DS_MONTHLY_HIV_NAME), "{january:#}");
    let r = post_adx(&p, &adx_month("2024-02-01/P1M"), "?dryRun=true").await;
    let february = &expect_json(r, StatusCode::OK).await["submissions"][0];
    assert_eq!(february["dhis2"]["import_status"], "SUCCESS", "{february:#}");
    assert_eq!(february["dhis2"]["conflicts"], json!([]));
    // A message the gateway refuses is refused as it would be without dryRun.
    let r = post_adx(&p, &adx_month("2024-01-01/P1D"), "?dryRun=true").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // FHIR: an OperationOutcome, each conflict at the elements of its values.
    let r = post_fhir(&p, "/fhir/MeasureReport?dryRun=true", &measure_report("2024-01-01", "2024-01-31")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("location").is_none());
    let outcome: Value = r.json().await.unwrap();
    check_operation_outcome(&outcome);
    let issues = outcome["issue"].as_array().unwrap();
    assert_eq!(issues[0]["severity"], "information");
    assert!(issues[0]["diagnostics"].as_str().unwrap().contains("nothing was stored"), "{outcome:#}");
    // Every error is a value DHIS2 refused (not DHIS2's "Import process completed successfully").
    assert!(issues.iter().filter(|i| i["severity"] == "error").all(|i| i["code"] == "business-rule"), "{outcome:#}");
    let mut places: Vec<&str> = issues
        .iter()
        .filter(|i| i["code"] == "business-rule")
        .flat_map(|i| i["expression"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()))
        .collect();
    places.sort();
    places.dedup();
    let said = issues.iter().find(|i| i["code"] == "business-rule").unwrap()["diagnostics"].as_str().unwrap();
    assert!(said.starts_with("E7642: ") && said.contains(fixture::DS_MONTHLY_HIV_NAME), "{outcome:#}");
    assert_eq!(
        places,
        [
            "MeasureReport.group[0].stratifier[0].stratum[0].measureScore",
            "MeasureReport.group[0].stratifier[0].stratum[1].measureScore",
            "MeasureReport.group[1].measureScore",
        ],
        "{outcome:#}"
    );
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": measure_report("2024-01-01", "2024-01-31")},
        {"resource": measure_report("2024-02-01", "2024-02-29")},
    ]});
    let r = post_fhir(&p, "/fhir?dryRun=true", &bundle).await;
    let answer = expect_json(r, StatusCode::OK).await;
    assert_eq!(answer["type"], "batch-response");
    for (entry, errors) in answer["entry"].as_array().unwrap().iter().zip([true, false]) {
        assert_eq!(entry["response"]["status"], "200 OK");
        assert!(entry["response"].get("location").is_none());
        let issues = entry["response"]["outcome"]["issue"].as_array().unwrap();
        assert_eq!(issues.iter().any(|i| i["severity"] == "error"), errors, "{entry:#}");
    }

    // A spreadsheet, with the key kept for the real upload: a dry run does not use it up.
    let march = |path: &str| {
        upload_request(&p, &p.partner_token, path, "march.csv", data_rows("202403").into_bytes())
            .header("Idempotency-Key", "march-upload")
            .send()
    };
    let answer = expect_json(march("/aggregate/file?dryRun=true").await.unwrap(), StatusCode::OK).await;
    assert!(answer["message"].as_str().unwrap().starts_with("Dry run: march.csv"), "{answer:#}");
    assert_eq!(answer["submissions"][0]["dhis2"]["import_status"], "SUCCESS", "{answer:#}");
    let r = upload(&p, "/aggregate/file/preview?dryRun=true", "march.csv", data_rows("202403").into_bytes()).await;
    let refused = expect_json(r, StatusCode::BAD_REQUEST).await;
    assert!(refused.to_string().contains("dryRun"), "{refused}");

    // Nothing was stored, by the gateway or by DHIS2, and DHIS2 was only ever asked to check.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM submission_log").fetch_one(&p.app.db).await.unwrap();
    assert_eq!(stored, 0);
    assert!(p.dhis2.values().is_empty());
    let imports: Vec<_> = p.dhis2.requests().into_iter().filter(|r| r.path.ends_with("/dataValueSets")).collect();
    assert_eq!(imports.len(), 6);
    assert!(imports.iter().all(|r| r.query.contains("dryRun=true")), "{imports:?}");

    // The real upload with the key the dry run carried is stored.
    let accepted = expect_json(march("/aggregate/file").await.unwrap(), StatusCode::ACCEPTED).await;
    let id = accepted["submissions"][0]["submission_id"].as_i64().unwrap();
    assert_eq!(p.settled(id, &["succeeded"], Duration::from_secs(30)).await["status"], "succeeded");
}

/// An OperationOutcome as FHIR R4 defines it: `issue` 1..*, each with a `severity` and a
/// `code` from their value sets, `diagnostics` a string, `expression` a list of strings.
fn check_operation_outcome(outcome: &Value) {
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome:#}");
    let issues = outcome["issue"].as_array().expect("issue is a list");
    assert!(!issues.is_empty());
    let codes = [
        "invalid",
        "structure",
        "required",
        "value",
        "invariant",
        "security",
        "login",
        "unknown",
        "expired",
        "forbidden",
        "suppressed",
        "processing",
        "not-supported",
        "duplicate",
        "multiple-matches",
        "not-found",
        "deleted",
        "too-long",
        "code-invalid",
        "extension",
        "too-costly",
        "business-rule",
        "conflict",
        "transient",
        "lock-error",
        "no-store",
        "exception",
        "timeout",
        "incomplete",
        "throttled",
        "informational",
    ];
    for issue in issues {
        let object = issue.as_object().unwrap();
        assert!(object.keys().all(|k| ["severity", "code", "diagnostics", "expression", "details", "location"].contains(&k.as_str())));
        assert!(["fatal", "error", "warning", "information"].contains(&issue["severity"].as_str().unwrap()), "{issue}");
        assert!(codes.contains(&issue["code"].as_str().unwrap()), "{issue}");
        assert!(issue["diagnostics"].is_string());
        if let Some(expression) = issue.get("expression") {
            assert!(expression.as_array().unwrap().iter().all(Value::is_string));
        }
    }
}
