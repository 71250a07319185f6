//! Times for people, the same on the server and in the browser: the server renders in UTC; once
//! the page is interactive every label switches to the browser's time zone (a signal in the
//! context, see [`provide_local_offset`]). Rendering both halves from the same inputs keeps
//! hydration exact.
//!
//! Moments travel as RFC 3339 text (`2026-12-06T17:48:53.123Z`), parsed here without a date
//! library (none is in the browser bundle).

use leptos::prelude::*;

/// Minutes east of UTC of the browser's zone (0 on the server and until hydrated).
#[derive(Clone, Copy)]
pub struct LocalOffset(pub RwSignal<i32>);

/// Call once at the top of the app: the offset becomes the browser's after hydration.
pub fn provide_local_offset() {
    let offset = RwSignal::new(0);
    provide_context(LocalOffset(offset));
    Effect::new(move |_| {
        // getTimezoneOffset is minutes *behind* UTC.
        let minutes = -(js_sys_offset());
        offset.set(minutes);
    });
}

#[cfg(feature = "hydrate")]
fn js_sys_offset() -> i32 {
    js_sys::Date::new_0().get_timezone_offset() as i32
}

#[cfg(not(feature = "hydrate"))]
fn js_sys_offset() -> i32 {
    0
}

pub fn offset() -> i32 {
    use_context::<LocalOffset>().map_or(0, |o| o.0.get())
}

/// Milliseconds since the epoch of an RFC 3339 UTC timestamp (`Z` or `+00:00`).
pub fn parse_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        std::str::from_utf8(b.get(r)?).ok()?.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let millis = if b.get(19) == Some(&b'.') {
        let digits: String = text[20..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let padded = format!("{digits:0<3}");
        padded.get(..3)?.parse().ok()?
    } else {
        0
    };
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day number (the inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The local day number of a moment.
pub fn day_of(ms: i64, offset_minutes: i32) -> i64 {
    (ms + i64::from(offset_minutes) * 60_000).div_euclid(86_400_000)
}

/// `14:05`.
pub fn clock(ms: i64, offset_minutes: i32) -> String {
    let local = ms + i64::from(offset_minutes) * 60_000;
    let minutes = local.div_euclid(60_000).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `6 Dec 2026`.
pub fn date(ms: i64, offset_minutes: i32) -> String {
    let (y, m, d) = civil_from_days(day_of(ms, offset_minutes));
    let month = MONTHS[usize::try_from(m - 1).unwrap_or(0).min(11)];
    format!("{d} {month} {y}")
}

/// A label for a list: the time when it is today's (relative to `now_ms`), else the date.
pub fn short(ms: i64, now_ms: i64, offset_minutes: i32) -> String {
    if day_of(ms, offset_minutes) == day_of(now_ms, offset_minutes) {
        clock(ms, offset_minutes)
    } else {
        date(ms, offset_minutes)
    }
}

/// A label for a day separator: `Today`, `Yesterday` or the date.
pub fn day_label(ms: i64, now_ms: i64, offset_minutes: i32) -> String {
    let (day, today) = (day_of(ms, offset_minutes), day_of(now_ms, offset_minutes));
    match today - day {
        0 => "Today".into(),
        1 => "Yesterday".into(),
        _ => date(ms, offset_minutes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_like_a_calendar() {
        let ms = parse_ms("2026-12-06T17:48:53.123Z").unwrap();
        assert_eq!(ms, 1_796_579_333_123);
        assert_eq!(parse_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_ms("2000-02-29T12:00:00.5+00:00"),
            Some(951_825_600_500)
        );
        assert_eq!(clock(ms, 0), "17:48");
        assert_eq!(clock(ms, 60), "18:48");
        assert_eq!(clock(ms, -18 * 60), "23:48");
        assert_eq!(date(ms, 0), "6 Dec 2026");
        assert_eq!(date(ms, 7 * 60), "7 Dec 2026");
        assert_eq!(day_label(ms, ms, 0), "Today");
        assert_eq!(day_label(ms, ms + 86_400_000, 0), "Yesterday");
        assert_eq!(short(ms, ms + 3 * 86_400_000, 0), "6 Dec 2026");
        assert_eq!(parse_ms("garbage"), None);
        assert_eq!(parse_ms(""), None);
        for days in [-1000, 0, 365, 20_000, 60_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
