//! When a CronJob next starts a Job: its pods read the Secrets' values then, so the next run is
//! when a rotated value reaches it. Schedules are read as the CronJob controller reads them:
//! five fields (minute hour day-of-month month day-of-week, a day matching either day field
//! when both are restricted) or a `@daily`-style macro, in `spec.timeZone` or else UTC.

use std::str::FromStr as _;

use jiff::Timestamp;

/// The first run strictly after `after`. An unknown time zone or a schedule this parser does
/// not read is said, never guessed.
pub fn next_run(schedule: &str, time_zone: Option<&str>, after: Timestamp) -> Result<Timestamp, String> {
    let cron = croner::Cron::from_str(schedule.trim()).map_err(|e| format!("schedule {schedule:?}: {e}"))?;
    // The zone's offset at `after` (a run across a daylight-saving change may be an hour off).
    let offset = match time_zone {
        Some(name) => jiff::tz::TimeZone::get(name)
            .map_err(|e| format!("time zone {name:?}: {e}"))?
            .to_offset(after)
            .seconds(),
        None => 0,
    };
    let offset = chrono::FixedOffset::east_opt(offset).ok_or_else(|| format!("time zone offset {offset}s"))?;
    let start = chrono::DateTime::from_timestamp(after.as_second(), 0)
        .ok_or_else(|| format!("time {after}"))?
        .with_timezone(&offset);
    let next = cron
        .find_next_occurrence(&start, false)
        .map_err(|e| format!("schedule {schedule:?}: {e}"))?;
    Timestamp::from_second(next.timestamp()).map_err(|e| e.to_string())
}

/// Each CronJob's next run after `now` (or why it cannot be told); suspended ones have none.
pub fn fill_next_runs(workloads: &mut [super::model::Workload], now: Timestamp) {
    for schedule in workloads.iter_mut().filter_map(|w| w.schedule.as_mut()) {
        if schedule.suspended {
            continue;
        }
        match next_run(&schedule.schedule, schedule.time_zone.as_deref(), now) {
            Ok(at) => schedule.next_run = Some(at),
            Err(problem) => schedule.problem = Some(problem),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn next_runs_follow_the_controller_rules() {
        let now = at("2026-11-30T06:45:10Z");
        assert_eq!(next_run("0 3 * * *", None, now), Ok(at("2026-12-01T03:00:00Z")));
        assert_eq!(next_run("*/15 * * * *", None, now), Ok(at("2026-11-30T07:00:00Z")));
        assert_eq!(next_run("@hourly", None, now), Ok(at("2026-11-30T07:00:00Z")));
        // Sunday is 0; 2026-11-30 is a Monday.
        assert_eq!(next_run("0 0 * * 0", None, now), Ok(at("2026-12-06T00:00:00Z")));
        // Either day field matches when both are restricted (the 1st, or any Friday).
        assert_eq!(next_run("0 0 1 * 5", None, now), Ok(at("2026-12-01T00:00:00Z")));
        // 03:00 in Berlin (UTC+1 in winter).
        assert_eq!(
            next_run("0 3 * * *", Some("Europe/Berlin"), now),
            Ok(at("2026-12-01T02:00:00Z"))
        );
        assert!(next_run("0 3 * * *", Some("Mars/Olympus"), now)
            .unwrap_err()
            .contains("Mars/Olympus"));
        assert!(next_run("every day", None, now).is_err());
    }
}
