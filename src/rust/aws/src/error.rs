//! One error type for every AWS call, serialisable so R can turn it into a
//! condition with fields.
//!
//! Messages are assembled here from the error's code, message and `Display`
//! chain only. `Debug` output of an `SdkError` can contain the raw request
//! (headers, including `Authorization`), so it is never used.

use std::error::Error as StdError;
use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_types::request_id::RequestId;
use serde::Serialize;

/// A failed AWS (or local) operation.
///
/// `kind` is one of "service", "credentials", "network", "timeout",
/// "invalid_request", "io", "config".
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct AwsError {
    pub kind: String,
    pub service: String,
    pub operation: String,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    pub http_status: Option<u16>,
}

impl AwsError {
    /// An error that did not come from the SDK (bad parameters, local I/O, ...).
    pub fn new(kind: &str, service: &str, operation: &str, message: impl Into<String>) -> Self {
        AwsError {
            kind: kind.to_owned(),
            service: service.to_owned(),
            operation: operation.to_owned(),
            code: None,
            message: message.into(),
            request_id: None,
            http_status: None,
        }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub(crate) fn invalid(service: &str, operation: &str, message: impl Into<String>) -> Self {
        Self::new("invalid_request", service, operation, message)
    }

    pub(crate) fn io(service: &str, operation: &str, what: &str, err: &std::io::Error) -> Self {
        Self::new("io", service, operation, format!("{what}: {err}"))
    }

    /// Credentials that could not be resolved (the message is the error's
    /// `Display` chain, which never holds secrets).
    pub(crate) fn from_credentials(service: &str, operation: &str, err: &CredentialsError) -> Self {
        Self::new("credentials", service, operation, chain(err))
    }

    /// Build from an SDK error: code and message from the error metadata,
    /// request id and HTTP status from the raw response when there is one.
    pub(crate) fn from_sdk<E>(
        service: &str,
        operation: &str,
        err: &SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let request_id = err.request_id().map(str::to_owned);
        let http_status = err.raw_response().map(|r| r.status().as_u16());
        let (kind, code, message) = match err {
            SdkError::ServiceError(ctx) => {
                let e = ctx.err();
                let code = e.code().map(str::to_owned);
                let message = match (e.message(), &code) {
                    (Some(m), _) if !m.is_empty() => m.to_owned(),
                    (_, Some(c)) => c.clone(),
                    _ => match http_status {
                        Some(s) => {
                            format!("the service answered HTTP {s} without an error message")
                        }
                        None => "the service returned an error without a message".to_owned(),
                    },
                };
                ("service", code, message)
            }
            SdkError::TimeoutError(_) => ("timeout", None, chain(err)),
            SdkError::DispatchFailure(d) => {
                let kind = if has_credentials_error(err) {
                    "credentials"
                } else if d.is_timeout() {
                    "timeout"
                } else {
                    "network"
                };
                (kind, None, chain(err))
            }
            SdkError::ConstructionFailure(_) => {
                let kind = if has_credentials_error(err) {
                    "credentials"
                } else {
                    "invalid_request"
                };
                (kind, None, chain(err))
            }
            SdkError::ResponseError(_) => ("network", None, chain(err)),
            _ => ("network", None, chain(err)),
        };
        AwsError {
            kind: kind.to_owned(),
            service: service.to_owned(),
            operation: operation.to_owned(),
            code,
            message,
            request_id,
            http_status,
        }
    }
}

/// `Display` of the error and its sources, joined; repeated lines dropped.
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && parts.last() != Some(&text) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

fn has_credentials_error(err: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<CredentialsError>() {
            return true;
        }
        cur = e.source();
    }
    false
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} failed", self.service, self.operation)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}", self.message)?;
        let mut extra = Vec::new();
        if let Some(s) = self.http_status {
            extra.push(format!("HTTP {s}"));
        }
        if let Some(id) = &self.request_id {
            extra.push(format!("request id {id}"));
        }
        if !extra.is_empty() {
            write!(f, " [{}]", extra.join(", "))?;
        }
        Ok(())
    }
}

impl StdError for AwsError {}
