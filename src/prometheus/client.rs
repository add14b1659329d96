//! A Prometheus client over our reqwest stack (ring TLS only).

use std::time::Duration;

use prometheus_http_query::response::Data;

use crate::error::{Error, Result};

/// How requests to Prometheus authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Bearer(String),
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Auth {
    // Never print a credential, not even in -vv logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}:***)"),
        }
    }
}

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// Prometheus rejected the query (`bad_data`, `execution`): the query is wrong.
    #[error("Prometheus rejected the query: {0}")]
    Rejected(String),
    /// The answer has a shape the analysis cannot use (a range vector, a string).
    #[error("{0}")]
    Shape(String),
    /// Prometheus could not be reached or did not answer properly.
    #[error("{0}")]
    Unavailable(String),
}

/// One series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: std::collections::BTreeMap<String, String>,
    pub samples: Vec<(f64, f64)>,
}

/// A connected Prometheus HTTP API.
#[derive(Clone)]
pub struct Prometheus {
    client: prometheus_http_query::Client,
    /// The same HTTP client (auth headers, timeout) for the endpoints the crate does not cover.
    http: reqwest::Client,
    url: String,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus")
            .field("url", &self.url)
            .finish()
    }
}

impl Prometheus {
    pub fn new(url: &str, auth: &Auth, timeout: Duration) -> Result<Self> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::Usage(format!(
                "invalid Prometheus URL {url:?}: {e}; write e.g. http://prometheus.monitoring:9090"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Usage(format!(
                "invalid Prometheus URL {url:?}: use http:// or https://"
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        let value = match auth {
            Auth::None => None,
            Auth::Bearer(token) => Some(format!("Bearer {token}")),
            Auth::Basic { username, password } => {
                use base64::Engine as _;
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                Some(format!("Basic {encoded}"))
            }
        };
        if let Some(value) = value {
            let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                Error::Input(
                    "the Prometheus credential contains characters not allowed in a header"
                        .to_string(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("kubectl-posthog/", env!("CARGO_PKG_VERSION")))
            .redirect(crate::http::same_origin_redirects())
            .build()
            .map_err(|e| Error::Input(format!("cannot build the Prometheus HTTP client: {e}")))?;
        let client = prometheus_http_query::Client::from(http.clone(), url)
            .map_err(|e| Error::Usage(format!("invalid Prometheus URL {url:?}: {e}")))?;
        Ok(Prometheus {
            client,
            http,
            url: url.trim_end_matches('/').to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET {url}/api/v1/<path>` with the configured credentials and timeout: the body of a 2xx
    /// answer, else why not.
    pub(crate) async fn get_api(
        &self,
        path_and_query: &str,
    ) -> std::result::Result<String, String> {
        let url = format!("{}/api/v1/{path_and_query}", self.url);
        let answer = crate::http::send("prometheus", self.http.get(&url))
            .await
            .map_err(|e| match e {
                crate::http::SendError::Request(e) => innermost(&e),
                crate::http::SendError::Body(e) => e.to_string(),
            })?;
        let (status, body) = (answer.status, answer.body);
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(format!(
                "refused the credentials ({status}): check prometheus.bearerToken/basicAuth"
            ));
        }
        if !status.is_success() {
            return Err(format!(
                "HTTP {}: {}",
                status.as_u16(),
                body.chars().take(160).collect::<String>()
            ));
        }
        Ok(body)
    }

    /// Runs a range query; each series as its labels and its finite `(unix seconds, value)` samples.
    pub async fn range(
        &self,
        query: &str,
        start: jiff::Timestamp,
        end: jiff::Timestamp,
        step: Duration,
    ) -> Result<Vec<RangeSeries>, QueryError> {
        let started = std::time::Instant::now();
        let answer = self
            .client
            .query_range(
                query,
                start.as_second(),
                end.as_second(),
                step.as_secs_f64(),
            )
            .get()
            .await;
        let url = format!(
            "{}/api/v1/query_range?query={}&start={}&end={}&step={}",
            self.url,
            encode(query),
            start.as_second(),
            end.as_second(),
            step.as_secs_f64()
        );
        self.log_query(&url, answer.as_ref().err(), started);
        let answer = answer.map_err(|e| self.query_error(e))?;
        match answer.data() {
            Data::Matrix(vectors) => Ok(vectors
                .iter()
                .map(|v| RangeSeries {
                    labels: v
                        .metric()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    samples: v
                        .samples()
                        .iter()
                        .map(|s| (s.timestamp(), s.value()))
                        .filter(|(_, value)| value.is_finite())
                        .collect(),
                })
                .collect()),
            _ => Err(QueryError::Shape(format!(
                "Prometheus at {} did not answer {query} with a range vector",
                self.url
            ))),
        }
    }

    /// The global `scrape_interval` Prometheus runs with (`/api/v1/status/config`); `None` when
    /// it cannot be read (an older Prometheus, a proxy in front of it, no permission).
    pub async fn scrape_interval(&self) -> Option<Duration> {
        match self.get_api("status/config").await {
            Ok(body) => scrape_interval_of(&body),
            Err(e) => {
                tracing::info!("cannot read Prometheus' scrape interval: {e}");
                None
            }
        }
    }

    /// Runs an instant query and reduces it to one number: a scalar, or the largest element of
    /// an instant vector (the worst pod or series); an empty vector is `None`.
    pub async fn instant(&self, query: &str) -> Result<Option<f64>, QueryError> {
        let started = std::time::Instant::now();
        let result = self.client.query(query).get().await;
        let url = format!("{}/api/v1/query?query={}", self.url, encode(query));
        self.log_query(&url, result.as_ref().err(), started);
        let result = result.map_err(|e| self.query_error(e))?;
        let value = match result.data() {
            Data::Scalar(sample) => Ok(Some(sample.value())),
            Data::Vector(vector) => Ok(vector
                .iter()
                .map(|v| v.sample().value())
                .reduce(|a, b| if b > a || a.is_nan() { b } else { a })),
            Data::Matrix(_) => Err(QueryError::Shape(
                "the query returns a range vector; wrap it in a function such as rate(…[5m]) \
                 or max_over_time(…[5m]) so it yields one number"
                    .to_string(),
            )),
        };
        if let Ok(value) = &value {
            let shown = value.map_or_else(|| "no series".to_string(), |v| v.to_string());
            tracing::info!("prometheus reading: {query} = {shown}");
        }
        value
    }

    /// The `-vv` line for a query the query crate sent (it sends it itself: GET, as `.get()` asks).
    fn log_query(
        &self,
        url: &str,
        error: Option<&prometheus_http_query::Error>,
        started: std::time::Instant,
    ) {
        use crate::http_log::{Outcome, exchange};
        let status = match error {
            None => Some(200),
            Some(prometheus_http_query::Error::Client(e)) => e
                .inner()
                .and_then(reqwest::Error::status)
                .map(|s| s.as_u16()),
            // Prometheus's own error JSON comes with 400 (bad data) or 422 (execution).
            Some(prometheus_http_query::Error::Prometheus(e)) if e.is_bad_data() => Some(400),
            Some(prometheus_http_query::Error::Prometheus(e)) if e.is_execution() => Some(422),
            Some(_) => None,
        };
        let text = error.map(|e| innermost(e)).unwrap_or_default();
        let outcome = match status {
            Some(status) => Outcome::Status(status),
            None => Outcome::Failed(&text),
        };
        exchange("prometheus", "GET", url, outcome, started.elapsed());
    }

    fn query_error(&self, error: prometheus_http_query::Error) -> QueryError {
        match error {
            prometheus_http_query::Error::Prometheus(e) if e.is_bad_data() || e.is_execution() => {
                QueryError::Rejected(e.message().to_string())
            }
            prometheus_http_query::Error::Prometheus(e) => {
                QueryError::Unavailable(format!("Prometheus at {} failed the query: {e}", self.url))
            }
            prometheus_http_query::Error::Client(e) => {
                let status = e.inner().and_then(reqwest::Error::status);
                let detail = match status {
                    Some(s) if s.as_u16() == 401 || s.as_u16() == 403 => format!(
                        "refused the credentials ({s}): check prometheus.bearerToken/basicAuth"
                    ),
                    Some(s) => format!("answered {s}"),
                    None => match e.inner() {
                        Some(inner) if inner.is_decode() => {
                            "did not answer with the Prometheus API's JSON: \
                             check that the URL is the Prometheus base URL"
                                .to_string()
                        }
                        Some(inner) => innermost(inner),
                        None => format!("did not answer as the Prometheus API does: {e}"),
                    },
                };
                QueryError::Unavailable(format!("Prometheus at {} {detail}", self.url))
            }
            other => QueryError::Unavailable(format!("Prometheus at {}: {other}", self.url)),
        }
    }
}

/// A query as a URL query value.
fn encode(query: &str) -> String {
    url::form_urlencoded::byte_serialize(query.as_bytes()).collect()
}

/// "connection refused" rather than "error sending request".
fn innermost(error: &dyn std::error::Error) -> String {
    let mut text = format!("is unreachable: {error}");
    let mut source = error.source();
    while let Some(e) = source {
        text = format!("is unreachable: {e}");
        source = e.source();
    }
    text
}

/// `global.scrape_interval` of a `/api/v1/status/config` answer (its `data.yaml` is the loaded
/// configuration, which Prometheus writes with every default filled in: `global:` first, two-space
/// indented keys, durations such as `15s` or `1m30s`). Pure.
pub fn scrape_interval_of(body: &str) -> Option<Duration> {
    let answer: serde_json::Value = serde_json::from_str(body).ok()?;
    let yaml = answer.pointer("/data/yaml")?.as_str()?;
    let mut in_global = false;
    for line in yaml.lines() {
        if !line.starts_with(' ') {
            in_global = line.trim_end() == "global:";
            continue;
        }
        if in_global && let Some(value) = line.trim().strip_prefix("scrape_interval:") {
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            return humantime::parse_duration(value)
                .ok()
                .filter(|d| !d.is_zero());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_scrape_interval_comes_from_the_global_section() {
        let body = serde_json::json!({"status": "success", "data": {"yaml":
            "global:\n  scrape_interval: 1m30s\n  scrape_timeout: 10s\nscrape_configs:\n- job_name: x\n  scrape_interval: 5s\n"}})
        .to_string();
        assert_eq!(
            super::scrape_interval_of(&body),
            Some(std::time::Duration::from_secs(90))
        );
        let local = serde_json::json!({"data": {"yaml":
            "scrape_configs:\n- job_name: x\n  scrape_interval: 5s\n"}})
        .to_string();
        assert_eq!(
            super::scrape_interval_of(&local),
            None,
            "a job's own is not the global one"
        );
        assert_eq!(super::scrape_interval_of("not json"), None);
    }

    use super::*;

    #[test]
    fn credentials_never_show_in_debug_output() {
        let auth = Auth::Bearer("s3cr3t".into());
        assert!(!format!("{auth:?}").contains("s3cr3t"));
        let auth = Auth::Basic {
            username: "me".into(),
            password: "s3cr3t".into(),
        };
        assert_eq!(format!("{auth:?}"), "Basic(me:***)");
    }

    #[test]
    fn bad_urls_are_usage_errors() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        for url in ["prometheus:9090", "ftp://x", "not a url"] {
            let err = Prometheus::new(url, &Auth::None, Duration::from_secs(1)).unwrap_err();
            assert_eq!(err.exit().code(), 2, "{url}: {err}");
        }
        assert!(
            Prometheus::new(
                "http://127.0.0.1:9090/",
                &Auth::None,
                Duration::from_secs(1)
            )
            .is_ok()
        );
    }

    /// A stand-in Prometheus answering the HTTP API's JSON shapes, to test the reduction and
    /// the error mapping without a server (the real server is exercised in tests/e2e/prom.rs).
    async fn stand_in(body: &'static str, status: u16) -> String {
        stand_in_typed(body, status, "application/json").await
    }

    async fn stand_in_typed(body: &'static str, status: u16, content_type: &'static str) -> String {
        use axum::{Router, http::StatusCode, routing::get};
        let app = Router::new().route(
            "/api/v1/query",
            get(move || async move {
                (
                    StatusCode::from_u16(status).unwrap(),
                    [("content-type", content_type)],
                    body,
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn vectors_reduce_to_their_largest_value_and_empty_is_no_data() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = stand_in(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1,"2.5"]},{"metric":{"pod":"b"},"value":[1,"7"]}]}}"#,
            200,
        )
        .await;
        let prom = Prometheus::new(&url, &Auth::None, Duration::from_secs(2)).unwrap();
        assert_eq!(prom.instant("x").await.unwrap(), Some(7.0));

        let url = stand_in(
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
            200,
        )
        .await;
        let prom = Prometheus::new(&url, &Auth::None, Duration::from_secs(2)).unwrap();
        assert_eq!(prom.instant("x").await.unwrap(), None);
    }

    #[tokio::test]
    async fn bad_data_is_a_rejected_query_and_401_names_the_credentials() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = stand_in(
            r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#,
            400,
        )
        .await;
        let prom = Prometheus::new(&url, &Auth::None, Duration::from_secs(2)).unwrap();
        let err = prom.instant("sum(").await.unwrap_err();
        assert!(
            matches!(err, QueryError::Rejected(ref m) if m.contains("parse error")),
            "{err:?}"
        );

        let url = stand_in_typed("unauthorized", 401, "text/plain").await;
        let prom =
            Prometheus::new(&url, &Auth::Bearer("x".into()), Duration::from_secs(2)).unwrap();
        let err = prom.instant("up").await.unwrap_err();
        assert!(
            matches!(err, QueryError::Unavailable(ref m) if m.contains("credentials")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn unreachable_prometheus_is_unavailable() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Bind then drop, so the port is very likely closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let prom = Prometheus::new(
            &format!("http://127.0.0.1:{port}"),
            &Auth::None,
            Duration::from_secs(2),
        )
        .unwrap();
        let err = prom.instant("up").await.unwrap_err();
        assert!(
            matches!(err, QueryError::Unavailable(ref m) if m.contains("unreachable")),
            "{err:?}"
        );
    }
}
