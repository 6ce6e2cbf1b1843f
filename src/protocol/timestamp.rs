//! UTC calendar times as FTP writes them (`YYYYMMDDHHMMSS`: MDTM, MFMT, the MLSD modify
//! fact), converted to and from seconds since the Unix epoch.

/// `YYYYMMDDHHMMSS` in UTC, as MDTM and the modify fact use.
pub fn timestamp(seconds: i64) -> String {
    let (year, month, day, hour, minute, second) = civil_time(seconds);
    format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}")
}

/// `YYYY-MM-DD HH:MM` in UTC, as people read a time to the minute (listings shown by
/// `minftp ls`, certificate dates).
pub fn date_and_minute(seconds: i64) -> String {
    let (year, month, day, hour, minute, _) = civil_time(seconds);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

/// `YYYYMMDDHHMMSS` (UTC) as seconds since the epoch, as MFMT sends it; `None` when it is
/// not such a time.
pub fn parse_timestamp(text: &[u8]) -> Option<i64> {
    if text.len() != 14 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let field = |range: std::ops::Range<usize>| std::str::from_utf8(&text[range]).ok()?.parse::<i64>().ok();
    let (year, month, day) = (field(0..4)?, field(4..6)?, field(6..8)?);
    let (hour, minute, second) = (field(8..10)?, field(10..12)?, field(12..14)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds = seconds_from_civil(year, month, day, hour, minute, second);
    (timestamp(seconds).as_bytes() == text).then_some(seconds)
}

/// Seconds since the epoch as a UTC calendar time (the days-to-civil algorithm of
/// Howard Hinnant's date library).
pub fn civil_time(seconds: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day, (of_day / 3600) as u32, (of_day % 3600 / 60) as u32, (of_day % 60) as u32)
}

/// A UTC calendar time as seconds since the epoch (days from civil, Howard Hinnant's
/// algorithm, the inverse of [`civil_time`]). Fields out of range are not checked here.
pub fn seconds_from_civil(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    days * 86_400 + hour * 3600 + minute * 60 + second
}

/// A system time as seconds since the epoch (negative before it).
pub fn unix_seconds(time: std::time::SystemTime) -> i64 {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}
