//! Small helpers for turning params JSON into typed requests and SDK outputs
//! into AWS-shaped JSON (PascalCase members, absent members omitted).

use aws_smithy_types::DateTime;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::AwsError;

/// Deserialize an operation's params; `null` counts as `{}`.
pub(crate) fn params<T: DeserializeOwned>(
    service: &str,
    operation: &str,
    value: Value,
) -> Result<T, AwsError> {
    let value = if value.is_null() {
        Value::Object(Map::new())
    } else {
        value
    };
    serde_json::from_value(value)
        .map_err(|e| AwsError::invalid(service, operation, format!("bad parameters: {e}")))
}

/// Epoch seconds, the one timestamp representation handed to R.
pub(crate) fn secs(dt: &DateTime) -> f64 {
    dt.as_secs_f64()
}

/// CloudWatch Logs counts in epoch milliseconds; R gets seconds like everywhere else.
pub(crate) fn millis_to_secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Builder for a JSON object that skips `None` members.
#[derive(Default)]
pub(crate) struct Obj(Map<String, Value>);

impl Obj {
    pub(crate) fn new() -> Self {
        Obj(Map::new())
    }

    pub(crate) fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    pub(crate) fn opt<T: Into<Value>>(mut self, key: &str, value: Option<T>) -> Self {
        if let Some(v) = value {
            self.0.insert(key.to_owned(), v.into());
        }
        self
    }

    pub(crate) fn time(self, key: &str, value: Option<&DateTime>) -> Self {
        self.opt(key, value.map(secs))
    }

    pub(crate) fn build(self) -> Value {
        Value::Object(self.0)
    }
}

/// A string list as JSON, or nothing when the service did not send it.
pub(crate) fn strings(list: &Option<Vec<String>>) -> Option<Value> {
    list.as_ref().map(|l| Value::from(l.clone()))
}
