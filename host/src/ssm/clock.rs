//! The few date and time forms SSM documents use, in UTC: ISO 8601
//! durations (`PT10M`) and timestamps (`2026-11-27T12:00:00Z`), and the
//! `global:DATE` / `global:DATE_TIME` formats. Hand-written because they are
//! small and exact; the civil-date arithmetic is Howard Hinnant's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 for a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date for days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The calendar fields of a moment, in UTC.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    millis: u32,
}

fn civil(at: SystemTime) -> Civil {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    Civil {
        year,
        month,
        day,
        hour: of_day / 3600,
        minute: of_day % 3600 / 60,
        second: of_day % 60,
        millis: since.subsec_millis(),
    }
}

/// RFC 3339 with milliseconds: `2026-11-27T12:00:00.123Z`.
pub fn rfc3339(at: SystemTime) -> String {
    let c = civil(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
    )
}

/// `global:DATE`: `yyyy-MM-dd`.
pub fn date(at: SystemTime) -> String {
    let c = civil(at);
    format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
}

/// `global:DATE_TIME`: `yyyy-MM-dd_HH.mm.ss`.
pub fn date_time(at: SystemTime) -> String {
    let c = civil(at);
    format!(
        "{:04}-{:02}-{:02}_{:02}.{:02}.{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// An ISO 8601 duration such as `PT10S`, `PT1M30S`, `P1DT2H` or `P2W`.
/// Years and months have no fixed length, so they are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        format!("{text:?} is not an ISO 8601 duration ({why}); e.g. PT30S, PT5M, P1DT2H")
    };
    let rest = text
        .trim()
        .strip_prefix('P')
        .ok_or_else(|| bad("it must start with P"))?;
    let (date_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut seconds = 0.0f64;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Result<(), String> {
        let mut number = String::new();
        let mut last_unit = None::<usize>;
        for ch in part.chars() {
            if ch.is_ascii_digit() || ch == '.' || ch == ',' {
                number.push(if ch == ',' { '.' } else { ch });
                continue;
            }
            let index = units
                .iter()
                .position(|(u, _)| *u == ch)
                .ok_or_else(|| match ch {
                    'Y' | 'M' if units[0].0 == 'W' => bad("years and months have no fixed length"),
                    _ => bad(&format!("unexpected {ch:?}")),
                })?;
            if last_unit.is_some_and(|last| index <= last) {
                return Err(bad("units out of order"));
            }
            let value: f64 = number.parse().map_err(|_| bad("a number is missing"))?;
            seconds += value * units[index].1;
            number.clear();
            last_unit = Some(index);
            any = true;
        }
        if number.is_empty() {
            Ok(())
        } else {
            Err(bad("a number has no unit"))
        }
    };
    take(date_part, &[('W', 604_800.0), ('D', 86_400.0)])?;
    if let Some(time_part) = time_part {
        if time_part.is_empty() {
            return Err(bad("nothing follows T"));
        }
        take(time_part, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    if !any {
        return Err(bad("no amount"));
    }
    if !seconds.is_finite() || seconds > 1e10 {
        return Err(bad("too long"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// An ISO 8601 timestamp with a zone: `2026-11-27T12:00:00Z`,
/// `2026-11-27T12:00:00.5+01:00`.
pub fn parse_timestamp(text: &str) -> Result<SystemTime, String> {
    let bad = || format!("{text:?} is not an ISO 8601 timestamp; e.g. 2026-11-27T12:00:00Z");
    let t = text.trim();
    let num = |s: Option<&str>| -> Result<i64, String> {
        s.filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    let (date, time) = t.split_once(['T', 't', ' ']).ok_or_else(bad)?;
    let mut date_fields = date.splitn(3, '-');
    let year = num(date_fields.next())?;
    let month = num(date_fields.next())?;
    let day = num(date_fields.next())?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let (clock, offset_secs) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0i64)
    } else {
        let at = time.rfind(['+', '-']).ok_or_else(bad)?;
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (h, m) = zone[1..].split_once(':').unwrap_or((&zone[1..], "00"));
        (clock, sign * (num(Some(h))? * 3600 + num(Some(m))? * 60))
    };
    let (whole, fraction) = clock.split_once(['.', ',']).unwrap_or((clock, ""));
    let mut clock_fields = whole.splitn(3, ':');
    let hour = num(clock_fields.next())?;
    let minute = num(clock_fields.next())?;
    let second = num(clock_fields.next())?;
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().take(9).collect();
        num(Some(&digits))? * 10i64.pow(9 - digits.len() as u32)
    };
    let secs = days_from_civil(year, month as u32, day as u32) * 86_400
        + hour * 3600
        + minute * 60
        + second
        - offset_secs;
    let secs = u64::try_from(secs).map_err(|_| bad())?;
    Ok(UNIX_EPOCH + Duration::new(secs, nanos as u32))
}

/// A duration as ISO 8601 with milliseconds: `PT1.234S`.
pub fn iso_duration(duration: Duration) -> String {
    format!("PT{:.3}S", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_in_utc() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_782_896_789);
        assert_eq!(rfc3339(at), "2026-11-27T12:34:56.789Z");
        assert_eq!(date(at), "2026-11-27");
        assert_eq!(date_time(at), "2026-11-27_12.34.56");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn timestamps_round_trip() {
        let at = parse_timestamp("2026-11-27T12:34:56.789Z").unwrap();
        assert_eq!(rfc3339(at), "2026-11-27T12:34:56.789Z");
        let shifted = parse_timestamp("2026-11-27T13:34:56.789+01:00").unwrap();
        assert_eq!(at, shifted);
        assert_eq!(
            rfc3339(parse_timestamp("2000-02-29T00:00:00Z").unwrap()),
            "2000-02-29T00:00:00.000Z"
        );
        assert!(parse_timestamp("2026-13-01T00:00:00Z").is_err());
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("PT10S").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("PT1M30S").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("P1DT2H").unwrap(),
            Duration::from_secs(93_600)
        );
        assert_eq!(
            parse_duration("P2W").unwrap(),
            Duration::from_secs(1_209_600)
        );
        assert_eq!(
            parse_duration("PT0.5S").unwrap(),
            Duration::from_millis(500)
        );
        for bad in ["10s", "P", "PT", "P1M", "PT5", "PT1S2M", "P1Y"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
