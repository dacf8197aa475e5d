//! Wall-clock formatting: UTC timestamps for log lines, webhook payloads and file names, and the
//! local time of day for `--until 22:30`, all by the `time` crate (already in the dependency tree
//! through the cookie store). A leaf: the log and every other module may use it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

// Fixed-width forms, milliseconds truncated. (`well_known::Rfc3339` writes as many fraction
// digits as the instant needs, none at a whole second: log columns would not line up, and every
// reader of these has always seen three.)
const RFC3339_MS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
const HMS_MS: &[BorrowedFormatItem<'_>] =
    format_description!("[hour]:[minute]:[second].[subsecond digits:3]");
const COMPACT: &[BorrowedFormatItem<'_>] =
    format_description!("[year][month][day]-[hour][minute][second]");
const PRETIX_EXPIRES: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]+0000");

/// `t` in UTC, in `form` (an instant before 1970 as 1970's first).
fn utc(t: SystemTime, form: &[BorrowedFormatItem<'_>]) -> String {
    OffsetDateTime::from(t.max(UNIX_EPOCH))
        .format(form)
        .unwrap_or_default()
}

/// `2026-11-24T09:30:00.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    utc(t, RFC3339_MS)
}

/// `09:30:00.123`, for log lines.
pub fn utc_hms(t: SystemTime) -> String {
    utc(t, HMS_MS)
}

/// `20261124-093000`, for file names that sort by time.
pub fn compact(t: SystemTime) -> String {
    utc(t, COMPACT)
}

/// The seconds since local midnight at `t`, in the system's time zone (UTC where the zone cannot
/// be read). The `time` crate reads the zone with `localtime_r`; it no longer refuses in a
/// multi-threaded process (0.3.37 on), and nothing here changes `TZ` while it reads.
pub fn local_seconds_of_day(t: SystemTime) -> u32 {
    let at = OffsetDateTime::from(t.max(UNIX_EPOCH));
    let local = at.to_offset(UtcOffset::local_offset_at(at).unwrap_or(UtcOffset::UTC));
    let (h, m, s) = local.to_hms();
    u32::from(h) * 3600 + u32::from(m) * 60 + u32::from(s)
}

/// Seconds since the Unix epoch, as Lua and JSON like them.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// `2026-11-24 17:10:12+0000`, the shape of pretix's `data-expires`.
pub fn pretix_expires(t: SystemTime) -> String {
    utc(t, PRETIX_EXPIRES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_millis(1_766_662_316_596);
        assert_eq!(rfc3339(t), "2025-12-25T11:31:56.596Z");
        assert_eq!(utc_hms(t), "11:31:56.596");
        assert_eq!(compact(t), "20251225-113156");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // A leap day.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
        assert_eq!(pretix_expires(leap), "2000-02-29 00:00:00+0000");
        // Truncated, never rounded up into the next second.
        let late = UNIX_EPOCH + Duration::from_nanos(59_999_999_999);
        assert_eq!(rfc3339(late), "1970-01-01T00:00:59.999Z");
        assert_eq!(utc_hms(late), "00:00:59.999");
    }

    #[test]
    fn local_midnight_is_within_a_day() {
        assert!(local_seconds_of_day(SystemTime::now()) < 86_400);
    }
}
