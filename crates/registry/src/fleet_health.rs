//! Fleet health: the latest heartbeat of every terminal in either store, and what the centre
//! reads from it (last seen, the worst check, stale when silent too long) for `/metrics` and
//! `registry terminal list`. It verifies nothing (the server takes only heartbeats whose fleet
//! request the terminal signed) and reads no clock (`now` comes in).

use enroll_core::domain::time::UnixMs;
use enroll_protocol::heartbeat::{CheckState, Heartbeat};

use crate::holders::placeholders;
use crate::storage::{SqliteStorage, StorageError, TerminalEntry};

/// How long a terminal may stay silent before it shows as stale, unless configured.
pub const DEFAULT_STALE_AFTER_S: u64 = 900;

/// The table, the same for both stores (SQLite reads `BIGINT` as an integer).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS terminal_heartbeats (
    terminal_id TEXT PRIMARY KEY,
    sent_at_unix_ms BIGINT NOT NULL,
    received_at_unix_ms BIGINT NOT NULL,
    heartbeat TEXT NOT NULL
);
";

/// Keeps the heartbeat unless one the terminal sent later is kept already (two instances may
/// take a terminal's heartbeats out of order).
pub(crate) const KEEP: &str = "INSERT INTO terminal_heartbeats
     (terminal_id, sent_at_unix_ms, received_at_unix_ms, heartbeat) VALUES ({1}, {2}, {3}, {4})
     ON CONFLICT (terminal_id) DO UPDATE SET sent_at_unix_ms = excluded.sent_at_unix_ms,
         received_at_unix_ms = excluded.received_at_unix_ms, heartbeat = excluded.heartbeat
     WHERE terminal_heartbeats.sent_at_unix_ms <= excluded.sent_at_unix_ms";
pub(crate) const ALL: &str = "SELECT terminal_id, sent_at_unix_ms, received_at_unix_ms, heartbeat
     FROM terminal_heartbeats ORDER BY terminal_id";

/// A terminal's latest heartbeat as kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptHeartbeat {
    pub terminal_id: String,
    /// The terminal's own time when it sent it.
    pub sent_at_unix_ms: i64,
    /// The registry's time when it arrived.
    pub received_at_unix_ms: i64,
    pub heartbeat: Heartbeat,
}

/// Where heartbeats are kept.
pub trait HeartbeatStore {
    /// Keeps `heartbeat_json` (already checked) as the terminal's latest, unless a later one is.
    fn keep_heartbeat(
        &self,
        terminal_id: &str,
        sent_at: UnixMs,
        received_at: UnixMs,
        heartbeat_json: &str,
    ) -> Result<(), StorageError>;
    /// Every terminal's latest heartbeat, by terminal id.
    fn heartbeats(&self) -> Result<Vec<KeptHeartbeat>, StorageError>;
}

/// A kept row, read back (a row that no longer parses is skipped: it was checked when taken).
pub(crate) fn kept(
    terminal_id: String,
    sent_at_unix_ms: i64,
    received_at_unix_ms: i64,
    text: &str,
) -> Option<KeptHeartbeat> {
    Heartbeat::parse(text).ok().map(|heartbeat| KeptHeartbeat {
        terminal_id,
        sent_at_unix_ms,
        received_at_unix_ms,
        heartbeat,
    })
}

impl HeartbeatStore for SqliteStorage {
    fn keep_heartbeat(
        &self,
        terminal_id: &str,
        sent_at: UnixMs,
        received_at: UnixMs,
        heartbeat_json: &str,
    ) -> Result<(), StorageError> {
        self.lock()?.execute(
            &placeholders(KEEP, '?'),
            rusqlite::params![
                terminal_id,
                sent_at.as_i64(),
                received_at.as_i64(),
                heartbeat_json
            ],
        )?;
        Ok(())
    }

    fn heartbeats(&self) -> Result<Vec<KeptHeartbeat>, StorageError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(ALL)?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, sent, received, text) = row?;
            out.extend(kept(id, sent, received, &text));
        }
        Ok(out)
    }
}

/// How a terminal looks from the centre.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Liveness {
    /// Heard from within the stale time; its worst check.
    Reporting(CheckState),
    /// Silent for longer than the stale time.
    Stale,
    /// Never sent a heartbeat.
    Never,
    /// Revoked: not expected to report.
    Revoked,
}

impl Liveness {
    /// One word for the table: ok, warn, fail, stale, never, revoked.
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Reporting(state) => state.as_str(),
            Liveness::Stale => "stale",
            Liveness::Never => "never",
            Liveness::Revoked => "revoked",
        }
    }
}

/// A registered terminal with its latest heartbeat and how it looks now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TerminalHealthRow {
    #[serde(flatten)]
    pub terminal: TerminalEntry,
    pub liveness: Liveness,
    /// When the latest heartbeat arrived (registry time).
    pub last_seen_unix_ms: Option<i64>,
    /// The terminal's clock minus the registry's when it arrived (positive: the terminal is ahead).
    pub clock_offset_ms: Option<i64>,
    pub heartbeat: Option<HeartbeatView>,
}

/// The heartbeat's fields as listed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HeartbeatView {
    pub version: String,
    pub model_pack: String,
    pub queue_depth: u64,
    pub oldest_unsent_age_ms: Option<u64>,
    pub checks: std::collections::BTreeMap<String, CheckState>,
}

/// Joins the registered terminals with their heartbeats and judges each at `now`.
pub fn fleet(
    terminals: Vec<TerminalEntry>,
    heartbeats: Vec<KeptHeartbeat>,
    now: UnixMs,
    stale_after_ms: u64,
) -> Vec<TerminalHealthRow> {
    let mut heartbeats: std::collections::BTreeMap<String, KeptHeartbeat> = heartbeats
        .into_iter()
        .map(|kept| (kept.terminal_id.clone(), kept))
        .collect();
    terminals
        .into_iter()
        .map(|terminal| {
            let kept = heartbeats.remove(&terminal.id);
            let liveness = match (&terminal.revoked, &kept) {
                (Some(_), _) => Liveness::Revoked,
                (None, None) => Liveness::Never,
                (None, Some(kept)) => {
                    let silent_ms = now.as_i64().saturating_sub(kept.received_at_unix_ms);
                    if u64::try_from(silent_ms).unwrap_or(0) > stale_after_ms {
                        Liveness::Stale
                    } else {
                        Liveness::Reporting(kept.heartbeat.worst())
                    }
                }
            };
            TerminalHealthRow {
                liveness,
                last_seen_unix_ms: kept.as_ref().map(|k| k.received_at_unix_ms),
                clock_offset_ms: kept
                    .as_ref()
                    .map(|k| k.sent_at_unix_ms.saturating_sub(k.received_at_unix_ms)),
                heartbeat: kept.map(|k| HeartbeatView {
                    version: k.heartbeat.version,
                    model_pack: k.heartbeat.model_pack,
                    queue_depth: k.heartbeat.queue_depth,
                    oldest_unsent_age_ms: k.heartbeat.oldest_unsent_age_ms,
                    checks: k.heartbeat.checks,
                }),
                terminal,
            }
        })
        .collect()
}

/// The fleet as Prometheus gauges, one series per terminal (terminal ids and check names are
/// tokens; nothing personal).
pub fn render_metrics(rows: &[TerminalHealthRow], stale_after_ms: u64) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, series: Vec<(String, String)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, value) in series {
            out.push_str(&format!("{name}{{{labels}}} {value}\n"));
        }
    };
    let active = || rows.iter().filter(|row| row.terminal.revoked.is_none());
    gauge(
        "registry_terminal_up",
        &format!(
            "1 when the terminal sent a heartbeat within the last {} s, else 0 (stale or never).",
            stale_after_ms / 1000
        ),
        active()
            .map(|row| {
                let up = matches!(row.liveness, Liveness::Reporting(_));
                (label(&row.terminal.id), u8::from(up).to_string())
            })
            .collect(),
    );
    let reported =
        || active().filter_map(|row| Some((row, row.heartbeat.as_ref()?, row.last_seen_unix_ms?)));
    gauge(
        "registry_terminal_last_seen_seconds",
        "When the terminal's latest heartbeat arrived (Unix seconds, registry clock).",
        reported()
            .map(|(row, _, seen)| (label(&row.terminal.id), format_seconds(seen)))
            .collect(),
    );
    gauge(
        "registry_terminal_info",
        "The terminal's program version and model pack (always 1).",
        reported()
            .map(|(row, beat, _)| {
                (
                    format!(
                        "{},version=\"{}\",model_pack=\"{}\"",
                        label(&row.terminal.id),
                        beat.version,
                        beat.model_pack
                    ),
                    "1".to_owned(),
                )
            })
            .collect(),
    );
    gauge(
        "registry_terminal_queue_depth",
        "Records the terminal has not delivered yet, at its latest heartbeat.",
        reported()
            .map(|(row, beat, _)| (label(&row.terminal.id), beat.queue_depth.to_string()))
            .collect(),
    );
    gauge(
        "registry_terminal_oldest_unsent_seconds",
        "Age of the terminal's oldest undelivered record at its latest heartbeat (0: none).",
        reported()
            .map(|(row, beat, _)| {
                let age = beat.oldest_unsent_age_ms.unwrap_or(0);
                (
                    label(&row.terminal.id),
                    format_seconds(i64::try_from(age).unwrap_or(i64::MAX)),
                )
            })
            .collect(),
    );
    gauge(
        "registry_terminal_clock_offset_seconds",
        "The terminal's clock minus the registry's at its latest heartbeat.",
        reported()
            .filter_map(|(row, _, _)| {
                Some((
                    label(&row.terminal.id),
                    format_seconds(row.clock_offset_ms?),
                ))
            })
            .collect(),
    );
    gauge(
        "registry_terminal_check",
        "Each health check of the terminal at its latest heartbeat: 0 ok, 1 warn, 2 fail.",
        reported()
            .flat_map(|(row, beat, _)| {
                beat.checks.iter().map(move |(check, state)| {
                    (
                        format!("{},check=\"{check}\"", label(&row.terminal.id)),
                        state.level().to_string(),
                    )
                })
            })
            .collect(),
    );
    out
}

fn label(terminal_id: &str) -> String {
    format!("terminal=\"{terminal_id}\"")
}

fn format_seconds(ms: i64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminal(id: &str) -> TerminalEntry {
        TerminalEntry {
            id: id.into(),
            key_fingerprint: "00".repeat(32),
            registered_at_unix_ms: 0,
            records: 0,
            revoked: None,
        }
    }

    fn beat(id: &str, received_at_unix_ms: i64, storage: CheckState) -> KeptHeartbeat {
        KeptHeartbeat {
            terminal_id: id.into(),
            sent_at_unix_ms: received_at_unix_ms + 2_000,
            received_at_unix_ms,
            heartbeat: Heartbeat {
                version: "0.1.0".into(),
                model_pack: "open".into(),
                queue_depth: 4,
                oldest_unsent_age_ms: Some(90_000),
                checks: [
                    ("storage".to_owned(), storage),
                    ("queue".to_owned(), CheckState::Ok),
                ]
                .into(),
            },
        }
    }

    #[test]
    fn a_terminal_is_judged_by_its_worst_check_until_it_falls_silent_for_longer_than_the_stale_time()
     {
        let rows = fleet(
            vec![
                terminal("T-OK"),
                terminal("T-FAIL"),
                terminal("T-SILENT"),
                terminal("T-NEW"),
            ],
            vec![
                beat("T-OK", 1_000_000, CheckState::Ok),
                beat("T-FAIL", 1_000_000, CheckState::Fail),
                beat("T-SILENT", 1_000_000 - 900_001, CheckState::Ok),
            ],
            UnixMs(1_000_000),
            900_000,
        );
        let states: Vec<&str> = rows.iter().map(|row| row.liveness.as_str()).collect();
        assert_eq!(states, ["ok", "fail", "stale", "never"]);
        assert_eq!(rows[0].clock_offset_ms, Some(2_000));
    }

    #[test]
    fn the_metrics_show_the_failing_check_and_the_stale_terminal_as_down() {
        let rows = fleet(
            vec![terminal("T-FAIL"), terminal("T-SILENT")],
            vec![
                beat("T-FAIL", 1_000_000, CheckState::Fail),
                beat("T-SILENT", 0, CheckState::Ok),
            ],
            UnixMs(1_000_000),
            900_000,
        );
        let text = render_metrics(&rows, 900_000);
        assert!(
            text.contains("registry_terminal_check{terminal=\"T-FAIL\",check=\"storage\"} 2\n")
        );
        assert!(text.contains("registry_terminal_up{terminal=\"T-FAIL\"} 1\n"));
        assert!(text.contains("registry_terminal_up{terminal=\"T-SILENT\"} 0\n"));
        assert!(text.contains("registry_terminal_queue_depth{terminal=\"T-FAIL\"} 4\n"));
        assert!(
            text.contains("registry_terminal_oldest_unsent_seconds{terminal=\"T-FAIL\"} 90.000\n")
        );
    }

    #[test]
    fn a_revoked_terminal_is_not_expected_to_report() {
        let mut revoked = terminal("T-GONE");
        revoked.revoked = Some(crate::storage::Revocation {
            revoked_at_unix_ms: 5,
            reason: "stolen".into(),
        });
        let rows = fleet(vec![revoked], vec![], UnixMs(1_000_000), 900_000);
        assert_eq!(rows[0].liveness, Liveness::Revoked);
        assert!(!render_metrics(&rows, 900_000).contains("T-GONE"));
    }
}
