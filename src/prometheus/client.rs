//! A Prometheus client over our reqwest stack (ring TLS only).

use std::time::Duration;

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
    /// The HTTP client with the auth header and timeout.
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
        Ok(Prometheus {
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
        let params = [
            ("query", query.to_string()),
            ("start", start.as_second().to_string()),
            ("end", end.as_second().to_string()),
            ("step", step.as_secs_f64().to_string()),
        ];
        match self.query_api("query_range", &params).await? {
            QueryData::Matrix(series) => Ok(series
                .into_iter()
                .map(|s| RangeSeries {
                    labels: s.metric,
                    samples: s
                        .values
                        .iter()
                        .map(|(t, v)| (*t, parse_value(v)))
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
        let data = self
            .query_api("query", &[("query", query.to_string())])
            .await?;
        let value = match data {
            QueryData::Scalar((_, v)) => Ok(Some(parse_value(&v))),
            QueryData::Vector(vector) => Ok(vector
                .iter()
                .filter_map(|v| v.value.as_ref().map(|(_, v)| parse_value(v)))
                .reduce(|a, b| if b > a || a.is_nan() { b } else { a })),
            QueryData::Matrix(_) => Err(QueryError::Shape(
                "the query returns a range vector; wrap it in a function such as rate(…[5m]) \
                 or max_over_time(…[5m]) so it yields one number"
                    .to_string(),
            )),
            QueryData::String(_) => Err(QueryError::Shape(
                "the query returns a string, not a number".to_string(),
            )),
        };
        if let Ok(value) = &value {
            let shown = value.map_or_else(|| "no series".to_string(), |v| v.to_string());
            tracing::info!("prometheus reading: {query} = {shown}");
        }
        value
    }

    /// `GET {url}/api/v1/{endpoint}?…`, its answer read up to [`QUERY_BODY_CAP`] (issue 14 item
    /// 10: a 1 GiB answer used to be held whole, 4.9 GB peak RSS) and decoded from the API's
    /// envelope (`status`, `data`, `errorType`, `error`).
    async fn query_api(
        &self,
        endpoint: &str,
        params: &[(&str, String)],
    ) -> Result<QueryData, QueryError> {
        let url = format!("{}/api/v1/{endpoint}", self.url);
        let answer = crate::http::send_capped(
            "prometheus",
            self.http.get(&url).query(params),
            QUERY_BODY_CAP,
        )
        .await
        .map_err(|e| {
            QueryError::Unavailable(match e {
                crate::http::SendError::Request(e) => {
                    format!("Prometheus at {} {}", self.url, innermost(&e))
                }
                crate::http::SendError::Body(e) => {
                    format!("Prometheus at {}: {e}", self.url)
                }
            })
        })?;
        let status = answer.status;
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(QueryError::Unavailable(format!(
                "Prometheus at {} refused the credentials ({status}): check prometheus.bearerToken/basicAuth",
                self.url
            )));
        }
        // Prometheus answers its own error JSON with 400 (bad data), 422 (execution) or 503
        // (timeout, cancelled); anything else that is not JSON is not the Prometheus API.
        match serde_json::from_str::<Envelope>(&answer.body) {
            Ok(Envelope {
                status: EnvelopeStatus::Success,
                data: Some(data),
                ..
            }) if status.is_success() => Ok(data),
            Ok(Envelope {
                status: EnvelopeStatus::Error,
                error_type,
                error,
                ..
            }) => {
                let message = error.unwrap_or_default();
                match error_type.as_deref() {
                    Some("bad_data" | "execution") => Err(QueryError::Rejected(message)),
                    other => Err(QueryError::Unavailable(format!(
                        "Prometheus at {} failed the query: {}: {message}",
                        self.url,
                        other.unwrap_or("error")
                    ))),
                }
            }
            _ if !status.is_success() => Err(QueryError::Unavailable(format!(
                "Prometheus at {} answered {status}",
                self.url
            ))),
            _ => Err(QueryError::Unavailable(format!(
                "Prometheus at {} did not answer with the Prometheus API's JSON: \
                 check that the URL is the Prometheus base URL",
                self.url
            ))),
        }
    }
}

/// The most a query answer (`/api/v1/query`, `/api/v1/query_range`) may be. Prometheus returns
/// at most 11,000 points per series; at ~40 bytes a point that is ~450 KiB per series, so 64 MiB
/// holds ~140 series at full resolution over the longest window (a canary's queries aggregate
/// to a handful of series).
pub const QUERY_BODY_CAP: usize = 64 << 20;

/// The API's answer envelope.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    status: EnvelopeStatus,
    data: Option<QueryData>,
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum EnvelopeStatus {
    Success,
    Error,
}

/// `data` of a query answer, by `resultType`.
#[derive(serde::Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum QueryData {
    Vector(Vec<VectorElement>),
    Matrix(Vec<MatrixSeries>),
    Scalar((f64, String)),
    String(#[allow(dead_code)] (f64, String)),
}

/// One element of an instant vector (a native histogram carries `histogram` instead of `value`).
#[derive(serde::Deserialize)]
struct VectorElement {
    value: Option<(f64, String)>,
}

#[derive(serde::Deserialize)]
struct MatrixSeries {
    #[serde(default)]
    metric: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// A sample value as Prometheus writes it (`"2.5"`, `"NaN"`, `"+Inf"`); unreadable is NaN.
fn parse_value(text: &str) -> f64 {
    text.parse().unwrap_or(f64::NAN)
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
