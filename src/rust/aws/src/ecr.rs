//! ECR: make sure a repository exists and log a container engine in to it.
//!
//! The registry password goes to the engine on stdin only: never as an
//! argument (visible in `ps`), never in a result, message or log.

use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::error::AwsError;
use crate::json::{params, secs, Obj};
use crate::session::AwsSession;

const SVC: &str = "ecr";
const LOGIN_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RepoArgs {
    repository_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct LoginArgs {
    engine: String,
    registry_id: Option<String>,
    /// Log in to this host instead of the token's proxy endpoint: a registry
    /// standing in for the account's (publish_image(), option
    /// `sagesim.ecr_registry`).
    registry: Option<String>,
}

fn repo_json(r: &aws_sdk_ecr::types::Repository, created: bool) -> Value {
    Obj::new()
        .opt("RepositoryUri", r.repository_uri())
        .opt("RegistryId", r.registry_id())
        .set("Created", created)
        .build()
}

/// `ecr:EnsureRepository`: describe, create when missing (a concurrent
/// creator winning the race counts as "exists").
pub(crate) async fn ensure_repository(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "EnsureRepository";
    let a: RepoArgs = params(SVC, OP, p)?;
    let describe = || {
        s.ecr
            .describe_repositories()
            .repository_names(&a.repository_name)
            .send()
    };
    match describe().await {
        Ok(out) => {
            if let Some(r) = out.repositories().first() {
                return Ok(repo_json(r, false));
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_repository_not_found_exception()) => {}
        Err(e) => return Err(AwsError::from_sdk(SVC, "DescribeRepositories", &e)),
    }
    match s
        .ecr
        .create_repository()
        .repository_name(&a.repository_name)
        .send()
        .await
    {
        Ok(out) => match out.repository() {
            Some(r) => Ok(repo_json(r, true)),
            None => Err(AwsError::new(
                "service",
                SVC,
                "CreateRepository",
                "no repository in the response",
            )),
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_repository_already_exists_exception()) =>
        {
            let out = describe()
                .await
                .map_err(|e| AwsError::from_sdk(SVC, "DescribeRepositories", &e))?;
            out.repositories()
                .first()
                .map(|r| repo_json(r, false))
                .ok_or_else(|| {
                    AwsError::new(
                        "service",
                        SVC,
                        OP,
                        "repository exists but cannot be described",
                    )
                })
        }
        Err(e) => Err(AwsError::from_sdk(SVC, "CreateRepository", &e)),
    }
}

/// `ecr:Login`: GetAuthorizationToken, then `<engine> login --username AWS
/// --password-stdin <host>`. The token's expiry is reported, not enforced
/// (moto hands out tokens that expired in 2015).
pub(crate) async fn login(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "Login";
    let a: LoginArgs = params(SVC, OP, p)?;
    if a.engine != "docker" && a.engine != "podman" {
        return Err(AwsError::invalid(
            SVC,
            OP,
            format!(
                "Engine must be \"docker\" or \"podman\", not {:?}",
                a.engine
            ),
        ));
    }
    #[allow(deprecated)] // registryIds still selects the proxy endpoint returned
    let req = s
        .ecr
        .get_authorization_token()
        .set_registry_ids(a.registry_id.map(|r| vec![r]));
    let out = req
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SVC, "GetAuthorizationToken", &e))?;
    let data = out.authorization_data().first().ok_or_else(|| {
        AwsError::new(
            "service",
            SVC,
            OP,
            "GetAuthorizationToken returned no authorization data",
        )
    })?;
    let bad_token = || {
        AwsError::new(
            "service",
            SVC,
            OP,
            "authorization token is not base64 of \"user:password\"",
        )
    };
    let decoded = aws_smithy_types::base64::decode(data.authorization_token().unwrap_or_default())
        .map_err(|_| bad_token())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad_token())?;
    let (_user, password) = decoded.split_once(':').ok_or_else(bad_token)?;
    let endpoint = data.proxy_endpoint().ok_or_else(|| {
        AwsError::new(
            "service",
            SVC,
            OP,
            "GetAuthorizationToken returned no proxy endpoint",
        )
    })?;
    let registry = a.registry.unwrap_or_else(|| registry_host(endpoint));

    let output = run_login(&a.engine, &registry, password).await?;
    Ok(Obj::new()
        .set("Registry", registry)
        .opt("ExpiresAt", data.expires_at().map(secs))
        .set("Output", output)
        .build())
}

/// "https://123.dkr.ecr.eu-west-1.amazonaws.com/" -> "123.dkr.ecr.eu-west-1.amazonaws.com"
fn registry_host(endpoint: &str) -> String {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    rest.trim_end_matches('/').to_owned()
}

async fn run_login(engine: &str, registry: &str, password: &str) -> Result<String, AwsError> {
    const OP: &str = "Login";
    let mut child = Command::new(engine)
        .args(["login", "--username", "AWS", "--password-stdin", registry])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            AwsError::io(SVC, OP, &format!("cannot run {engine}"), &e).with_code("EngineNotFound")
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A failure here shows up as the engine's own error below.
        let _ = stdin.write_all(password.as_bytes()).await;
        let _ = stdin.shutdown().await;
    }
    let result = tokio::time::timeout(LOGIN_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            AwsError::new(
                "timeout",
                SVC,
                OP,
                format!(
                    "{engine} login did not finish within {}s",
                    LOGIN_TIMEOUT.as_secs()
                ),
            )
        })?
        .map_err(|e| AwsError::io(SVC, OP, &format!("{engine} login failed"), &e))?;
    // Engines do not echo the password; scrub anyway in case one ever does.
    let scrub = |b: &[u8]| String::from_utf8_lossy(b).replace(password, "********");
    let stdout = scrub(&result.stdout);
    let stderr = scrub(&result.stderr);
    if !result.status.success() {
        let detail = if stderr.trim().is_empty() {
            stdout.trim()
        } else {
            stderr.trim()
        };
        return Err(AwsError::new(
            "io",
            SVC,
            OP,
            format!(
                "{engine} login to {registry} failed ({}): {detail}",
                result.status
            ),
        )
        .with_code("LoginFailed"));
    }
    Ok(format!("{stdout}{stderr}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_host_strips_scheme_and_slash() {
        assert_eq!(
            super::registry_host("https://1.dkr.ecr.x.amazonaws.com/"),
            "1.dkr.ecr.x.amazonaws.com"
        );
        assert_eq!(
            super::registry_host("1.dkr.ecr.x.amazonaws.com"),
            "1.dkr.ecr.x.amazonaws.com"
        );
    }
}
