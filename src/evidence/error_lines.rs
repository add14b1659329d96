//! Error lines in pod logs, as the runbook's `grep -i error | tail -20` plus the status codes the
//! runbook acts on: a classifier for one line, and a tally fed whole chunks of a log stream that
//! finds candidate lines with one prefilter pass (as grep does) and classifies only those.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::LazyLock;

use regex::Regex;

use super::redact::Redactor;

/// Longest part of a line the triage looks at; the rest of a longer line is skipped.
const SCAN_LINE: usize = 8 * 1024;
/// Error lines kept for the report, as the runbook's `tail -20`.
pub const RECENT_LINES: usize = 20;

/// The error classes a log line mentions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineClass {
    pub error: bool,
    pub auth: bool,
    pub rate_limited: bool,
    pub server: bool,
}

static ERROR_WORD: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)error|fatal|panic|exception|\bERR\b|\bfailed\b"));
/// A status code next to the word that names it: `status=429`, `HTTP 503`, `code: 401`.
static STATUS_CODE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(?:status(?:[_ ]?code)?|code|http(?:/[0-9.]+)?|response)["']?\s*[=:]?\s*["']?([45][0-9][0-9])\b"#,
    )
});
static AUTH_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)unauthori[sz]ed|forbidden|invalid api key|authentication[ _]failed|authentication_error",
    )
});
static RATE_WORDS: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)too many requests|rate[ _-]?limit(?:ed)?\b|throttled"));
static SERVER_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)internal server error|bad gateway|service unavailable|gateway time-?out|server_error",
    )
});

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| unreachable!("log pattern {pattern}: {e}"))
}

/// Classifies one log line by the words and status codes in it.
pub fn classify_line(line: &str) -> LineClass {
    let mut class = LineClass {
        error: ERROR_WORD.is_match(line),
        ..LineClass::default()
    };
    for caps in STATUS_CODE.captures_iter(line) {
        match caps.get(1).map(|m| m.as_str()) {
            Some("401" | "403") => class.auth = true,
            Some("429") => class.rate_limited = true,
            Some(code) if code.starts_with('5') => class.server = true,
            _ => {}
        }
    }
    class.auth |= AUTH_WORDS.is_match(line);
    class.rate_limited |= RATE_WORDS.is_match(line);
    class.server |= SERVER_WORDS.is_match(line);
    class
}

impl LineClass {
    /// Counted as an error line: the runbook's `grep -i error`, or a 401/403/429/5xx.
    pub fn counts(self) -> bool {
        self.error || self.auth || self.rate_limited || self.server
    }
}

/// Error lines of one stream: counts by class and the most recent lines (redacted).
#[derive(Debug, Default)]
pub struct ScanResult {
    pub error_lines: usize,
    pub auth: usize,
    pub rate_limited: usize,
    pub server: usize,
    pub recent: VecDeque<String>,
    /// When the stream's first error line was logged, before the triage window too: the
    /// earliest evidence of a problem the log holds.
    pub first_error_at: Option<jiff::Timestamp>,
}

/// A superset of everything [`classify_line`] looks for, as lowercase literals searched in a
/// lowercased copy of whole chunks (a case-sensitive literal search is about 4x faster than a
/// case-insensitive regex), so lines that cannot be error lines cost nothing per line.
/// `err` covers error/ERR/server_error, `fail` failed, and a status code only counts after
/// status/code/http/response.
static PREFILTER: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    regex::bytes::Regex::new(
        r"(?-u)err|fatal|panic|exception|fail|unauthori|forbidden|invalid api key|authentication|too many requests|rate limit|rate-limit|rate_limit|ratelimit|throttled|bad gateway|service unavailable|gateway time|status|code|http|response",
    )
    .unwrap_or_else(|e| unreachable!("log prefilter: {e}"))
});

/// Tallies error lines of one log stream fed in arbitrary chunks.
pub struct ErrorTally {
    prefix: String,
    /// Only lines whose leading RFC 3339 timestamp is at or after this count (the triage window).
    cutoff: Option<jiff::Timestamp>,
    partial: Vec<u8>,
    result: ScanResult,
}

impl ErrorTally {
    pub fn new(prefix: impl Into<String>, cutoff: Option<jiff::Timestamp>) -> Self {
        ErrorTally {
            prefix: prefix.into(),
            cutoff,
            partial: Vec::new(),
            result: ScanResult::default(),
        }
    }

    /// Feeds the next bytes; `redactor` redacts the kept lines (None when already redacted).
    pub fn feed(&mut self, mut data: &[u8], redactor: Option<&Redactor>) {
        if !self.partial.is_empty() {
            match data.iter().position(|b| *b == b'\n') {
                Some(end) => {
                    self.extend_partial(&data[..end]);
                    let line = std::mem::take(&mut self.partial);
                    self.line(&line, redactor);
                    data = &data[end + 1..];
                }
                None => {
                    self.extend_partial(data);
                    return;
                }
            }
        }
        let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let (lines, rest) = data.split_at(complete);
        let mut next = 0;
        let lower = lines.to_ascii_lowercase();
        for found in PREFILTER.find_iter(&lower) {
            if found.start() < next {
                continue;
            }
            let start = lines[..found.start()]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let end = lines[found.start()..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(lines.len(), |i| found.start() + i);
            self.line(&lines[start..end], redactor);
            next = end + 1;
        }
        self.extend_partial(rest);
    }

    /// The tally, with a last line that had no newline.
    pub fn finish(mut self, redactor: Option<&Redactor>) -> ScanResult {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, redactor);
        }
        self.result
    }

    fn extend_partial(&mut self, bytes: &[u8]) {
        let room = SCAN_LINE.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn line(&mut self, line: &[u8], redactor: Option<&Redactor>) {
        let line = &line[..line.len().min(SCAN_LINE)];
        let text = String::from_utf8_lossy(line);
        let stamp = text
            .split(' ')
            .next()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let class = classify_line(&text);
        if !class.counts() {
            return;
        }
        if self.result.first_error_at.is_none() {
            self.result.first_error_at = stamp;
        }
        if let Some(cutoff) = self.cutoff
            && stamp.is_some_and(|t| t < cutoff)
        {
            return;
        }
        let result = &mut self.result;
        result.error_lines += 1;
        result.auth += usize::from(class.auth);
        result.rate_limited += usize::from(class.rate_limited);
        result.server += usize::from(class.server);
        if result.recent.len() == RECENT_LINES {
            result.recent.pop_front();
        }
        let shown = match redactor {
            Some(r) => r.redact_str(text.trim_end()).0.into_owned(),
            None => text.trim_end().to_string(),
        };
        result.recent.push_back(format!("{}{shown}", self.prefix));
    }
}

/// Passes bytes to `inner` and tallies error lines on the way (the bundle's log streams, after
/// redaction, so the triage's lines come from the same single read).
pub struct TapWriter<W: Write> {
    inner: W,
    tally: ErrorTally,
}

impl<W: Write> TapWriter<W> {
    pub fn new(inner: W, tally: ErrorTally) -> Self {
        TapWriter { inner, tally }
    }

    pub fn into_parts(self) -> (W, ScanResult) {
        (self.inner, self.tally.finish(None))
    }
}

impl<W: Write> Write for TapWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.inner.write_all(data)?;
        self.tally.feed(data, None);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified_by_status_and_words() {
        let cases = [
            (
                r#"level=error msg="posthog capture failed" status=401"#,
                (true, true, false, false),
            ),
            (
                "WARN posthog: HTTP 429 Too Many Requests, retry-after=3",
                (false, false, true, false),
            ),
            (
                r#"{"level":"error","status_code":503,"msg":"flush"}"#,
                (true, false, false, true),
            ),
            (
                "error: PostHog answered 502 Bad Gateway",
                (true, false, false, true),
            ),
            (
                "ERROR forbidden: invalid api key",
                (true, true, false, false),
            ),
            (
                "level=info msg=\"request handled\" status=200 n=3",
                (false, false, false, false),
            ),
            (
                "level=info msg=\"handled\" path=/api/orders/429 n=4",
                (false, false, false, false),
            ),
        ];
        for (line, (error, auth, rate, server)) in cases {
            let c = classify_line(line);
            assert_eq!(
                (c.error, c.auth, c.rate_limited, c.server),
                (error, auth, rate, server),
                "{line}"
            );
        }
    }

    fn lines() -> String {
        let mut log = String::new();
        for i in 0..50 {
            log.push_str(&format!("2026-11-22T10:00:{i:02}Z level=error status=429 key=phx_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa9876543 n={i}\n"));
            log.push_str("2026-11-22T10:00:00Z level=info ok status=200\n");
        }
        log.push_str(&format!("{}\n", "y".repeat(100_000)));
        log.push_str("2026-11-22T10:01:00Z level=error status=503 no newline at the end");
        log
    }

    #[test]
    fn any_chunking_gives_the_same_tally_and_the_last_twenty_redacted_lines() {
        let log = lines();
        let redactor = Redactor::patterns_only();
        for chunk in [1, 7, 1000, 65_536, log.len()] {
            let mut tally = ErrorTally::new("[pod/a] ", None);
            for piece in log.as_bytes().chunks(chunk) {
                tally.feed(piece, Some(&redactor));
            }
            let result = tally.finish(Some(&redactor));
            assert_eq!(
                (result.error_lines, result.rate_limited, result.server),
                (51, 50, 1),
                "chunk {chunk}"
            );
            assert_eq!(result.recent.len(), RECENT_LINES);
            assert!(
                result
                    .recent
                    .back()
                    .unwrap()
                    .ends_with("no newline at the end"),
                "chunk {chunk}"
            );
            assert!(
                result
                    .recent
                    .iter()
                    .all(|l| l.starts_with("[pod/a] ") && !l.contains("Zy9Xw8"))
            );
        }
    }

    #[test]
    fn the_prefilter_never_hides_a_line_the_classifier_counts() {
        let lines = [
            "ERR connection reset",
            "Unauthorized: bad key",
            "HTTP/1.1 503",
            "Response: 429",
            "RateLimited by upstream",
            "Too Many Requests",
            "upstream Bad Gateway",
            "Gateway Timeout",
            "FATAL boom",
            "Exception in thread",
            "task FAILED",
            "Throttled",
            "FORBIDDEN",
            "Authentication failed",
        ];
        for line in lines {
            assert!(classify_line(line).counts(), "{line}");
            let mut tally = ErrorTally::new("", None);
            tally.feed(format!("noise\n{line}\nnoise\n").as_bytes(), None);
            assert_eq!(tally.finish(None).error_lines, 1, "{line}");
        }
    }

    #[test]
    fn lines_before_the_cutoff_do_not_count() {
        let mut tally = ErrorTally::new("", Some("2026-11-22T10:00:30Z".parse().unwrap()));
        tally.feed(lines().as_bytes(), None);
        let result = tally.finish(None);
        assert_eq!(result.error_lines, 21, "10:00:30 … 10:00:49 and 10:01:00");
    }

    #[test]
    fn the_tap_passes_everything_through() {
        let mut tap = TapWriter::new(Vec::new(), ErrorTally::new("", None));
        tap.write_all(b"a error line\nfine\n").unwrap();
        let (written, result) = tap.into_parts();
        assert_eq!(written, b"a error line\nfine\n");
        assert_eq!(result.error_lines, 1);
    }
}
