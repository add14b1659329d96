//! The one retry policy for requests to the API server that may be repeated: reads, and writes
//! that are conditional (a resourceVersion) or idempotent by design. A failure that passes
//! (429, 500, 502, 503, 504, a dropped connection) is retried three times with backoff (100 ms
//! doubling, at most 2 s); a refusal (404, 409, 422, 403) is answered at once, so the caller
//! re-reads and decides again.

use std::time::Duration;

use backon::ExponentialBuilder;

pub fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

pub fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(3)
}
