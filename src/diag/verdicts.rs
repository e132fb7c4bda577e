//! The rules that turn measurements into ok / warn / fail, with every threshold in one place and
//! tested without devices. It measures nothing and reads no clock: times come in as values.

use super::Status;
use enroll_core::domain::time::UnixMs;

/// Beyond this the clock is wrong, not just drifting: record times and certificate checks break.
pub const CLOCK_FAIL_MS: i64 = 24 * 60 * 60 * 1000;
/// A camera slower than this share of its configured rate makes guidance lag.
pub const CAMERA_SLOW_SHARE: f64 = 0.8;
/// Free disk below this many times the guard floor is a warning (the guard is near).
pub const DISK_WARN_FACTOR: u64 = 2;
/// A write-ahead log larger than this means checkpoints are not happening.
pub const WAL_WARN_BYTES: u64 = 64 * 1024 * 1024;
/// Records waiting longer than this are worth a look even before the guard stops enrollments.
pub const QUEUE_AGE_WARN_MS: i64 = 24 * 60 * 60 * 1000;
/// A registry slower than this to answer `/healthz` is a warning.
pub const LATENCY_WARN_MS: u64 = 2_000;
/// A registry certificate closer than this to its end is a warning.
pub const CERT_WARN_DAYS: i64 = 30;

/// A verdict: status, the measured value in words, and what to do (when not ok).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    pub value: String,
    pub advice: Option<String>,
}

impl Verdict {
    fn ok(value: String) -> Verdict {
        Verdict {
            status: Status::Ok,
            value,
            advice: None,
        }
    }

    fn problem(status: Status, value: String, advice: &str) -> Verdict {
        Verdict {
            status,
            value,
            advice: Some(advice.to_owned()),
        }
    }
}

/// A duration in words: "850 ms", "42 s", "3 min", "5 h 10 min", "2 d 3 h".
pub fn duration_words(ms: i64) -> String {
    let ms = ms.unsigned_abs();
    let s = ms / 1000;
    match s {
        0 => format!("{ms} ms"),
        1..=119 => format!("{s} s"),
        120..=7_199 => format!("{} min", s / 60),
        7_200..=172_799 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The times of the newest registry receipt: the registry's own time in it, and when this
/// terminal stored it (its clock then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiptTimes {
    pub registry_unix_ms: UnixMs,
    pub stored_unix_ms: UnixMs,
}

/// The clock against the registry: its `Date` now when it answers, else the last receipt.
pub fn clock(
    now_unix_ms: UnixMs,
    registry_now_unix_ms: Option<UnixMs>,
    last_receipt: Option<ReceiptTimes>,
    warn_min: u32,
) -> Verdict {
    let warn_ms = i64::from(warn_min) * 60_000;
    let judge = |skew_ms: i64, against: &str| {
        let ahead = if skew_ms >= 0 { "ahead of" } else { "behind" };
        let value = if skew_ms == 0 {
            format!("in step with {against} (within a second)")
        } else {
            format!("{} {ahead} {against}", duration_words(skew_ms))
        };
        let advice = "set the system time (timedatectl set-ntp true, or set it by hand from a \
                      trusted clock); records carry the terminal's time";
        if skew_ms.abs() >= CLOCK_FAIL_MS {
            Verdict::problem(Status::Fail, value, advice)
        } else if skew_ms.abs() > warn_ms {
            Verdict::problem(Status::Warn, value, advice)
        } else {
            Verdict::ok(value)
        }
    };
    if let Some(registry_now) = registry_now_unix_ms {
        // The Date header has whole seconds: up to a second of difference is rounding.
        let skew_ms = now_unix_ms - registry_now;
        let skew_ms = if skew_ms.abs() < 1_000 { 0 } else { skew_ms };
        return judge(skew_ms, "the registry");
    }
    match last_receipt {
        Some(receipt) if now_unix_ms < receipt.registry_unix_ms => judge(
            now_unix_ms - receipt.registry_unix_ms,
            "the registry's last receipt (the clock went back)",
        ),
        Some(receipt) => judge(
            receipt.stored_unix_ms - receipt.registry_unix_ms,
            "the registry at its last receipt",
        ),
        None => Verdict::problem(
            Status::Warn,
            "no reference: the registry does not answer and has sent no receipt yet".into(),
            "compare the system time with a trusted clock by hand, or run the check again when \
             the registry answers",
        ),
    }
}

/// The camera's measured frame rate against the configured one.
pub fn camera(frames: u64, fps_measured: f64, fps_configured: u32, sample_ms: u64) -> Verdict {
    if frames == 0 {
        return Verdict::problem(
            Status::Fail,
            format!("no picture in {}", duration_words(sample_ms as i64)),
            "check the camera's cable and that no other program uses it; for a file camera, \
             that camera.frames_dir holds pictures",
        );
    }
    let value = format!("{fps_measured:.1} fps (configured {fps_configured})");
    if fps_measured < f64::from(fps_configured) * CAMERA_SLOW_SHARE {
        Verdict::problem(
            Status::Warn,
            value,
            "the camera is slower than configured: use a USB 2 port of its own, more light, or \
             a lower camera.frame_rate_fps",
        )
    } else {
        Verdict::ok(value)
    }
}

/// Free disk against the guard's floor, and the write-ahead log's size.
pub fn storage(free_mb: u64, floor_mb: u64, wal_bytes: u64) -> Verdict {
    let value = format!("{free_mb} MB free (floor {floor_mb} MB)");
    if free_mb < floor_mb {
        Verdict::problem(
            Status::Fail,
            value,
            "new enrollments are paused: free disk space (old logs, not the outbox); queued \
             records are safe",
        )
    } else if free_mb < floor_mb.saturating_mul(DISK_WARN_FACTOR) {
        Verdict::problem(
            Status::Warn,
            value,
            "the disk is nearly at the floor where enrollments pause: free space soon",
        )
    } else if wal_bytes > WAL_WARN_BYTES {
        Verdict::problem(
            Status::Warn,
            format!("{value}; write-ahead log {} MB", wal_bytes / (1024 * 1024)),
            "the write-ahead log is not being checkpointed: restart the kiosk",
        )
    } else {
        Verdict::ok(value)
    }
}

/// The queue's counts and age.
pub fn queue(
    unsent: u64,
    rejected: u64,
    oldest_unsent_age_ms: Option<i64>,
    max_unsent: u64,
) -> Verdict {
    let age = oldest_unsent_age_ms
        .map(|age| format!(", oldest {}", duration_words(age)))
        .unwrap_or_default();
    let value = format!("{unsent} unsent{age}, {rejected} rejected");
    if rejected > 0 {
        Verdict::problem(
            Status::Warn,
            value,
            "the registry refused records: see `kiosk queue list` for the reasons and tell the \
             registry's operators",
        )
    } else if oldest_unsent_age_ms.is_some_and(|age| age > QUEUE_AGE_WARN_MS)
        || unsent.saturating_mul(10) >= max_unsent.saturating_mul(8)
    {
        Verdict::problem(
            Status::Warn,
            value,
            "records are waiting long: connect the terminal to the network (see the network \
             check) before the guard pauses enrollments",
        )
    } else {
        Verdict::ok(value)
    }
}

/// The registry link: reachable, how fast, and its certificate's remaining days (https).
pub fn network(latency_ms: u64, cert_days_left: Option<i64>) -> Verdict {
    let days = cert_days_left
        .map(|days| format!("; certificate valid {days} more days"))
        .unwrap_or_default();
    let value = format!("answers in {latency_ms} ms{days}");
    match cert_days_left {
        Some(days) if days < 0 => {
            return Verdict::problem(
                Status::Fail,
                value,
                "the registry's certificate has expired: tell the registry's operators",
            );
        }
        Some(days) if days < CERT_WARN_DAYS => {
            return Verdict::problem(
                Status::Warn,
                value,
                "the registry's certificate ends soon: tell the registry's operators",
            );
        }
        _ => {}
    }
    if latency_ms > LATENCY_WARN_MS {
        Verdict::problem(
            Status::Warn,
            value,
            "the registry answers slowly: check the network link",
        )
    } else {
        Verdict::ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const DAY: i64 = 24 * 60 * MIN;
    const NOW: UnixMs = UnixMs(1_795_000_000_000);

    #[test]
    fn the_clock_is_judged_against_the_registry_when_it_answers() {
        let cases = [
            (
                NOW,
                Status::Ok,
                "in step with the registry (within a second)",
            ),
            (
                NOW - 400,
                Status::Ok,
                "in step with the registry (within a second)",
            ),
            (NOW - 3 * MIN, Status::Ok, "3 min ahead of the registry"),
            (NOW + 7 * MIN, Status::Warn, "7 min behind the registry"),
            (NOW - 2 * DAY, Status::Fail, "2 d 0 h ahead of the registry"),
        ];
        for (registry_now, status, value) in cases {
            let verdict = clock(NOW, Some(registry_now), None, 5);
            assert_eq!((verdict.status, verdict.value.as_str()), (status, value));
            assert_eq!(verdict.advice.is_some(), status != Status::Ok);
        }
    }

    #[test]
    fn offline_the_last_receipt_is_the_reference() {
        let receipt = ReceiptTimes {
            registry_unix_ms: NOW - DAY,
            stored_unix_ms: NOW - DAY + 2_000,
        };
        assert_eq!(clock(NOW, None, Some(receipt), 5).status, Status::Ok);
        // The clock now reads two days before the registry's last receipt: it went back.
        let back = clock(NOW - 3 * DAY, None, Some(receipt), 5);
        assert_eq!(back.status, Status::Fail);
        assert!(back.value.contains("went back"), "{}", back.value);
        // It was already off when the receipt came.
        let drifted = ReceiptTimes {
            stored_unix_ms: NOW - DAY + 20 * MIN,
            ..receipt
        };
        assert_eq!(clock(NOW, None, Some(drifted), 5).status, Status::Warn);
        assert_eq!(clock(NOW, None, None, 5).status, Status::Warn);
    }

    #[test]
    fn camera_storage_queue_and_network_thresholds() {
        assert_eq!(camera(0, 0.0, 30, 3000).status, Status::Fail);
        assert_eq!(camera(60, 20.0, 30, 3000).status, Status::Warn);
        assert_eq!(camera(90, 29.7, 30, 3000).status, Status::Ok);

        assert_eq!(storage(100, 200, 0).status, Status::Fail);
        assert_eq!(storage(300, 200, 0).status, Status::Warn);
        assert_eq!(storage(5_000, 200, WAL_WARN_BYTES + 1).status, Status::Warn);
        assert_eq!(storage(5_000, 200, 4096).status, Status::Ok);

        assert_eq!(queue(0, 0, None, 1000).status, Status::Ok);
        assert_eq!(queue(3, 0, Some(10 * MIN), 1000).status, Status::Ok);
        assert_eq!(queue(3, 0, Some(2 * DAY), 1000).status, Status::Warn);
        assert_eq!(queue(800, 0, Some(MIN), 1000).status, Status::Warn);
        assert_eq!(queue(0, 1, None, 1000).status, Status::Warn);

        assert_eq!(network(12, None).status, Status::Ok);
        assert_eq!(network(12, Some(200)).status, Status::Ok);
        assert_eq!(network(12, Some(10)).status, Status::Warn);
        assert_eq!(network(12, Some(-1)).status, Status::Fail);
        assert_eq!(network(2_500, None).status, Status::Warn);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_words(850), "850 ms");
        assert_eq!(duration_words(-42_000), "42 s");
        assert_eq!(duration_words(3 * MIN), "3 min");
        assert_eq!(duration_words(5 * 60 * MIN + 10 * MIN), "5 h 10 min");
        assert_eq!(duration_words(2 * DAY + 3 * 60 * MIN), "2 d 3 h");
    }
}
