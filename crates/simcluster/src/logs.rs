//! Container logs, generated lazily from the image's log script: each line's text and time
//! follow from its index, so `tailLines`, `sinceSeconds`/`sinceTime`, `timestamps`,
//! `limitBytes` and `previous` are index arithmetic, and megabytes of bulk output stream in
//! chunks without ever being held in memory.

use jiff::Timestamp;
use serde_json::Value;

use crate::behavior::{LogScript, pod_image};
use crate::clock::{add_secs, rfc3339, rfc3339_nano, secs_between};
use crate::error::ApiError;
use crate::kubelet::{self, Stage};
use crate::meta;
use crate::state::Shared;

const BULK_LINE: u64 = 100;
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Default, Clone)]
pub(crate) struct LogQuery {
    pub(crate) container: Option<String>,
    pub(crate) previous: bool,
    pub(crate) since_seconds: Option<f64>,
    pub(crate) since_time: Option<Timestamp>,
    pub(crate) tail_lines: Option<u64>,
    pub(crate) timestamps: bool,
    pub(crate) limit_bytes: Option<u64>,
}

/// The lines one request will read, as index ranges over a lazily generated log.
#[derive(Debug, Clone)]
pub(crate) struct LogPlan {
    templates: Vec<String>,
    every: f64,
    start: Timestamp,
    bulk: u64,
    pod: String,
    namespace: String,
    container: String,
    timestamps: bool,
    next: u64,
    end: u64,
    remaining_bytes: Option<u64>,
}

impl LogPlan {
    fn line_time(&self, i: u64) -> Timestamp {
        if i < self.bulk {
            self.start
        } else {
            add_secs(self.start, (i - self.bulk) as f64 * self.every)
        }
    }

    fn line(&self, i: u64) -> String {
        let t = self.line_time(i);
        let mut text = if i < self.bulk {
            let head = format!("bulk filler line {i:010} pod={} ", self.pod);
            let pad = (BULK_LINE as usize).saturating_sub(head.len() + 1);
            format!("{head}{}", "x".repeat(pad))
        } else {
            let j = i - self.bulk;
            let tpl = self
                .templates
                .get((j as usize) % self.templates.len().max(1))
                .map_or("", String::as_str);
            tpl.replace("{n}", &j.to_string())
                .replace("{pod}", &self.pod)
                .replace("{namespace}", &self.namespace)
                .replace("{container}", &self.container)
                .replace("{ts}", &rfc3339(t))
        };
        if self.timestamps {
            text = format!("{} {text}", rfc3339_nano(t));
        }
        text.push('\n');
        text
    }
}

impl Iterator for LogPlan {
    type Item = Result<bytes::Bytes, std::io::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end || self.remaining_bytes == Some(0) {
            return None;
        }
        let mut buf = String::with_capacity(CHUNK + 256);
        while self.next < self.end && buf.len() < CHUNK {
            buf.push_str(&self.line(self.next));
            self.next += 1;
        }
        if let Some(rem) = self.remaining_bytes.as_mut() {
            let take = (*rem as usize).min(buf.len());
            buf.truncate(floor_char_boundary(&buf, take));
            *rem -= take as u64;
            if buf.is_empty() {
                return None;
            }
        }
        Some(Ok(bytes::Bytes::from(buf)))
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Plans the log read for `pod`, or the error the kubelet would answer.
pub(crate) fn plan(shared: &Shared, pod: &Value, q: &LogQuery) -> Result<LogPlan, ApiError> {
    let name = meta::name(pod).to_string();
    let containers: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
        .collect();
    let container = match &q.container {
        Some(c) if containers.contains(c) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let rt = kubelet::runtime(shared, meta::uid(pod))
        .filter(|rt| rt.stage != Stage::Creating || rt.last_term.is_some())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
            ))
        })?;
    let script: LogScript = shared.scripts().for_image(pod_image(pod)).logs.clone();
    let now = shared.now();
    let every = if script.every.is_zero() {
        1.0
    } else {
        script.every.as_secs_f64()
    };
    let (start, end, templates, finite, bulk) = if q.previous {
        let Some(t) = rt.last_term.as_ref() else {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        };
        (
            t.started,
            t.finished,
            script.previous_lines.clone(),
            true,
            0,
        )
    } else {
        match (rt.stage, rt.started_at, rt.last_term.as_ref()) {
            (Stage::Running, Some(s), _) => (
                s,
                now,
                script.lines.clone(),
                false,
                script.bulk_bytes.div_ceil(BULK_LINE),
            ),
            (_, _, Some(t)) => (
                t.started,
                t.finished,
                script.lines.clone(),
                false,
                script.bulk_bytes.div_ceil(BULK_LINE),
            ),
            _ => (now, now, Vec::new(), false, 0),
        }
    };
    let elapsed = secs_between(start, end).max(0.0);
    let mut scripted = if templates.is_empty() {
        0
    } else {
        (elapsed / every).floor() as u64 + 1
    };
    if finite {
        scripted = scripted
            .min(templates.len() as u64)
            .max(templates.len().min(1) as u64);
    }
    let total = bulk + scripted;
    let since = match (q.since_time, q.since_seconds) {
        (Some(t), _) => Some(t),
        (None, Some(s)) => Some(add_secs(now, -s)),
        _ => None,
    };
    let mut first = 0;
    if let Some(since) = since {
        let lag = secs_between(start, since);
        if lag > 0.0 {
            first = bulk + ((lag / every).ceil() as u64).min(scripted);
        }
    }
    if let Some(n) = q.tail_lines {
        first = first.max(total.saturating_sub(n));
    }
    Ok(LogPlan {
        templates,
        every,
        start,
        bulk,
        pod: name,
        namespace: meta::namespace(pod).to_string(),
        container,
        timestamps: q.timestamps,
        next: first,
        end: total,
        remaining_bytes: q.limit_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(bulk: u64, scripted: u64) -> LogPlan {
        LogPlan {
            templates: vec!["line {n} key=phx_secret".into()],
            every: 1.0,
            start: "2024-01-01T00:00:00Z".parse().unwrap(),
            bulk,
            pod: "p".into(),
            namespace: "ns".into(),
            container: "c".into(),
            timestamps: true,
            next: 0,
            end: bulk + scripted,
            remaining_bytes: None,
        }
    }

    #[test]
    fn lines_and_timestamps() {
        let p = plan_of(0, 3);
        let text: String = p
            .map(|c| String::from_utf8(c.unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(
            text,
            "2024-01-01T00:00:00Z line 0 key=phx_secret\n2024-01-01T00:00:01Z line 1 key=phx_secret\n2024-01-01T00:00:02Z line 2 key=phx_secret\n"
        );
    }

    #[test]
    fn bulk_streams_in_chunks_with_limit() {
        let mut p = plan_of(100_000, 1);
        p.timestamps = false;
        let first = p.next().unwrap().unwrap();
        assert!(first.len() >= CHUNK && first.len() < CHUNK + 256);
        assert!(first.starts_with(b"bulk filler line 0000000000"));
        let mut p = plan_of(100_000, 1);
        p.remaining_bytes = Some(150);
        let total: usize = p.map(|c| c.unwrap().len()).sum();
        assert_eq!(total, 150);
    }
}
