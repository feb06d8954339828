//! Jobs and CronJobs read Secrets too: a running Job's pods keep the values they started with
//! (verify says so, rotate never restarts a Job), and a CronJob's next run starts with the
//! current values (verify and the plan say when).

use jiff::tz::TimeZone;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::support::{canary, exit, workload, TestNamespace};

fn pod_spec() -> serde_json::Value {
    json!({"restartPolicy": "Never", "containers": [{"name": "task", "image": "task", "envFrom": [{"secretRef": {"name": "app"}}]}]})
}

/// 03:00 UTC next, as the CronJob controller (in UTC) will start it.
fn next_three_utc(now: Timestamp) -> Timestamp {
    let today = now
        .to_zoned(TimeZone::UTC)
        .date()
        .at(3, 0, 0, 0)
        .to_zoned(TimeZone::UTC)
        .unwrap();
    let at = today.timestamp();
    if at > now {
        at
    } else {
        at + jiff::SignedDuration::from_hours(24)
    }
}

#[tokio::test]
async fn running_jobs_are_reported_stale_and_cron_jobs_say_when_they_pick_up_the_new_value() {
    let ns = TestNamespace::new("jobs").await;
    let value = canary("jobs");
    ns.secret("app", &[("TOKEN", &value)]).await;
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "migrate"},
        "spec": {"backoffLimit": 0, "template": {"spec": pod_spec()}}
    }))
    .unwrap();
    Api::<Job>::namespaced(ns.client.clone(), &ns.name)
        .create(&PostParams::default(), &job)
        .await
        .unwrap();
    let cron: CronJob = serde_json::from_value(json!({
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": pod_spec()}}}}
    }))
    .unwrap();
    Api::<CronJob>::namespaced(ns.client.clone(), &ns.name)
        .create(&PostParams::default(), &cron)
        .await
        .unwrap();
    // The Job's pod runs (kwok keeps it running).
    for _ in 0..120 {
        let before = ns.run(&["verify", "app", "-o", "json"]).json();
        let checked = before["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "Job" && w["containersChecked"] == 1);
        if checked {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    crate::support::next_second().await;

    let started = Timestamp::now();
    let run = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    let expected = next_three_utc(started);
    // The Job still runs with the old value: the rotation is done, and says so (exit 1).
    assert_eq!(run.code, exit::FOUND, "{run:?}");
    let plan_line = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in the plan: {}", run.stdout))
            .to_string()
    };
    assert!(
        plan_line("job/migrate").contains("never restarted: its running pods keep the old values until they finish"),
        "{}",
        run.stdout
    );
    assert!(
        plan_line("cronjob/nightly").contains(&format!("none: its next run, at {expected}, reads the new values")),
        "{}",
        run.stdout
    );
    // The check after the rotation shows both: the stale Job and the CronJob's next run.
    assert!(
        run.stdout
            .contains(&format!("next run {expected} (0 3 * * *) reads the current values")),
        "{}",
        run.stdout
    );

    let verify = ns.run(&["verify", "app", "-o", "json"]);
    assert_eq!(verify.code, exit::FOUND, "{verify:?}");
    let report = verify.json();
    let job = workload(&report, "Job", "migrate");
    assert_eq!(job["status"], "stale", "{report}");
    assert_eq!(job["findings"][0]["evidence"], "time", "{report}");
    let cron = workload(&report, "CronJob", "nightly");
    assert_eq!(cron["status"], "ok", "{report}");
    assert_eq!(cron["schedule"]["schedule"], "0 3 * * *");
    assert_eq!(cron["schedule"]["nextRun"], expected.to_string(), "{report}");
    let table = ns.run(&["verify", "app"]);
    assert!(
        table
            .stdout
            .contains(&format!("next run {expected} (0 3 * * *) reads the current values")),
        "{}",
        table.stdout
    );

    // verify --fix restarts nothing here: a Job is never restarted.
    let fix = ns.run(&["verify", "app", "--fix", "--yes"]);
    assert!(
        fix.stdout
            .contains("is a Job: its running pods keep the old values until they finish"),
        "the plan is on stdout: {fix:?}"
    );
    let new_value = String::from_utf8(ns.secret_data("app").await["TOKEN"].clone()).unwrap();
    for out in [&run, &verify, &table, &fix] {
        out.assert_no_leak([&value, &new_value]);
    }
}
