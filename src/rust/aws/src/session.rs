//! Session: resolved configuration plus one client per service.
//!
//! Built once per R session object; SDK clients are cheap to clone and share a
//! connection pool, so every call reuses them.

use std::collections::VecDeque;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_types::region::Region;
use aws_types::service_config::ServiceConfigKey;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::AwsError;

/// How to reach AWS. Every member is optional: unset members come from the
/// standard chain (environment, shared config/credentials files and
/// `AWS_PROFILE`, SSO, web identity, ECS/IMDS).
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub endpoint_url: Option<String>,
    /// How many times a call is tried (throttling, a server error, a lost
    /// connection), with the SDK's exponential backoff; default 5.
    pub max_attempts: Option<u32>,
}

// Never print secrets, even by accident in a debug log.
impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field(
                "access_key_id",
                &self.access_key_id.as_ref().map(|_| "<set>"),
            )
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<set>"),
            )
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<set>"),
            )
            .field("endpoint_url", &self.endpoint_url)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// Tries of one call when none is configured.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// A loaded AWS session: configuration and clients.
pub struct AwsSession {
    config: SdkConfig,
    region: String,
    endpoint_url: Option<String>,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) sagemaker: aws_sdk_sagemaker::Client,
    pub(crate) logs: aws_sdk_cloudwatchlogs::Client,
    pub(crate) ecr: aws_sdk_ecr::Client,
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    /// DescribeLogStreams is limited to 5 requests/second per account.
    pub(crate) describe_log_streams_limit: RateLimiter,
    /// GetLogEvents to 25 (a job with many hosts reads a stream per host).
    pub(crate) get_log_events_limit: RateLimiter,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl AwsSession {
    /// Resolve configuration and build the clients.
    pub async fn load(cfg: SessionConfig) -> Result<AwsSession, AwsError> {
        let config_err = |m: &str| AwsError::new("config", "session", "load", m);
        let region = non_empty(cfg.region);
        let profile = non_empty(cfg.profile);
        let endpoint = non_empty(cfg.endpoint_url);
        let key = non_empty(cfg.access_key_id);
        let secret = non_empty(cfg.secret_access_key);
        let token = non_empty(cfg.session_token);

        // HTTPS with rustls and ring, trusting the system's certificates
        // (and SSL_CERT_FILE / SSL_CERT_DIR where set).
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https);
        if let Some(r) = &region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(p) = &profile {
            loader = loader.profile_name(p);
        }
        match (key, secret) {
            (Some(k), Some(s)) => {
                loader =
                    loader.credentials_provider(Credentials::new(k, s, token, None, "sagesim"));
            }
            (None, None) => {}
            _ => {
                return Err(config_err(
                    "access_key_id and secret_access_key must be given together",
                ))
            }
        }
        if let Some(ep) = &endpoint {
            loader = loader.endpoint_url(ep.clone());
        }
        // The SDK's standard retry strategy: throttling and transient errors
        // are tried again with exponential backoff and jitter.
        let attempts = cfg.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1);
        loader = loader.retry_config(RetryConfig::standard().with_max_attempts(attempts));
        let config = loader.load().await;

        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            config_err(
                "no AWS region configured: pass a region, set AWS_REGION or AWS_DEFAULT_REGION, \
                 or set `region` in the profile of the shared config file",
            )
        })?;

        // aws-config treats a loader endpoint like a shared-config value, so a
        // service-specific AWS_ENDPOINT_URL_<SERVICE> would beat it; setting it
        // on each service config makes an explicit endpoint win everywhere.
        macro_rules! client {
            ($sdk:ident) => {{
                let mut b = $sdk::config::Builder::from(&config);
                if let Some(ep) = &endpoint {
                    b = b.endpoint_url(ep.clone());
                }
                $sdk::Client::from_conf(b.build())
            }};
        }

        // Path-style addressing whenever S3 is not the real AWS endpoint:
        // virtual-host names like bucket.localhost do not resolve.
        let s3_endpoint = endpoint
            .clone()
            .or_else(|| service_endpoint(&config, "S3"))
            .or_else(|| config.endpoint_url().map(str::to_owned));
        let mut s3b = aws_sdk_s3::config::Builder::from(&config);
        if let Some(ep) = &endpoint {
            s3b = s3b.endpoint_url(ep.clone());
        }
        if s3_endpoint.is_some() {
            s3b = s3b.force_path_style(true);
        }

        let endpoint_url = endpoint
            .clone()
            .or_else(|| config.endpoint_url().map(str::to_owned));
        Ok(AwsSession {
            endpoint_url,
            region,
            s3: aws_sdk_s3::Client::from_conf(s3b.build()),
            sagemaker: client!(aws_sdk_sagemaker),
            logs: client!(aws_sdk_cloudwatchlogs),
            ecr: client!(aws_sdk_ecr),
            sts: client!(aws_sdk_sts),
            iam: client!(aws_sdk_iam),
            describe_log_streams_limit: RateLimiter::new(5, Duration::from_secs(1)),
            get_log_events_limit: RateLimiter::new(25, Duration::from_secs(1)),
            config,
        })
    }

    /// The region every client uses.
    pub fn region(&self) -> String {
        self.region.clone()
    }

    /// The endpoint override in effect (explicit or AWS_ENDPOINT_URL / profile), if any.
    pub fn endpoint_url(&self) -> Option<String> {
        self.endpoint_url.clone()
    }

    /// The resolved SDK configuration (for callers that need another client).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }
}

/// The environment a local job's hosts get in place of the job's role, as
/// the Python SDK's local mode passes it: the session's credentials, region
/// and endpoint, written as `export NAME='value'` lines to a file only its
/// owner can read (the host's script reads it, then deletes it). Credentials
/// never pass through R.
pub(crate) async fn write_host_credentials(
    s: &AwsSession,
    p: serde_json::Value,
) -> Result<serde_json::Value, AwsError> {
    const OP: &str = "WriteHostCredentials";
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct Args {
        path: String,
    }
    let a: Args = crate::json::params("session", OP, p)?;
    let mut lines = vec![
        ("AWS_REGION", s.region.clone()),
        ("AWS_DEFAULT_REGION", s.region.clone()),
    ];
    if let Some(ep) = &s.endpoint_url {
        lines.push(("AWS_ENDPOINT_URL", ep.clone()));
    }
    if let Some(provider) = s.config.credentials_provider() {
        use aws_credential_types::provider::ProvideCredentials;
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| AwsError::from_credentials("session", OP, &e))?;
        lines.push(("AWS_ACCESS_KEY_ID", creds.access_key_id().to_owned()));
        lines.push((
            "AWS_SECRET_ACCESS_KEY",
            creds.secret_access_key().to_owned(),
        ));
        if let Some(token) = creds.session_token() {
            lines.push(("AWS_SESSION_TOKEN", token.to_owned()));
        }
    }
    let mut text = String::new();
    for (name, value) in lines {
        if value.contains('\'') || value.contains('\n') {
            return Err(AwsError::new(
                "config",
                "session",
                OP,
                format!("{name} has a quote or a newline"),
            ));
        }
        text.push_str(&format!("export {name}='{value}'\n"));
    }
    write_private(std::path::Path::new(&a.path), &text)
        .map_err(|e| AwsError::io("session", OP, &a.path, &e))?;
    Ok(serde_json::json!({}))
}

/// Creates `path` readable by its owner only, before anything is written.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// A service-specific endpoint (AWS_ENDPOINT_URL_S3 or a profile `services` section).
fn service_endpoint(config: &SdkConfig, service_id: &str) -> Option<String> {
    let key = ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    config
        .service_config()?
        .load_config(key)
        .filter(|s| !s.trim().is_empty())
}

/// At most `max` acquisitions in any sliding window of `window`.
pub(crate) struct RateLimiter {
    max: usize,
    window: Duration,
    calls: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(max: usize, window: Duration) -> Self {
        RateLimiter {
            max,
            window,
            calls: Mutex::new(VecDeque::with_capacity(max)),
        }
    }

    /// Wait until a call is allowed, then record it. The lock is held while
    /// sleeping so concurrent callers queue in order.
    pub(crate) async fn acquire(&self) {
        let mut calls = self.calls.lock().await;
        let now = Instant::now();
        while calls
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            calls.pop_front();
        }
        if calls.len() >= self.max {
            if let Some(oldest) = calls.pop_front() {
                tokio::time::sleep_until(oldest + self.window).await;
            }
        }
        calls.push_back(Instant::now());
    }
}
