//! The operators' dashboard in a real browser: headless Chromium (Debian's `chromium`,
//! which `scripts/test.sh` installs) opens `/` on a running engine, lets the page's script
//! fetch the API, and the test reads the resulting page as a person would see it.
//!
//! Fails, never skips, when Chromium is missing (`CLAIMS_TEST_CHROMIUM` names another).

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

mod support;

use std::process::Command;
use support::api_engine::engine_with_api;
use support::http::get;

fn chromium() -> String {
    std::env::var("CLAIMS_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

/// The page's DOM once its script has run, as Chromium renders it.
fn rendered(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=3000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run {} (scripts/test.sh installs Debian's chromium): {error}",
                chromium()
            )
        });
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The text of a table's body rows, cell by cell.
fn rows(dom: &str, table: &str) -> Vec<Vec<String>> {
    let start = dom
        .find(&format!("id=\"{table}\""))
        .unwrap_or_else(|| panic!("no table {table} in\n{dom}"));
    let body = &dom[start..];
    let body = &body[body.find("<tbody>").unwrap()..body.find("</tbody>").unwrap()];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let text = &cell[cell.find('>').unwrap() + 1..];
                    text[..text.find("</td>").unwrap()].to_owned()
                })
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_claims_by_status_payouts_and_dead_letters_in_a_browser() {
    let (engine, address, knee, _, stop) = engine_with_api().await;
    let transaction =
        get(&address, &format!("/claims/{knee}")).await.json()["status"]["transaction"]
            .as_str()
            .unwrap()
            .to_owned();

    let url = format!("http://{address}/");
    let dom = tokio::task::spawn_blocking(move || rendered(&url))
        .await
        .unwrap();

    assert!(dom.contains("<h1>Claims engine</h1>"), "{dom}");
    assert!(
        !dom.contains("Updated <span id=\"updated\">never"),
        "the script did not run: {dom}"
    );
    let statuses = rows(&dom, "statuses");
    let count_of = |status: &str| -> String {
        statuses
            .iter()
            .find(|row| row[0] == status)
            .unwrap_or_else(|| panic!("no status {status} in {statuses:?}"))[1]
            .clone()
    };
    assert_eq!(count_of("Paid"), "1", "{statuses:?}");
    assert_eq!(count_of("Denied"), "1", "{statuses:?}");
    assert_eq!(count_of("Awaiting decision"), "0", "{statuses:?}");

    let payouts = rows(&dom, "payouts");
    assert_eq!(payouts.len(), 1, "{payouts:?}");
    assert_eq!(payouts[0][2], "1", "one claim in the batch: {payouts:?}");
    assert_eq!(payouts[0][3], "600.00 USD", "{payouts:?}");
    assert_eq!(payouts[0][4], transaction, "{payouts:?}");

    let letters = rows(&dom, "dead-letters");
    assert!(
        letters
            .iter()
            .any(|row| row[0] == "intake" && row[1] != "0"),
        "{letters:?}"
    );

    let _ = stop.send(());
    engine.shutdown().await;
}
