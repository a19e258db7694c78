//! Python's `datetime` and `pytz` as dbt hands them to templates (`modules.datetime`,
//! `modules.pytz`, `run_started_at`): dates, datetimes (naive or aware), `timedelta`, time zones
//! with pytz's rules, `strftime` as Python's (an unknown directive is kept as written), and the
//! `+`/`-` arithmetic between them (templates reach it through [`arith`], see `rewrite.rs`).

use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};
use minijinja::value::{Kwargs, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// A `tzinfo`: a fixed offset with its name, and for pytz zones the zone it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct TzInfo {
    /// Seconds east of UTC.
    offset: i32,
    /// What `%Z` and `tzname()` print (`PDT`, `LMT`, `UTC`).
    abbr: String,
    /// What `str(tzinfo)` prints (`America/Los_Angeles`, `UTC`).
    name: String,
    zone: Option<chrono_tz::Tz>,
}

impl TzInfo {
    pub fn utc() -> Self {
        TzInfo {
            offset: 0,
            abbr: "UTC".into(),
            name: "UTC".into(),
            zone: None,
        }
    }

    /// A pytz zone as `pytz.timezone(name)` returns it: before `localize()` it carries the
    /// zone's first offset (local mean time, to the minute), which is what a datetime built
    /// with `tzinfo=pytz.timezone(...)` gets, as in Python.
    fn zone(name: &str) -> Result<Self, Error> {
        let zone: chrono_tz::Tz = name
            .parse()
            .map_err(|_| invalid(format!("pytz.timezone: unknown time zone '{name}'")))?;
        if zone == chrono_tz::UTC {
            return Ok(TzInfo::utc());
        }
        let early = NaiveDate::from_ymd_opt(1800, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a valid date");
        let first = zone.offset_from_utc_datetime(&early);
        let secs = first.fix().local_minus_utc();
        let offset = (secs as f64 / 60.0).round() as i32 * 60;
        Ok(TzInfo {
            offset,
            abbr: chrono_tz::OffsetName::abbreviation(&first)
                .unwrap_or("LMT")
                .to_string(),
            name: name.to_string(),
            zone: Some(zone),
        })
    }

    /// This zone's offset at a UTC instant (the same fixed offset for a zone-less tzinfo).
    fn at_utc(&self, utc: NaiveDateTime) -> TzInfo {
        match self.zone {
            Some(z) => {
                let off = z.offset_from_utc_datetime(&utc);
                self.with(off)
            }
            None => self.clone(),
        }
    }

    /// This zone's offset for a wall-clock time (pytz's `localize` with `is_dst=False`).
    fn at_local(&self, local: NaiveDateTime) -> TzInfo {
        match self.zone {
            Some(z) => match z.offset_from_local_datetime(&local) {
                chrono::LocalResult::Single(o) => self.with(o),
                chrono::LocalResult::Ambiguous(a, b) => {
                    // is_dst=False: the standard-time reading.
                    let dst = |o: &chrono_tz::TzOffset| {
                        chrono_tz::OffsetComponents::dst_offset(o).num_seconds() != 0
                    };
                    self.with(if dst(&a) { b } else { a })
                }
                chrono::LocalResult::None => {
                    // A wall time in a spring-forward gap: pytz keeps it with the offset before.
                    let off = z.offset_from_utc_datetime(&(local - chrono::Duration::hours(3)));
                    self.with(off)
                }
            },
            None => self.clone(),
        }
    }

    fn with(&self, off: chrono_tz::TzOffset) -> TzInfo {
        TzInfo {
            offset: off.fix().local_minus_utc(),
            abbr: chrono_tz::OffsetName::abbreviation(&off)
                .unwrap_or("")
                .to_string(),
            name: self.name.clone(),
            zone: self.zone,
        }
    }

    fn offset_string(&self, colon: bool) -> String {
        let sign = if self.offset < 0 { '-' } else { '+' };
        let s = self.offset.abs();
        let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
        let sep = if colon { ":" } else { "" };
        let mut out = format!("{sign}{h:02}{sep}{m:02}");
        if sec != 0 {
            out.push_str(&format!("{sep}{sec:02}"));
        }
        out
    }
}

impl Object for TzInfo {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "zone" => Some(Value::from(self.name.clone())),
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let dt_arg = || -> Result<Arc<DateTime>, Error> {
            let (v, _): (Value, Kwargs) = minijinja::value::from_args(args)?;
            v.downcast_object::<DateTime>()
                .ok_or_else(|| invalid(format!("tzinfo.{method}() takes a datetime")))
        };
        match method {
            "localize" => {
                let dt = dt_arg()?;
                if dt.tz.is_some() {
                    return Err(invalid(
                        "localize: not a naive datetime (tzinfo is already set)",
                    ));
                }
                Ok(Value::from_object(DateTime {
                    dt: dt.dt,
                    date_only: false,
                    tz: Some(self.at_local(dt.dt)),
                }))
            }
            "normalize" => {
                let dt = dt_arg()?;
                let tz = dt.tz.as_ref().ok_or_else(|| {
                    invalid("normalize: naive datetime (use localize() to attach a zone)")
                })?;
                let utc = dt.dt - chrono::Duration::seconds(tz.offset as i64);
                let tz = self.at_utc(utc);
                Ok(Value::from_object(DateTime {
                    dt: utc + chrono::Duration::seconds(tz.offset as i64),
                    date_only: false,
                    tz: Some(tz),
                }))
            }
            "utcoffset" | "dst" | "tzname" => {
                let dt = dt_arg()?;
                let tz = self.at_local(dt.dt);
                Ok(match method {
                    "utcoffset" => TimeDelta::from_secs(tz.offset as i64),
                    "dst" => TimeDelta::from_secs(match tz.zone {
                        Some(z) => match z.offset_from_local_datetime(&dt.dt).earliest() {
                            Some(o) => chrono_tz::OffsetComponents::dst_offset(&o).num_seconds(),
                            None => 0,
                        },
                        None => 0,
                    }),
                    _ => Value::from(tz.abbr),
                })
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("tzinfo has no method '{method}'"),
            )),
        }
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Python's `timedelta`, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeDelta(i64);

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl TimeDelta {
    fn from_secs(s: i64) -> Value {
        Value::from_object(TimeDelta(s * 1_000_000))
    }
    fn days(&self) -> i64 {
        self.0.div_euclid(MICROS_PER_DAY)
    }
    fn chrono(&self) -> chrono::Duration {
        chrono::Duration::microseconds(self.0)
    }
}

impl Object for TimeDelta {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let rest = self.0.rem_euclid(MICROS_PER_DAY);
        Some(Value::from(match key.as_str()? {
            "days" => self.days(),
            "seconds" => rest / 1_000_000,
            "microseconds" => rest % 1_000_000,
            _ => return None,
        }))
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "total_seconds" => {
                let () = minijinja::value::from_args(args)?;
                Ok(Value::from(self.0 as f64 / 1e6))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("timedelta has no method '{method}'"),
            )),
        }
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.days();
        let rest = self.0.rem_euclid(MICROS_PER_DAY);
        if days != 0 {
            let s = if days.abs() == 1 { "" } else { "s" };
            write!(f, "{days} day{s}, ")?;
        }
        let secs = rest / 1_000_000;
        write!(f, "{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)?;
        if rest % 1_000_000 != 0 {
            write!(f, ".{:06}", rest % 1_000_000)?;
        }
        Ok(())
    }
}

/// `timedelta(days, seconds, microseconds, milliseconds, minutes, hours, weeks)`, positional or
/// by name, integers or floats.
fn timedelta(args: &[Value]) -> Result<Value, Error> {
    const UNITS: [(&str, f64); 7] = [
        ("days", 86_400e6),
        ("seconds", 1e6),
        ("microseconds", 1.0),
        ("milliseconds", 1e3),
        ("minutes", 60e6),
        ("hours", 3_600e6),
        ("weeks", 604_800e6),
    ];
    let (pos, kw): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
    if pos.len() > UNITS.len() {
        return Err(invalid(format!(
            "timedelta takes at most 7 arguments ({} given)",
            pos.len()
        )));
    }
    let mut micros = 0f64;
    for (i, (name, mult)) in UNITS.iter().enumerate() {
        let v = match pos.get(i) {
            Some(v) => Some(v.clone()),
            None => kw.get::<Option<Value>>(name)?,
        };
        let Some(v) = v else { continue };
        let n = f64::try_from(v.clone())
            .map_err(|_| invalid(format!("timedelta: {name} must be a number, not '{v}'")))?;
        micros += n * mult;
    }
    kw.assert_all_used()?;
    let micros = micros.round();
    if !micros.is_finite() || micros.abs() > 999_999_999.0 * 86_400e6 {
        return Err(invalid("timedelta: days must be within ±999999999"));
    }
    Ok(Value::from_object(TimeDelta(micros as i64)))
}

/// Python's `date` (`date_only`) and `datetime`, naive or aware. `dt` is the wall-clock time.
#[derive(Debug, Clone, PartialEq)]
pub struct DateTime {
    pub dt: NaiveDateTime,
    pub date_only: bool,
    pub tz: Option<TzInfo>,
}

impl DateTime {
    pub fn naive(dt: NaiveDateTime, date_only: bool) -> Value {
        Value::from_object(DateTime {
            dt,
            date_only,
            tz: None,
        })
    }

    /// `run_started_at`: an aware datetime in UTC, as dbt's.
    pub fn utc(dt: NaiveDateTime) -> Value {
        Value::from_object(DateTime {
            dt,
            date_only: false,
            tz: Some(TzInfo::utc()),
        })
    }

    fn utc_instant(&self) -> NaiveDateTime {
        match &self.tz {
            Some(tz) => self.dt - chrono::Duration::seconds(tz.offset as i64),
            None => self.dt,
        }
    }

    fn derive(&self, dt: NaiveDateTime) -> Value {
        Value::from_object(DateTime {
            dt,
            date_only: self.date_only,
            tz: self.tz.clone(),
        })
    }

    fn isoformat(&self, sep: &str) -> String {
        if self.date_only {
            return self.dt.format("%Y-%m-%d").to_string();
        }
        let mut s = self.dt.format("%Y-%m-%d").to_string();
        s.push_str(sep);
        s.push_str(&self.dt.format("%H:%M:%S").to_string());
        let micros = self.dt.nanosecond() / 1000;
        if micros != 0 {
            s.push_str(&format!(".{micros:06}"));
        }
        if let Some(tz) = &self.tz {
            s.push_str(&tz.offset_string(true));
        }
        s
    }
}

/// Python's `strftime`: each directive Python knows, in Python's spelling (`%f` is six digits,
/// `%z` is `+HHMM`, `%Z` the zone's name); anything else, `%Q` or a lone `%` included, is
/// written as it stands, as CPython on glibc does.
pub fn strftime(dt: &NaiveDateTime, tz: Option<&TzInfo>, fmt: &str) -> String {
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // glibc's `%-d` (no padding) is common in the wild.
        let dash = chars.peek() == Some(&'-');
        if dash {
            chars.next();
        }
        let Some(d) = chars.next() else {
            out.push('%');
            if dash {
                out.push('-');
            }
            break;
        };
        let piece = match d {
            'a' | 'A' | 'w' | 'd' | 'b' | 'B' | 'm' | 'y' | 'Y' | 'H' | 'I' | 'p' | 'M' | 'S'
            | 'j' | 'U' | 'W' | 'c' | 'x' | 'X' | 'G' | 'u' | 'V' | 'e' | 'h' | 'D' | 'F' | 'T'
            | 'R' | 'C' | 'g' | 'k' | 'l' | 'n' | 't' | 's' => {
                let spec = if dash && "dmHIMSjyeklUWVg".contains(d) {
                    format!("%-{d}")
                } else {
                    format!("%{d}")
                };
                dt.format(&spec).to_string()
            }
            'f' => format!("{:06}", dt.nanosecond() / 1000),
            'z' => tz.map(|t| t.offset_string(false)).unwrap_or_default(),
            'Z' => tz.map(|t| t.abbr.clone()).unwrap_or_default(),
            '%' => "%".into(),
            other => {
                let mut s = String::from("%");
                if dash {
                    s.push('-');
                }
                s.push(other);
                s
            }
        };
        out.push_str(&piece);
    }
    out
}

impl Object for DateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let d = &self.dt;
        let time = |v: i64| (!self.date_only).then_some(Value::from(v));
        match key.as_str()? {
            "year" => Some(Value::from(d.year() as i64)),
            "month" => Some(Value::from(d.month() as i64)),
            "day" => Some(Value::from(d.day() as i64)),
            "hour" => time(d.hour() as i64),
            "minute" => time(d.minute() as i64),
            "second" => time(d.second() as i64),
            "microsecond" => time((d.nanosecond() / 1000) as i64),
            "tzinfo" if !self.date_only => Some(match &self.tz {
                Some(tz) => Value::from_object(tz.clone()),
                None => Value::from(()),
            }),
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let no_args = || -> Result<(), Error> { minijinja::value::from_args(args) };
        match method {
            "strftime" => {
                let (fmt,): (String,) = minijinja::value::from_args(args)?;
                Ok(Value::from(strftime(&self.dt, self.tz.as_ref(), &fmt)))
            }
            "isoformat" => {
                let (sep,): (Option<String>,) = minijinja::value::from_args(args)?;
                Ok(Value::from(self.isoformat(sep.as_deref().unwrap_or("T"))))
            }
            "date" => {
                no_args()?;
                Ok(DateTime::naive(self.dt.date().into(), true))
            }
            "time" => {
                no_args()?;
                Ok(Value::from(self.dt.format("%H:%M:%S").to_string()))
            }
            "weekday" => {
                no_args()?;
                Ok(Value::from(self.dt.weekday().num_days_from_monday() as i64))
            }
            "isoweekday" => {
                no_args()?;
                Ok(Value::from(self.dt.weekday().number_from_monday() as i64))
            }
            "isocalendar" => {
                no_args()?;
                let w = self.dt.iso_week();
                Ok(Value::from(vec![
                    Value::from(w.year() as i64),
                    Value::from(w.week() as i64),
                    Value::from(self.dt.weekday().number_from_monday() as i64),
                ]))
            }
            "toordinal" => {
                no_args()?;
                Ok(Value::from(self.dt.num_days_from_ce() as i64))
            }
            "timestamp" => {
                no_args()?;
                let instant = match &self.tz {
                    Some(_) => self.utc_instant(),
                    None => local_to_utc(self.dt),
                };
                Ok(Value::from(
                    instant.and_utc().timestamp_micros() as f64 / 1e6,
                ))
            }
            "utcoffset" => {
                no_args()?;
                Ok(match &self.tz {
                    Some(tz) => TimeDelta::from_secs(tz.offset as i64),
                    None => Value::from(()),
                })
            }
            "tzname" => {
                no_args()?;
                Ok(self
                    .tz
                    .as_ref()
                    .map_or(Value::from(()), |t| Value::from(t.abbr.clone())))
            }
            "astimezone" => {
                let (tz,): (Option<Value>,) = minijinja::value::from_args(args)?;
                let instant = match &self.tz {
                    Some(_) => self.utc_instant(),
                    None => local_to_utc(self.dt),
                };
                let tz = match tz {
                    Some(v) if !v.is_none() => tz_arg(&v, "astimezone")?,
                    _ => TzInfo::utc(),
                };
                let tz = tz.at_utc(instant);
                Ok(Value::from_object(DateTime {
                    dt: instant + chrono::Duration::seconds(tz.offset as i64),
                    date_only: false,
                    tz: Some(tz),
                }))
            }
            "replace" => self.replace(args),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!(
                    "{} has no method '{method}'",
                    if self.date_only { "date" } else { "datetime" }
                ),
            )),
        }
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.isoformat(" "))
    }
}

impl DateTime {
    fn replace(&self, args: &[Value]) -> Result<Value, Error> {
        let (pos, kw): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
        if !pos.is_empty() {
            return Err(invalid(
                "replace() takes keyword arguments only (year=..., day=...)",
            ));
        }
        let out_of_range = |field: &str| invalid(format!("replace: {field} is out of range"));
        let mut d = self.dt;
        if let Some(v) = kw.get::<Option<i32>>("year")? {
            d = d.with_year(v).ok_or_else(|| out_of_range("year"))?;
        }
        if let Some(v) = kw.get::<Option<u32>>("month")? {
            d = d.with_month(v).ok_or_else(|| out_of_range("month"))?;
        }
        if let Some(v) = kw.get::<Option<u32>>("day")? {
            d = d.with_day(v).ok_or_else(|| out_of_range("day"))?;
        }
        let mut tz = self.tz.clone();
        if !self.date_only {
            if let Some(v) = kw.get::<Option<u32>>("hour")? {
                d = d.with_hour(v).ok_or_else(|| out_of_range("hour"))?;
            }
            if let Some(v) = kw.get::<Option<u32>>("minute")? {
                d = d.with_minute(v).ok_or_else(|| out_of_range("minute"))?;
            }
            if let Some(v) = kw.get::<Option<u32>>("second")? {
                d = d.with_second(v).ok_or_else(|| out_of_range("second"))?;
            }
            if let Some(v) = kw.get::<Option<u32>>("microsecond")? {
                d = Some(v)
                    .filter(|v| *v < 1_000_000)
                    .and_then(|v| d.with_nanosecond(v * 1000))
                    .ok_or_else(|| out_of_range("microsecond"))?;
            }
            if kw.has("tzinfo") {
                let v: Value = kw.get("tzinfo")?;
                tz = if v.is_none() {
                    None
                } else {
                    Some(tz_arg(&v, "replace")?)
                };
            }
        }
        kw.assert_all_used()?;
        Ok(Value::from_object(DateTime {
            dt: d,
            date_only: self.date_only,
            tz,
        }))
    }
}

/// A naive datetime read as the machine's local time, as Python does.
fn local_to_utc(dt: NaiveDateTime) -> NaiveDateTime {
    chrono::Local
        .from_local_datetime(&dt)
        .earliest()
        .map_or(dt, |t| t.naive_utc())
}

fn tz_arg(v: &Value, what: &str) -> Result<TzInfo, Error> {
    v.downcast_object_ref::<TzInfo>()
        .cloned()
        .ok_or_else(|| invalid(format!("{what}: tzinfo must be a time zone (modules.pytz.timezone('...') or modules.pytz.utc), not '{v}'")))
}

/// `modules.datetime` and its classes.
#[derive(Debug)]
pub enum DatetimeModule {
    Module,
    DateTimeClass,
    DateClass,
    TimeDeltaClass,
}

impl Object for DatetimeModule {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        use DatetimeModule::*;
        match (&**self, key.as_str()?) {
            (Module, "datetime") => Some(Value::from_object(DateTimeClass)),
            (Module, "date") => Some(Value::from_object(DateClass)),
            (Module, "timedelta") => Some(Value::from_object(TimeDeltaClass)),
            (DateTimeClass | DateClass, "min") => {
                let d = NaiveDate::MIN.max(NaiveDate::from_ymd_opt(1, 1, 1)?);
                Some(DateTime::naive(d.into(), matches!(**self, DateClass)))
            }
            (DateTimeClass | DateClass, "max") => {
                let d = NaiveDate::from_ymd_opt(9999, 12, 31)?;
                let dt = if matches!(**self, DateClass) {
                    d.into()
                } else {
                    d.and_hms_micro_opt(23, 59, 59, 999_999)?
                };
                Some(DateTime::naive(dt, matches!(**self, DateClass)))
            }
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let date_only = matches!(**self, DatetimeModule::DateClass);
        if !matches!(
            **self,
            DatetimeModule::DateClass | DatetimeModule::DateTimeClass
        ) {
            return Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("datetime module has no function '{method}'"),
            ));
        }
        let parsed = |s: &str, fmt: Option<&str>| -> Result<Value, Error> {
            let dt = match fmt {
                Some(f) => NaiveDateTime::parse_from_str(s, f)
                    .or_else(|_| NaiveDate::parse_from_str(s, f).map(|d| d.into())),
                None => s
                    .parse::<NaiveDateTime>()
                    .or_else(|_| s.parse::<NaiveDate>().map(|d| d.into())),
            }
            .map_err(|e| invalid(format!("cannot parse '{s}' as a date: {e}")))?;
            Ok(DateTime::naive(dt, date_only))
        };
        match method {
            "now" | "today" => {
                let (tz,): (Option<Value>,) = minijinja::value::from_args(args)?;
                if let Some(tz) = tz.filter(|v| !v.is_none()) {
                    let tz = tz_arg(&tz, method)?;
                    let utc = chrono::Utc::now().naive_utc();
                    let tz = tz.at_utc(utc);
                    return Ok(Value::from_object(DateTime {
                        dt: utc + chrono::Duration::seconds(tz.offset as i64),
                        date_only: false,
                        tz: Some(tz),
                    }));
                }
                let now = chrono::Local::now().naive_local();
                Ok(DateTime::naive(
                    if date_only { now.date().into() } else { now },
                    date_only,
                ))
            }
            "utcnow" => {
                let () = minijinja::value::from_args(args)?;
                Ok(DateTime::naive(chrono::Utc::now().naive_utc(), false))
            }
            "strptime" => {
                let (s, f): (String, String) = minijinja::value::from_args(args)?;
                parsed(&s, Some(&f))
            }
            "fromisoformat" => {
                let (s,): (String,) = minijinja::value::from_args(args)?;
                parsed(&s.replacen(' ', "T", 1), None)
            }
            "fromordinal" => {
                let (n,): (i32,) = minijinja::value::from_args(args)?;
                let d = NaiveDate::from_num_days_from_ce_opt(n)
                    .filter(|_| n >= 1)
                    .ok_or_else(|| invalid(format!("fromordinal: ordinal {n} is out of range")))?;
                Ok(DateTime::naive(d.into(), date_only))
            }
            "fromtimestamp" | "utcfromtimestamp" => {
                let (ts,): (f64,) = minijinja::value::from_args(args)?;
                let utc = chrono::DateTime::from_timestamp_micros((ts * 1e6).round() as i64)
                    .ok_or_else(|| invalid(format!("{method}: timestamp {ts} is out of range")))?
                    .naive_utc();
                let dt = if method == "utcfromtimestamp" {
                    utc
                } else {
                    chrono::Local.from_utc_datetime(&utc).naive_local()
                };
                Ok(DateTime::naive(
                    if date_only { dt.date().into() } else { dt },
                    date_only,
                ))
            }
            "combine" => {
                let (d, t): (Value, Value) = minijinja::value::from_args(args)?;
                let d = d
                    .downcast_object_ref::<DateTime>()
                    .ok_or_else(|| invalid("combine: the first argument must be a date"))?;
                let t = NaiveTime::parse(&t.to_string())?;
                Ok(DateTime::naive(d.dt.date().and_time(t), false))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!(
                    "{} has no function '{method}'",
                    if date_only { "date" } else { "datetime" }
                ),
            )),
        }
    }
    fn call(self: &Arc<Self>, _state: &State, args: &[Value]) -> Result<Value, Error> {
        match **self {
            DatetimeModule::TimeDeltaClass => timedelta(args),
            DatetimeModule::DateClass | DatetimeModule::DateTimeClass => {
                construct(args, matches!(**self, DatetimeModule::DateClass))
            }
            DatetimeModule::Module => Err(invalid("'module' object is not callable")),
        }
    }
}

struct NaiveTime;

impl NaiveTime {
    fn parse(s: &str) -> Result<chrono::NaiveTime, Error> {
        s.parse::<chrono::NaiveTime>()
            .map_err(|e| invalid(format!("cannot read '{s}' as a time: {e}")))
    }
}

/// `date(year, month, day)` and `datetime(year, month, day, hour=0, minute=0, second=0,
/// microsecond=0, tzinfo=None)`: positional or by name, each checked as Python checks it.
fn construct(args: &[Value], date_only: bool) -> Result<Value, Error> {
    const FIELDS: [&str; 7] = [
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "microsecond",
    ];
    let what = if date_only { "date" } else { "datetime" };
    let (pos, kw): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
    let max = if date_only { 3 } else { 8 };
    if pos.len() > max {
        return Err(invalid(format!(
            "{what}() takes at most {max} arguments ({} given)",
            pos.len()
        )));
    }
    let mut parts = [0i64, 0, 0, 0, 0, 0, 0];
    let fields = if date_only { 3 } else { 7 };
    for (i, name) in FIELDS.iter().enumerate().take(fields) {
        let v = match pos.get(i) {
            Some(v) => Some(v.clone()),
            None => kw.get::<Option<Value>>(name)?,
        };
        match v {
            Some(v) => {
                parts[i] = v.as_i64().ok_or_else(|| {
                    invalid(format!("{what}(): {name} must be an integer, not '{v}'"))
                })?
            }
            None if i < 3 => {
                return Err(invalid(format!(
                    "{what}(): missing required argument '{name}' (pos {})",
                    i + 1
                )))
            }
            None => {}
        }
    }
    let tz = if date_only {
        None
    } else {
        match pos.get(7).cloned().or(kw.get::<Option<Value>>("tzinfo")?) {
            Some(v) if !v.is_none() => Some(tz_arg(&v, what)?),
            _ => None,
        }
    };
    kw.assert_all_used()?;
    let field = |i: usize, lo: i64, hi: i64| -> Result<u32, Error> {
        if (lo..=hi).contains(&parts[i]) {
            Ok(parts[i] as u32)
        } else {
            Err(invalid(format!(
                "{what}(): {} must be in {lo}..{hi}, not {}",
                FIELDS[i], parts[i]
            )))
        }
    };
    let year = field(0, 1, 9999)? as i32;
    let month = field(1, 1, 12)?;
    let day = field(2, 1, 31)?;
    let date = NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| {
        invalid(format!(
            "{what}(): day {day} is out of range for month {month}"
        ))
    })?;
    let dt = date
        .and_hms_micro_opt(
            field(3, 0, 23)?,
            field(4, 0, 59)?,
            field(5, 0, 59)?,
            field(6, 0, 999_999)?,
        )
        .ok_or_else(|| invalid(format!("{what}(): invalid time")))?;
    Ok(Value::from_object(DateTime { dt, date_only, tz }))
}

/// `modules.pytz`: `timezone()`, `utc`/`UTC`, `FixedOffset()`, `all_timezones`.
#[derive(Debug)]
pub struct PytzModule;

impl Object for PytzModule {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "utc" | "UTC" => Some(Value::from_object(TzInfo::utc())),
            "all_timezones" | "common_timezones" => Some(Value::from_iter(
                chrono_tz::TZ_VARIANTS.iter().map(|z| Value::from(z.name())),
            )),
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "timezone" => {
                let (name,): (String,) = minijinja::value::from_args(args)?;
                Ok(Value::from_object(TzInfo::zone(&name)?))
            }
            "FixedOffset" => {
                let (minutes,): (i32,) = minijinja::value::from_args(args)?;
                if minutes.abs() >= 24 * 60 {
                    return Err(invalid(format!(
                        "FixedOffset: {minutes} minutes is not within a day"
                    )));
                }
                Ok(Value::from_object(TzInfo {
                    offset: minutes * 60,
                    abbr: String::new(),
                    name: format!("pytz.FixedOffset({minutes})"),
                    zone: None,
                }))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("pytz has no function '{method}'"),
            )),
        }
    }
}

/// `a + b` and `a - b` in templates (the rewrite in `rewrite.rs` turns them into
/// `__weir_arith(a, '+', b)`): dates, datetimes and timedeltas as in Python, anything else as
/// minijinja's own operator.
pub fn arith(state: &State, a: Value, op: &str, b: Value) -> Result<Value, Error> {
    let dt = |v: &Value| v.downcast_object::<DateTime>();
    let td = |v: &Value| v.downcast_object::<TimeDelta>();
    let mismatch = || {
        invalid(format!(
            "unsupported operand types for {op}: '{}' and '{}'",
            type_name(&a),
            type_name(&b)
        ))
    };
    let shifted = |d: &DateTime, delta: TimeDelta| -> Result<Value, Error> {
        let delta = if d.date_only {
            chrono::Duration::days(delta.days())
        } else {
            delta.chrono()
        };
        let out =
            d.dt.checked_add_signed(delta)
                .filter(|r| (1..=9999).contains(&r.year()))
                .ok_or_else(|| invalid("date value out of range"))?;
        Ok(d.derive(out))
    };
    match (op, dt(&a), td(&a), dt(&b), td(&b)) {
        ("+", Some(d), _, _, Some(t)) | ("+", _, Some(t), Some(d), _) => shifted(&d, *t),
        ("-", Some(d), _, _, Some(t)) => shifted(&d, TimeDelta(-t.0)),
        ("-", Some(x), _, Some(y), _) => {
            if x.date_only != y.date_only || x.tz.is_some() != y.tz.is_some() {
                return Err(if x.tz.is_some() != y.tz.is_some() {
                    invalid("can't subtract offset-naive and offset-aware datetimes")
                } else {
                    mismatch()
                });
            }
            let diff = x.utc_instant() - y.utc_instant();
            Ok(Value::from_object(TimeDelta(
                diff.num_microseconds()
                    .ok_or_else(|| invalid("timedelta out of range"))?,
            )))
        }
        ("+", _, Some(x), _, Some(y)) => Ok(Value::from_object(TimeDelta(x.0 + y.0))),
        ("-", _, Some(x), _, Some(y)) => Ok(Value::from_object(TimeDelta(x.0 - y.0))),
        (_, None, None, None, None) => {
            let expr = state
                .env()
                .compile_expression(if op == "+" { "a + b" } else { "a - b" })?;
            expr.eval(minijinja::context! { a, b })
        }
        _ => Err(mismatch()),
    }
}

fn type_name(v: &Value) -> String {
    if let Some(d) = v.downcast_object_ref::<DateTime>() {
        return if d.date_only { "date" } else { "datetime" }.into();
    }
    if v.downcast_object_ref::<TimeDelta>().is_some() {
        return "timedelta".into();
    }
    v.kind().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str) -> Result<String, Error> {
        let mut env = minijinja::Environment::new();
        env.add_function("__weir_arith", arith);
        env.add_global(
            "modules",
            Value::from_iter([
                ("datetime", Value::from_object(DatetimeModule::Module)),
                ("pytz", Value::from_object(PytzModule)),
            ]),
        );
        env.render_str(src, ())
    }

    #[test]
    fn pytz_quirks_and_formats_match_python() {
        let tz = "modules.pytz.timezone('America/Los_Angeles')";
        let dt = "modules.datetime.datetime(1997, 9, 29, 6, 14, 0";
        assert_eq!(
            render(&format!("{{{{ {dt}, tzinfo={tz}) }}}}")).unwrap(),
            "1997-09-29 06:14:00-07:53"
        );
        assert_eq!(
            render(&format!(
                "{{{{ {tz}.localize({dt})).strftime('%Y %z %Z %Q %f %') }}}}"
            ))
            .unwrap(),
            "1997 -0700 PDT %Q 000000 %"
        );
        assert_eq!(
            render("{{ modules.datetime.datetime(2020,1,1,tzinfo=modules.pytz.utc).isoformat() }}")
                .unwrap(),
            "2020-01-01T00:00:00+00:00"
        );
        assert_eq!(
            render("{{ modules.datetime.datetime(2020,1,1,12,tzinfo=modules.pytz.utc).astimezone(modules.pytz.timezone('Asia/Kolkata')) }}").unwrap(),
            "2020-01-01 17:30:00+05:30"
        );
        assert_eq!(
            render("{{ modules.datetime.timedelta(days=1, seconds=5) }}|{{ modules.datetime.timedelta(-1) }}|{{ modules.datetime.timedelta(hours=1.5).total_seconds() }}").unwrap(),
            "1 day, 0:00:05|-1 day, 0:00:00|5400.0"
        );
    }

    #[test]
    fn arithmetic_follows_python() {
        let r = |s: &str| render(s).unwrap();
        assert_eq!(
            r("{{ __weir_arith(modules.datetime.date(2020,1,31), '-', modules.datetime.timedelta(365)) }}"),
            "2019-01-31"
        );
        assert_eq!(
            r("{{ __weir_arith(modules.datetime.datetime(2020,3,1), '-', modules.datetime.datetime(2020,1,1)) }}"),
            "60 days, 0:00:00"
        );
        assert_eq!(
            r("{{ __weir_arith(1, '+', 2) }}|{{ __weir_arith('a', '+', 'b') }}"),
            "3|ab"
        );
        assert!(render("{{ __weir_arith(modules.datetime.date(2020,1,1), '+', 1) }}").is_err());
        assert!(render("{{ modules.datetime.date(2020, 2, 30) }}").is_err());
        assert!(render("{{ modules.datetime.datetime(2020, 1) }}").is_err());
    }

    /// Every Python method weir offers (strings, lists, dicts through minijinja-contrib's
    /// pycompat; dates, timedeltas and zones here; `modules.re`), called with unusual arguments:
    /// errors are fine, a panic is not.
    #[test]
    fn python_methods_never_panic_on_unusual_arguments() {
        let mut env = minijinja::Environment::new();
        env.set_unknown_method_callback(crate::jinja::objects::py_method);
        env.add_function("__weir_arith", arith);
        env.add_global(
            "modules",
            Value::from_iter([
                ("datetime", Value::from_object(DatetimeModule::Module)),
                ("pytz", Value::from_object(PytzModule)),
                ("re", Value::from_object(crate::jinja::pyre::ReModule)),
            ]),
        );
        let receivers = [
            "'abc'",
            "''",
            "'ÄÖü 🎉'",
            "[1, 'a', none]",
            "{'a': 1}",
            "modules.datetime.datetime(2020, 2, 29, 23, 59, 59)",
            "modules.datetime.date(1, 1, 1)",
            "modules.datetime.datetime(9999, 12, 31, tzinfo=modules.pytz.utc)",
            "modules.datetime.timedelta(days=-1, microseconds=1)",
            "modules.pytz.timezone('Europe/Paris')",
            "modules.pytz",
            "modules.datetime.datetime",
            "modules.datetime.date",
            "modules.re",
        ];
        let methods = [
            "upper",
            "lower",
            "strip",
            "lstrip",
            "rstrip",
            "split",
            "rsplit",
            "splitlines",
            "replace",
            "startswith",
            "endswith",
            "find",
            "rfind",
            "index",
            "count",
            "join",
            "title",
            "capitalize",
            "isdigit",
            "isalpha",
            "isalnum",
            "isupper",
            "islower",
            "isspace",
            "zfill",
            "center",
            "ljust",
            "rjust",
            "format",
            "partition",
            "encode",
            "append",
            "extend",
            "pop",
            "insert",
            "remove",
            "sort",
            "reverse",
            "copy",
            "get",
            "items",
            "keys",
            "values",
            "update",
            "setdefault",
            "strftime",
            "isoformat",
            "date",
            "time",
            "weekday",
            "isoweekday",
            "isocalendar",
            "toordinal",
            "timestamp",
            "utcoffset",
            "tzname",
            "astimezone",
            "replace",
            "total_seconds",
            "localize",
            "normalize",
            "dst",
            "timezone",
            "FixedOffset",
            "now",
            "today",
            "utcnow",
            "strptime",
            "fromisoformat",
            "fromordinal",
            "fromtimestamp",
            "utcfromtimestamp",
            "combine",
            "match",
            "search",
            "findall",
            "sub",
            "split",
            "compile",
            "escape",
            "fullmatch",
        ];
        let args = [
            "",
            "none",
            "-1",
            "0",
            "99999999999999999999",
            "1e308",
            "'%'",
            "'%Q%-%'",
            "''",
            "'('",
            "'abc', -5, 10**9",
            "[]",
            "{}",
            "tzinfo='x'",
            "year=0",
            "days=1e300",
            "modules.pytz.utc",
            "modules.datetime.datetime(2020, 1, 1)",
            "'abc', 'b', 'c', 'd', 'e', 'f', 'g', 'h'",
        ];
        let mut calls = 0;
        for r in receivers {
            for m in methods {
                for a in args {
                    let src = format!("{{{{ ({r}).{m}({a}) }}}}");
                    if src == "{{ ('abc').count('') }}" {
                        assert_eq!(env.render_str(&src, ()).unwrap(), "4");
                    }
                    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        env.render_str(&src, ())
                    }));
                    assert!(out.is_ok(), "panicked: {src}");
                    calls += 1;
                }
            }
        }
        for a in args.iter().filter(|a| !a.is_empty()) {
            for src in [
                format!("{{{{ modules.datetime.datetime({a}) }}}}"),
                format!("{{{{ modules.datetime.timedelta({a}) }}}}"),
                format!("{{{{ __weir_arith(modules.datetime.date(2020, 1, 1), '-', {a}) }}}}"),
                format!("{{{{ __weir_arith({a}, '+', modules.datetime.timedelta(1)) }}}}"),
            ] {
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    env.render_str(&src, ())
                }));
                assert!(out.is_ok(), "panicked: {src}");
                calls += 1;
            }
        }
        assert!(calls > 20_000, "{calls} calls");
    }
}
