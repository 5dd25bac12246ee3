//! The simulated clock and its date formatting (UTC; no time-zone database needed).
//!
//! The clock starts at a fixed epoch on `pve-sim init` and moves forward by each operation's
//! simulated duration, so snapshot times and audit records are reproducible.

/// 2026-01-01 00:00:00 UTC.
pub const EPOCH_START: u64 = 1_767_225_600;

/// `YYYY-MM-DD HH:MM:SS` for a Unix time (UTC).
pub fn format(t: u64) -> String {
    let days = t / 86_400;
    let secs = t % 86_400;
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(format(EPOCH_START), "2026-01-01 00:00:00");
        assert_eq!(format(0), "1970-01-01 00:00:00");
        assert_eq!(format(1_709_208_000 + 3_661), "2024-02-29 13:01:01");
    }
}
