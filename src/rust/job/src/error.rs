//! The one error of the job contract: a record or plan that cannot be read,
//! checked or written. It names the operation and says what is wrong.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    pub operation: String,
    pub message: String,
}

impl JobError {
    pub(crate) fn new(operation: &str, message: impl Into<String>) -> Self {
        JobError {
            operation: operation.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn io(operation: &str, what: &str, err: &std::io::Error) -> Self {
        Self::new(operation, format!("{what}: {err}"))
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.operation, self.message)
    }
}

impl std::error::Error for JobError {}
