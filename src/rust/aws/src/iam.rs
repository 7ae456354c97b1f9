//! IAM: the one read sagesim needs, a role's real ARN.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::AwsError;
use crate::session::AwsSession;

/// `iam:GetRole` {RoleName} -> {Arn, RoleName, Path}.
///
/// STS names an assumed-role caller by the role's name only; the role's ARN
/// may have a path (SageMaker's execution roles live under `/service-role/`),
/// which only IAM can say.
pub(crate) async fn get_role(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "GetRole";
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct Args {
        role_name: String,
    }
    let a: Args = crate::json::params("iam", OP, p)?;
    let out = s
        .iam
        .get_role()
        .role_name(&a.role_name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("iam", OP, &e))?;
    let role = out
        .role()
        .ok_or_else(|| AwsError::new("service", "iam", OP, "IAM answered without a role"))?;
    Ok(json!({"Arn": role.arn(), "RoleName": role.role_name(), "Path": role.path()}))
}
