//! Redaction of a byte stream (a pod log) with a bounded buffer, so memory does not grow with the
//! size of a log or of one line in it.
//!
//! Complete lines are redacted as they arrive. A line longer than the buffer is redacted window by
//! window: the last [`Redactor::margin`] bytes of a full window are held back because a credential
//! starting there might continue, and a value that runs past the end of the window (a 100 KB bearer
//! token) is replaced at once and its remaining bytes are dropped as they arrive. The output is
//! byte-for-byte what redacting the whole line at once gives; the tests hold it to that.

use std::io::{self, Write};

use super::redact::{Candidate, Redactor, continues_value};

/// The default buffer: big enough that ordinary lines never hit the window path.
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

/// A `Write` that redacts what is written to it and forwards the result to `out`.
pub struct StreamRedactor<'r, W: Write> {
    redactor: &'r Redactor,
    out: W,
    /// The unfinished line (or window of a long one); never longer than `capacity`.
    pending: Vec<u8>,
    capacity: usize,
    scratch: Vec<u8>,
    /// Inside a value already replaced: drop bytes until the value ends.
    swallowing: bool,
    redactions: usize,
}

impl<'r, W: Write> StreamRedactor<'r, W> {
    pub fn new(redactor: &'r Redactor, out: W) -> Self {
        Self::with_capacity(redactor, out, DEFAULT_CAPACITY)
    }

    /// `capacity` is raised to what the redactor's look-ahead needs (tests use small ones).
    pub fn with_capacity(redactor: &'r Redactor, out: W, capacity: usize) -> Self {
        let capacity = capacity.max(2 * redactor.margin() + 64);
        StreamRedactor {
            redactor,
            out,
            pending: Vec::with_capacity(capacity),
            capacity,
            scratch: Vec::with_capacity(capacity + 1024),
            swallowing: false,
            redactions: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Redacts what is still pending (end of stream ends a line), flushes, and returns the
    /// writer and the number of credentials replaced.
    pub fn finish(mut self) -> io::Result<(W, usize)> {
        if !self.pending.is_empty() {
            let len = self.pending.len();
            self.emit_complete(len)?;
        }
        self.out.flush()?;
        Ok((self.out, self.redactions))
    }

    fn feed(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.swallowing {
                let kept = data
                    .iter()
                    .position(|b| !continues_value(*b))
                    .unwrap_or(data.len());
                data = &data[kept..];
                if data.is_empty() {
                    break;
                }
                self.swallowing = false;
            }
            let take = (self.capacity - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if let Some(newline) = self.pending.iter().rposition(|b| *b == b'\n') {
                self.emit_complete(newline + 1)?;
            } else if self.pending.len() == self.capacity {
                self.emit_window()?;
            }
        }
        Ok(())
    }

    /// Redacts and writes `pending[..upto]`, which ends a line (or the stream).
    fn emit_complete(&mut self, upto: usize) -> io::Result<()> {
        self.scratch.clear();
        self.redactions += self
            .redactor
            .redact_into(&self.pending[..upto], &mut self.scratch);
        self.out.write_all(&self.scratch)?;
        self.pending.drain(..upto);
        Ok(())
    }

    /// The buffer is full and holds no newline: write what is decided, keep the rest.
    fn emit_window(&mut self) -> io::Result<()> {
        let len = self.pending.len();
        let mut emit_to = len - self.redactor.margin();
        let mut replace: Vec<Candidate> = Vec::new();
        let mut open: Option<Candidate> = None;
        for candidate in self.redactor.candidates(&self.pending) {
            if candidate.start >= emit_to {
                break;
            }
            if candidate.end == len {
                // Only an open-ended value can reach the end from before the margin; anything
                // else is left for the next window to decide.
                match candidate.open_value_at {
                    Some(value) if value < len => {
                        open = Some(candidate);
                        emit_to = len;
                    }
                    _ => emit_to = candidate.start,
                }
                break;
            }
            emit_to = emit_to.max(candidate.end);
            replace.push(candidate);
        }

        self.scratch.clear();
        let mut last = 0;
        for candidate in replace.iter().chain(open.iter()) {
            let matched = &self.pending[candidate.start..candidate.end];
            let Some(replacement) = self.redactor.replacement(matched) else {
                continue;
            };
            self.scratch
                .extend_from_slice(&self.pending[last..candidate.start]);
            self.scratch.extend_from_slice(&replacement);
            last = candidate.end;
            self.redactions += 1;
        }
        self.scratch.extend_from_slice(&self.pending[last..emit_to]);
        self.out.write_all(&self.scratch)?;
        self.pending.drain(..emit_to);
        if open.is_some() {
            self.swallowing = true;
        }
        Ok(())
    }
}

impl<W: Write> Write for StreamRedactor<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.feed(data)?;
        Ok(data.len())
    }

    /// Flushes only what is decided; a partial line stays pending until it ends.
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::redact::SecretValue;

    fn secret(value: &str) -> SecretValue {
        SecretValue {
            secret: "app-secrets".into(),
            key: "db-password".into(),
            value: value.as_bytes().to_vec(),
        }
    }

    fn stream(
        redactor: &Redactor,
        input: &[u8],
        chunk: usize,
        capacity: usize,
    ) -> (Vec<u8>, usize) {
        let mut s = StreamRedactor::with_capacity(redactor, Vec::new(), capacity);
        for piece in input.chunks(chunk.max(1)) {
            s.write_all(piece).unwrap();
            assert!(
                s.pending.len() <= s.capacity,
                "pending grew past the buffer"
            );
        }
        s.finish().unwrap()
    }

    fn whole(redactor: &Redactor, input: &[u8]) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let n = redactor.redact_into(input, &mut out);
        (out, n)
    }

    /// A tiny deterministic generator; the tests must not depend on a seedless RNG.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const KEY: &str = "phx_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa9876543";
    const SECRET: &str = "s3cr3t-Value-from-the-Secret";

    fn pieces(rng: &mut XorShift) -> Vec<u8> {
        let options: [&dyn Fn(&mut XorShift) -> String; 9] = [
            &|r| "x".repeat(r.below(3000)),
            &|r| " ".repeat(1 + r.below(3)),
            &|_| KEY.to_string(),
            &|_| SECRET.to_string(),
            &|r| format!("Authorization: Bearer {}", "t".repeat(8 + r.below(9000))),
            &|r| format!("password={}", "p".repeat(1 + r.below(5000))),
            &|_| "https://admin:hunter2hunter2@db.internal:5432/app".to_string(),
            &|_| "\n".to_string(),
            &|_| "bearer of news".to_string(),
        ];
        let mut line = Vec::new();
        for _ in 0..(1 + rng.below(12)) {
            line.extend_from_slice(options[rng.below(options.len())](rng).as_bytes());
        }
        line
    }

    #[test]
    fn streaming_matches_whole_text_redaction_for_any_chunking() {
        let (redactor, _) = Redactor::new(&[secret(SECRET)]);
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for case in 0..400 {
            let input = pieces(&mut rng);
            let chunk = 1 + rng.below(5000);
            let expected = whole(&redactor, &input);
            let got = stream(&redactor, &input, chunk, 0);
            assert_eq!(
                String::from_utf8_lossy(&got.0),
                String::from_utf8_lossy(&expected.0),
                "case {case}, chunk {chunk}"
            );
            assert_eq!(got.1, expected.1, "count, case {case}");
        }
    }

    #[test]
    fn every_credential_straddling_the_window_cut_is_redacted() {
        let (redactor, _) = Redactor::new(&[secret(SECRET)]);
        let capacity = 2 * redactor.margin() + 64;
        let cut = capacity - redactor.margin();
        let url = "postgres://admin:hunter2hunter2@db:5432/app";
        for credential in [
            KEY,
            SECRET,
            url,
            "password=pa55w0rd-long",
            "Authorization: Bearer abcdefghijklmnop",
        ] {
            // Slide the credential across the point where the first window is cut, and across
            // the end of the first window.
            let starts = (cut - 60..cut + 10).chain(capacity - 60..capacity + 5);
            for offset in starts {
                let input = format!("{}{credential} tail\n", "y".repeat(offset));
                let expected = whole(&redactor, input.as_bytes());
                let (out, n) = stream(&redactor, input.as_bytes(), 997, capacity);
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&expected.0),
                    "{credential} at {offset}"
                );
                assert_eq!(n, 1, "{credential} at {offset}");
            }
        }
    }

    #[test]
    fn a_token_longer_than_the_buffer_is_dropped_entirely() {
        let (redactor, _) = Redactor::new(&[]);
        let token = "A".repeat(1_000_000);
        let input = format!("GET /x Authorization: Bearer {token} done\nnext line\n");
        let (out, n) = stream(&redactor, input.as_bytes(), 4096, DEFAULT_CAPACITY);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "GET /x Authorization: Bearer [REDACTED] done\nnext line\n"
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn a_secret_value_at_the_end_of_a_long_line_is_redacted() {
        let (redactor, _) = Redactor::new(&[secret(SECRET)]);
        let input = format!("{}{SECRET}", "z".repeat(300_000));
        let (out, n) = stream(&redactor, input.as_bytes(), 65_536, DEFAULT_CAPACITY);
        assert_eq!(n, 1);
        assert!(!String::from_utf8(out).unwrap().contains(SECRET));
    }

    #[test]
    fn memory_stays_bounded_for_a_huge_line() {
        let (redactor, _) = Redactor::new(&[]);
        let mut s = StreamRedactor::new(&redactor, std::io::sink());
        let block = vec![b'q'; 1 << 20];
        for _ in 0..32 {
            s.write_all(&block).unwrap();
            assert!(s.pending.capacity() <= s.capacity + 64);
            assert!(s.scratch.capacity() <= 2 * s.capacity + 4096);
        }
        s.finish().unwrap();
    }

    #[test]
    fn ordinary_logs_pass_through_unchanged() {
        let (redactor, _) = Redactor::new(&[secret(SECRET)]);
        let log =
            "level=info msg=\"request handled\" path=/api/orders status=200 n=1\n".repeat(5000);
        let (out, n) = stream(&redactor, log.as_bytes(), 8192, DEFAULT_CAPACITY);
        assert_eq!(n, 0);
        assert_eq!(out, log.as_bytes());
    }
}
