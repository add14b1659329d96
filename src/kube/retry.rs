//! The one retry policy for requests to the API server that may be repeated: reads, and writes
//! that are conditional (a resourceVersion) or idempotent by design. Each failure is retried in
//! exactly one place: a 500, a 502 or a dropped connection by the call ([`transient`], three
//! times with backoff: 100 ms doubling, at most 2 s); a 429, 503 or 504 by the client (below);
//! a refusal (404, 409, 422, 403) is answered at once, so the caller re-reads and decides again.
//!
//! For whole requests through the client ([`BudgetedRetry`], a tower layer): 429, 503 and 504
//! are retried only while the request stays within its budget — `--request-timeout` when given,
//! else [`DEFAULT_RETRY_BUDGET`] — and a `Retry-After` beyond it fails at once, naming the wait
//! (kube's own policy retried 15 times over minutes and waited out any `Retry-After`).

use std::time::{Duration, Instant};

use backon::ExponentialBuilder;

/// A failure a call may repeat. 429, 503 and 504 are not among them: the client's
/// [`BudgetedRetry`] layer already retried those within the request's budget, and retrying
/// them again here would multiply it (the double retry issue 12 names).
pub fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 500 | 502),
        kube::Error::HyperError(_) => true,
        // A credential plugin that failed or hung (on a token refresh), an answer over the
        // body cap and a server that sent nothing within the idle bound (it already had the
        // whole bound): not retried.
        kube::Error::Service(inner) => {
            !(inner.is::<kube::client::AuthError>()
                || inner.is::<super::body_cap::ApiBodyTooLarge>()
                || inner.is::<super::body_cap::StreamIdle>()
                || inner
                    .downcast_ref::<kube::Error>()
                    .is_some_and(|e| matches!(e, kube::Error::Auth(_))))
        }
        _ => false,
    }
}

pub fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(3)
}

/// The overall time a request may spend in retries when `--request-timeout` is not given.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(30);

/// Retries within a time budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The most time from the first attempt to the start of the last.
    pub budget: Duration,
    pub max_retries: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

/// What to do after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Send it again after this pause.
    After(Duration),
    /// Return the answer as it is (not retryable, retries spent, or the budget would be passed).
    Stop,
    /// The server asked to wait longer than the budget allows: fail now and say so.
    WaitBeyondBudget { wait: Duration, budget: Duration },
}

impl RetryPolicy {
    /// The budget from `--request-timeout` (`None` or zero: [`DEFAULT_RETRY_BUDGET`]).
    pub fn within(request_timeout: Option<Duration>) -> Self {
        RetryPolicy {
            budget: request_timeout
                .filter(|t| !t.is_zero())
                .unwrap_or(DEFAULT_RETRY_BUDGET),
            max_retries: 8,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }

    /// After the `retries`-th retry (0 before any), `spent` after the first attempt started, an
    /// answer with `status` and maybe `Retry-After`: retry, stop, or fail naming the wait.
    pub fn decide(
        &self,
        retries: u32,
        spent: Duration,
        status: u16,
        retry_after: Option<Duration>,
    ) -> Retry {
        if !matches!(status, 429 | 503 | 504) {
            return Retry::Stop;
        }
        if let Some(wait) = retry_after
            && spent.saturating_add(wait) > self.budget
        {
            return Retry::WaitBeyondBudget {
                wait,
                budget: self.budget,
            };
        }
        if retries >= self.max_retries {
            return Retry::Stop;
        }
        let backoff = self
            .first_delay
            .saturating_mul(2u32.saturating_pow(retries))
            .min(self.max_delay);
        let delay = retry_after.unwrap_or(backoff);
        if spent.saturating_add(delay) > self.budget {
            return Retry::Stop;
        }
        Retry::After(delay)
    }
}

/// The error a request ends with when the server's `Retry-After` is beyond the budget.
#[derive(Debug, thiserror::Error)]
#[error(
    "the API server answered HTTP {status} asking to retry after {}, longer than the {} request budget (--request-timeout)",
    humantime::format_duration(*wait),
    humantime::format_duration(*budget)
)]
pub struct RetryAfterBeyondBudget {
    pub status: u16,
    pub wait: Duration,
    pub budget: Duration,
}

/// [`RetryPolicy`] as a tower retry policy; one clone per request.
#[derive(Debug, Clone)]
pub struct BudgetedRetry {
    policy: RetryPolicy,
    started: Option<Instant>,
    retries: u32,
}

impl BudgetedRetry {
    pub fn new(policy: RetryPolicy) -> Self {
        BudgetedRetry {
            policy,
            started: None,
            retries: 0,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<Res> tower::retry::Policy<http::Request<kube::client::Body>, http::Response<Res>, BoxError>
    for BudgetedRetry
{
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _req: &mut http::Request<kube::client::Body>,
        result: &mut Result<http::Response<Res>, BoxError>,
    ) -> Option<Self::Future> {
        let response = result.as_ref().ok()?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let spent = self.started.map_or(Duration::ZERO, |s| s.elapsed());
        match self.policy.decide(self.retries, spent, status, retry_after) {
            Retry::After(delay) => {
                self.retries += 1;
                tracing::info!(
                    "API server answered {status}; retry {} in {delay:?}",
                    self.retries
                );
                Some(tokio::time::sleep(delay))
            }
            Retry::Stop => None,
            Retry::WaitBeyondBudget { wait, budget } => {
                *result = Err(Box::new(RetryAfterBeyondBudget {
                    status,
                    wait,
                    budget,
                }));
                None
            }
        }
    }

    fn clone_request(
        &mut self,
        req: &http::Request<kube::client::Body>,
    ) -> Option<http::Request<kube::client::Body>> {
        self.started.get_or_insert_with(Instant::now);
        let body = req.body().try_clone()?;
        let mut clone = http::Request::builder()
            .method(req.method().clone())
            .uri(req.uri().clone())
            .version(req.version())
            .body(body)
            .ok()?;
        *clone.headers_mut() = req.headers().clone();
        *clone.extensions_mut() = req.extensions().clone();
        Some(clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14 item 7: `--request-timeout 5s` did not bound 15 retries over 160 s, and
    /// `Retry-After: 100000` was waited out.
    #[test]
    fn retries_stay_within_the_budget() {
        let policy = RetryPolicy::within(Some(Duration::from_secs(5)));
        let mut spent = Duration::ZERO;
        let mut retries = 0;
        while let Retry::After(delay) = policy.decide(retries, spent, 503, None) {
            spent += delay;
            retries += 1;
        }
        assert!(spent <= Duration::from_secs(5), "{spent:?}");
        assert!(retries >= 3, "{retries}");
        assert_eq!(
            policy.decide(0, Duration::ZERO, 429, Some(Duration::from_secs(100_000))),
            Retry::WaitBeyondBudget {
                wait: Duration::from_secs(100_000),
                budget: Duration::from_secs(5)
            }
        );
        assert_eq!(
            policy.decide(0, Duration::ZERO, 429, Some(Duration::from_secs(2))),
            Retry::After(Duration::from_secs(2))
        );
        assert_eq!(policy.decide(0, Duration::ZERO, 500, None), Retry::Stop);
        assert_eq!(
            RetryPolicy::within(Some(Duration::ZERO)).budget,
            DEFAULT_RETRY_BUDGET
        );
    }
}
