//! Every request to a data endpoint is in the access log before it is
//! answered, exactly once, with the rows it was served; the log survives a
//! SIGKILL; a log that cannot be written stops the answers; tampering is
//! caught by `audit verify`.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use store::schema::access_log;
use store::testing::TestDb;

use crate::helpers::{Options, Setup, BIN};

/// A till and a Standard NGO user, each with grants, on a small registry.
fn setup(db: TestDb) -> Setup {
    let s = Setup::new(db, 200);
    s.new_client(
        "till",
        "Utility Stores Corporation",
        "federal_government",
        "machine",
        &["--rate", "100000", "--burst", "100000"],
    );
    s.add_grant("Utility Stores Corporation", "pmt_by_cnic", "confidential");
    s.new_client(
        "ngo-portal",
        "Akhuwat Foundation",
        "local_ngo",
        "portal",
        &[],
    );
    s.add_grant("Akhuwat Foundation", "cnic", "confidential");
    s.add_user("ngo.user", "Akhuwat Foundation", "standard");
    s
}

fn cnics(s: &Setup, n: i64) -> Vec<String> {
    use store::schema::members;
    members::table
        .select(members::cnic)
        .order(members::id)
        .limit(n)
        .load(&mut s.conn())
        .unwrap()
}

/// (request id, status, rows served) of each answer the client saw.
type Seen = Vec<(String, u16, i64)>;

fn request_id(res: &reqwest::blocking::Response) -> String {
    res.headers()["x-request-id"].to_str().unwrap().to_owned()
}

fn log_by_request(s: &Setup) -> HashMap<String, (i32, i64, i64)> {
    let rows: Vec<(String, i32, i64, i64)> = access_log::table
        .select((
            access_log::request_id,
            access_log::status,
            access_log::rows_returned,
            access_log::batch_id,
        ))
        .load(&mut s.conn())
        .unwrap();
    let mut map = HashMap::new();
    for (id, status, rows, batch) in rows {
        assert!(
            map.insert(id.clone(), (status, rows, batch)).is_none(),
            "request {id} logged twice"
        );
    }
    map
}

fn verify(s: &Setup) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["audit", "verify", "--database", &s.db.url_string])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn every_answer_is_logged_once_with_its_rows_and_metered() {
    for db in TestDb::all() {
        let backend = db.backend();
        let gw = setup(db).serve(&Options::default());
        let till = gw.client(Some("till"));
        let ngo = gw.client(Some("ngo-portal"));
        let token = gw.login(&ngo, "ngo.user");
        let mut seen: Seen = Vec::new();
        for (i, cnic) in cnics(&gw, 30).iter().enumerate() {
            let res = till
                .get(format!("{}/v1/pmt/{cnic}", gw.base))
                .send()
                .unwrap();
            let rows = i64::from(res.status() == 200);
            seen.push((request_id(&res), res.status().as_u16(), rows));
            if i % 3 == 0 {
                let res = ngo
                    .get(format!("{}/v1/households/by-cnic/{cnic}", gw.base))
                    .bearer_auth(&token)
                    .send()
                    .unwrap();
                seen.push((
                    request_id(&res),
                    res.status().as_u16(),
                    i64::from(res.status() == 200),
                ));
            }
        }
        // Refusals are logged too: a missing CNIC, a malformed one, a search the grant lacks.
        for url in [
            "/v1/pmt/3520299999991",
            "/v1/pmt/not-a-cnic",
            "/v1/households/by-cnic/3520299999991",
        ] {
            let res = till.get(format!("{}{url}", gw.base)).send().unwrap();
            assert!(res.status().is_client_error(), "{backend} {url}");
            seen.push((request_id(&res), res.status().as_u16(), 0));
        }
        let log = log_by_request(&gw);
        for (id, status, rows) in &seen {
            let (logged_status, logged_rows, _) = log
                .get(id)
                .unwrap_or_else(|| panic!("{backend}: {id} not logged"));
            assert_eq!(
                (*logged_status, *logged_rows),
                (i32::from(*status), *rows),
                "{backend}: {id}"
            );
        }
        assert_eq!(
            log.len(),
            seen.len(),
            "{backend}: records without a request"
        );
        // The usage roll-up (the bill's input) equals the log.
        let served: i64 = seen.iter().map(|s| s.2).sum();
        let rolled: Vec<(i64, i64)> = store::schema::usage_daily::table
            .select((
                store::schema::usage_daily::requests,
                store::schema::usage_daily::rows_returned,
            ))
            .load(&mut gw.conn())
            .unwrap();
        assert_eq!(rolled.iter().map(|r| r.1).sum::<i64>(), served, "{backend}");
        assert_eq!(
            rolled.iter().map(|r| r.0).sum::<i64>(),
            i64::try_from(seen.len()).unwrap(),
            "{backend}"
        );
        // CNICs are never stored in clear.
        let params: Vec<String> = access_log::table
            .select(access_log::parameters)
            .load(&mut gw.conn())
            .unwrap();
        for c in cnics(&gw, 30) {
            assert!(
                params.iter().all(|p| !p.contains(&c)),
                "{backend}: a CNIC in clear"
            );
        }
        let (ok, text) = verify(&gw);
        assert!(ok && text.starts_with("intact"), "{backend}: {text}");
    }
}

#[test]
fn a_sigkill_mid_load_loses_no_answered_request() {
    for db in TestDb::all() {
        let backend = db.backend();
        let mut gw = setup(db).serve(&Options::default());
        let list = cnics(&gw, 50);
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let (seen, stop, list) = (Arc::clone(&seen), Arc::clone(&stop), list.clone());
                let (http, base) = (gw.client(Some("till")), gw.base.clone());
                std::thread::spawn(move || {
                    let mut i = w;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let cnic = &list[i % list.len()];
                        i += 7;
                        // Connection errors are expected once the server dies.
                        if let Ok(res) = http.get(format!("{base}/v1/pmt/{cnic}")).send() {
                            if res.status() == 200 {
                                seen.lock().unwrap().push((request_id(&res), 200, 1));
                            }
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(1_500));
        gw.crash_and_restart();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.len() > 20,
            "{backend}: only {} answers before the kill",
            seen.len()
        );
        let log = log_by_request(&gw);
        for (id, _, _) in &seen {
            let (status, rows, _) = log
                .get(id)
                .unwrap_or_else(|| panic!("{backend}: answered {id} is not in the log"));
            assert_eq!((*status, *rows), (200, 1), "{backend}");
        }
        let (ok, text) = verify(&gw);
        assert!(ok, "{backend}: {text}");
        // And the restarted gateway logs and answers on the same chain.
        let res = gw
            .client(Some("till"))
            .get(format!("{}/v1/pmt/{}", gw.base, list[0]))
            .send()
            .unwrap();
        // The load may have used up the grant's 1,000-row quota: a refusal is logged too.
        assert!(
            matches!(res.status().as_u16(), 200 | 403),
            "{backend}: {}",
            res.status()
        );
        assert!(log_by_request(&gw).contains_key(&request_id(&res)));
        assert!(verify(&gw).0, "{backend}");
    }
}

/// Block the SQLite log's writes: another process holds the write lock on
/// the log's own file (longer than the gateway's busy timeout); readers
/// still could read.
fn block_writes(gw: &Setup) -> diesel::SqliteConnection {
    let path = gw.db.url.access_log_path().unwrap();
    let mut blocker = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    blocker
        .batch_execute(
            "PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE; UPDATE access_chain_head SET id = 1;",
        )
        .unwrap();
    blocker
}

fn assert_unavailable(res: reqwest::blocking::Response) {
    assert_eq!(
        res.status(),
        503,
        "answered although the log could not be written"
    );
    let body = res.text().unwrap();
    assert!(
        body.contains("/unavailable") && !body.contains("pmt_score"),
        "{body}"
    );
}

/// Request until the answer is not 200; the request ids answered before.
fn answered_until_refused(till: &reqwest::blocking::Client, url: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut answered = Vec::new();
    loop {
        let res = till.get(url).send().unwrap();
        if res.status() != 200 {
            assert_unavailable(res);
            return answered;
        }
        answered.push(request_id(&res));
        assert!(
            std::time::Instant::now() < deadline,
            "still answering 30 s after the log's database stopped"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Request until answered (the log's database is back); its request id.
fn answered_again(till: &reqwest::blocking::Client, url: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let res = till.get(url).send().unwrap();
        if res.status() == 200 {
            return request_id(&res);
        }
        assert_unavailable(res);
        assert!(
            std::time::Instant::now() < deadline,
            "not answering 30 s after the log's database returned"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_log_that_cannot_be_written_stops_the_answers() {
    // Without the journal: the first request after the database stops
    // taking writes is refused.
    let gw = setup(TestDb::sqlite()).serve(&Options {
        tail: "[log]\naccess_journal = false\n".into(),
        ..Options::default()
    });
    let till = gw.client(Some("till"));
    let url = format!("{}/v1/pmt/{}", gw.base, cnics(&gw, 1)[0]);
    assert_eq!(till.get(&url).send().unwrap().status(), 200);
    let blocker = block_writes(&gw);
    assert_unavailable(till.get(&url).send().unwrap());
    drop(blocker);
    let again = answered_again(&till, &url);
    assert!(log_by_request(&gw).contains_key(&again));
    assert!(verify(&gw).0);

    // With the journal (the default): requests are answered from the
    // journal while the database is behind by less than the configured lag,
    // then refused; every answer is in the log once it returns.
    let gw = setup(TestDb::sqlite()).serve(&Options {
        tail: "[log]\naccess_journal_max_lag_millis = 500\n".into(),
        ..Options::default()
    });
    let till = gw.client(Some("till"));
    let url = format!("{}/v1/pmt/{}", gw.base, cnics(&gw, 1)[0]);
    assert_eq!(till.get(&url).send().unwrap().status(), 200);
    let blocker = block_writes(&gw);
    let answered = answered_until_refused(&till, &url);
    drop(blocker);
    let again = answered_again(&till, &url);
    let log = log_by_request(&gw);
    for id in answered.iter().chain([&again]) {
        assert_eq!(log.get(id).map(|r| (r.0, r.1)), Some((200, 1)), "{id}");
    }
    let (ok, text) = verify(&gw);
    assert!(ok, "{text}");
}

#[test]
fn records_answered_from_the_journal_survive_a_sigkill_before_the_database_has_them() {
    let mut gw = setup(TestDb::sqlite()).serve(&Options {
        tail: "[log]\naccess_journal_max_lag_millis = 60000\n".into(),
        ..Options::default()
    });
    let till = gw.client(Some("till"));
    let list = cnics(&gw, 10);
    let blocker = block_writes(&gw);
    let mut answered = Vec::new();
    for cnic in &list {
        let res = till
            .get(format!("{}/v1/pmt/{cnic}", gw.base))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        answered.push(request_id(&res));
    }
    // None of them can be in the database yet.
    let mut reader = gw.db.url.connect().unwrap();
    let in_db: Vec<String> = access_log::table
        .select(access_log::request_id)
        .load(&mut reader)
        .unwrap();
    assert!(answered.iter().all(|id| !in_db.contains(id)));
    // Kill the gateway with its journal not applied; the next reader of the
    // log (here `audit verify`, with no gateway running) applies it.
    gw.kill();
    drop(blocker);
    let (ok, text) = verify(&gw);
    assert!(ok, "{text}");
    let log = log_by_request(&gw);
    for id in &answered {
        assert_eq!(log.get(id).map(|r| (r.0, r.1)), Some((200, 1)), "{id}");
    }
    assert!(verify(&gw).0);
}

#[test]
fn tampering_with_the_log_is_caught() {
    for db in TestDb::all() {
        let backend = db.backend();
        let gw = setup(db).serve(&Options::default());
        let till = gw.client(Some("till"));
        for cnic in cnics(&gw, 12) {
            assert_eq!(
                till.get(format!("{}/v1/pmt/{cnic}", gw.base))
                    .send()
                    .unwrap()
                    .status(),
                200
            );
        }
        assert!(verify(&gw).0, "{backend}");
        let mut conn = gw.conn();
        let target: (i64, i64) = access_log::table
            .select((access_log::id, access_log::batch_id))
            .order(access_log::id)
            .offset(5)
            .first(&mut conn)
            .unwrap();
        // Edit a record: the chain names its batch.
        diesel::update(access_log::table.find(target.0))
            .set(access_log::rows_returned.eq(0))
            .execute(&mut conn)
            .unwrap();
        let (ok, text) = verify(&gw);
        assert!(
            !ok && text.contains(&format!("batch {}", target.1)),
            "{backend}: {text}"
        );
        diesel::update(access_log::table.find(target.0))
            .set(access_log::rows_returned.eq(1))
            .execute(&mut conn)
            .unwrap();
        assert!(
            verify(&gw).0,
            "{backend}: restoring the value restores the chain"
        );
        // Change a record's subject key (not itself hashed): that would hide
        // the record from the subject query, and verify names its batch.
        let key: Option<i64> = access_log::table
            .find(target.0)
            .select(access_log::subject_key)
            .first(&mut conn)
            .unwrap();
        assert!(key.is_some(), "{backend}: a CNIC search has a subject key");
        diesel::update(access_log::table.find(target.0))
            .set(access_log::subject_key.eq(key.map(|k| k ^ 1)))
            .execute(&mut conn)
            .unwrap();
        let (ok, text) = verify(&gw);
        assert!(
            !ok && text.contains(&format!("batch {}", target.1)) && text.contains("subject key"),
            "{backend}: {text}"
        );
        diesel::update(access_log::table.find(target.0))
            .set(access_log::subject_key.eq(key))
            .execute(&mut conn)
            .unwrap();
        assert!(verify(&gw).0, "{backend}");
        // Delete a record.
        diesel::delete(access_log::table.find(target.0))
            .execute(&mut conn)
            .unwrap();
        let (ok, text) = verify(&gw);
        assert!(
            !ok && text.contains(&format!("batch {}", target.1)),
            "{backend}: {text}"
        );
        // Delete the newest batch and its records: the head betrays it.
        let gw2 = setup(TestDb::sqlite()).serve(&Options::default());
        let till2 = gw2.client(Some("till"));
        for cnic in cnics(&gw2, 3) {
            till2
                .get(format!("{}/v1/pmt/{cnic}", gw2.base))
                .send()
                .unwrap();
        }
        let mut c2 = gw2.conn();
        let last: i64 = store::schema::access_batches::table
            .select(diesel::dsl::max(store::schema::access_batches::id))
            .first::<Option<i64>>(&mut c2)
            .unwrap()
            .unwrap();
        diesel::delete(access_log::table.filter(access_log::batch_id.eq(last)))
            .execute(&mut c2)
            .unwrap();
        diesel::delete(store::schema::access_batches::table.find(last))
            .execute(&mut c2)
            .unwrap();
        let (ok, text) = verify(&gw2);
        assert!(!ok && text.contains("missing"), "{text}");
    }
}

#[test]
fn a_grant_row_quota_is_enforced_and_says_what_remains() {
    for db in TestDb::all() {
        let backend = db.backend();
        let s = Setup::new(db, 50);
        s.new_client(
            "till",
            "Utility Stores Corporation",
            "federal_government",
            "machine",
            &[],
        );
        let (from, to) = crate::helpers::grant_validity();
        s.cli(&[
            "grants",
            "add",
            "--organisation",
            "Utility Stores Corporation",
            "--search-types",
            "pmt_by_cnic",
            "--classes",
            "confidential",
            "--purpose",
            "quota test",
            "--row-quota",
            "3",
            "--valid-from",
            &from.to_string(),
            "--valid-to",
            &to.to_string(),
            "--approved-by",
            "dg_nser",
        ]);
        let gw = s.serve(&Options::default());
        let till = gw.client(Some("till"));
        let list = cnics(&gw, 5);
        for cnic in &list[..3] {
            assert_eq!(
                till.get(format!("{}/v1/pmt/{cnic}", gw.base))
                    .send()
                    .unwrap()
                    .status(),
                200,
                "{backend}"
            );
        }
        // Once the quota is used up every lookup is refused, found or not (no probing).
        assert_eq!(
            till.get(format!("{}/v1/pmt/3520299999991", gw.base))
                .send()
                .unwrap()
                .status(),
            403,
            "{backend}"
        );
        let res = till
            .get(format!("{}/v1/pmt/{}", gw.base, list[3]))
            .send()
            .unwrap();
        assert_eq!(res.status(), 403, "{backend}");
        let body: serde_json::Value = res.json().unwrap();
        assert!(
            body["type"].as_str().unwrap().ends_with("/quota-exhausted"),
            "{backend}: {body}"
        );
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("3 rows") && detail.contains("0 remain"),
            "{backend}: {detail}"
        );
    }
}

#[test]
fn a_registry_whose_log_file_is_lost_is_not_served() {
    let mut gw = setup(TestDb::sqlite()).serve(&Options::default());
    let till = gw.client(Some("till"));
    let res = till
        .get(format!("{}/v1/pmt/{}", gw.base, cnics(&gw, 1)[0]))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let answered = request_id(&res);
    gw.kill();

    // The log's own file (store::logfile) goes missing.
    let log = gw.db.url.access_log_path().unwrap();
    assert!(log.exists(), "the log is not in {}", log.display());
    let aside = gw.dir.0.join("aside");
    std::fs::rename(&log, &aside).unwrap();
    let config = gw.dir.0.join("gateway.toml");
    let out = Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "served without its log: {err}");
    assert!(
        err.contains("access-log") && err.contains("missing"),
        "{err}"
    );
    let (ok, text) = verify(&gw);
    assert!(!ok && text.contains("missing"), "{text}");
    assert!(!log.exists(), "a new, empty log was started");

    // Restored, the log is whole and holds the answer given before.
    std::fs::rename(&aside, &log).unwrap();
    let (ok, text) = verify(&gw);
    assert!(ok, "{text}");
    assert!(log_by_request(&gw).contains_key(&answered));
}
