//! Wall-clock formatting: UTC timestamps for log lines, webhook payloads and file names, read
//! off the `time` crate (already in the dependency tree through the cookie store).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// (year, month, day, hour, minute, second, millisecond) in UTC.
fn civil(t: SystemTime) -> (i32, u8, u8, u8, u8, u8, u16) {
    let d = OffsetDateTime::from(t.max(UNIX_EPOCH));
    (
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.millisecond(),
    )
}

/// `2026-11-24T09:30:00.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, ms) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// `09:30:00.123`, for log lines.
pub fn utc_hms(t: SystemTime) -> String {
    let (_, _, _, h, mi, s, ms) = civil(t);
    format!("{h:02}:{mi:02}:{s:02}.{ms:03}")
}

/// `20261124-093000`, for file names that sort by time.
pub fn compact(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = civil(t);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}

/// Seconds since the Unix epoch, as Lua and JSON like them.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// `2026-11-24 17:10:12+0000`, the shape of pretix's `data-expires`.
pub fn pretix_expires(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = civil(t);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}+0000")
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
    }
}
