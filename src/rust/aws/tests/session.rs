//! Session configuration, STS, dispatch errors and error classification.
//! Tests here change process environment variables, so all take the lock.

mod common;

use common::{block_on, call, ok, ACCOUNT};
use sagesim_aws::{AwsSession, SessionConfig};
use serde_json::json;

#[test]
fn get_caller_identity() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let r = ok(&s, "sts:GetCallerIdentity", json!({}));
    assert_eq!(r["Account"], ACCOUNT);
    assert!(r["Arn"].as_str().unwrap().starts_with("arn:aws:"));
    assert!(r["UserId"].is_string());
    assert_eq!(
        ok(&s, "sts:GetCallerIdentity", serde_json::Value::Null)["Account"],
        ACCOUNT
    );
    assert_eq!(s.region(), "us-east-1");
    assert_eq!(s.endpoint_url(), Some(f.moto.endpoint()));
}

#[test]
fn get_role_gives_the_arn_with_its_path() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let iam = aws_sdk_iam::Client::new(s.sdk_config());
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    block_on(
        iam.create_role()
            .role_name("PathedRole")
            .path("/service-role/")
            .assume_role_policy_document(trust)
            .send(),
    )
    .expect("moto creates the role");
    let r = ok(&s, "iam:GetRole", json!({"RoleName": "PathedRole"}));
    assert_eq!(
        r["Arn"],
        format!("arn:aws:iam::{ACCOUNT}:role/service-role/PathedRole")
    );
    assert_eq!(r["Path"], "/service-role/");
    let e = call(&s, "iam:GetRole", json!({"RoleName": "NoSuchRole"})).unwrap_err();
    assert_eq!((e.kind.as_str(), e.service.as_str()), ("service", "iam"));
    assert_eq!(e.code.as_deref(), Some("NoSuchEntity"));
}

#[test]
fn unknown_operation_and_bad_params() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let e = call(&s, "s3:Frobnicate", json!({})).unwrap_err();
    assert_eq!(e.kind, "invalid_request");
    assert_eq!(e.code.as_deref(), Some("UnknownOperation"));
    assert_eq!(
        (e.service.as_str(), e.operation.as_str()),
        ("s3", "Frobnicate")
    );
    let e = call(&s, "sts:GetCallerIdentity", json!([1])).unwrap_err();
    assert_eq!(e.kind, "invalid_request");
    for op in sagesim_aws::OPERATIONS {
        // Every listed operation dispatches (and rejects a non-object).
        let e = call(&s, op, json!("nope")).unwrap_err();
        assert_eq!(e.kind, "invalid_request", "{op}: {e}");
    }
}

#[test]
fn explicit_endpoint_beats_environment_endpoints() {
    let f = moto_or_skip!();
    std::env::set_var("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    std::env::set_var("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9");
    let s = f.moto.session();
    let id = call(&s, "sts:GetCallerIdentity", json!({}));
    let bucket = call(&s, "s3:EnsureBucket", json!({"Bucket": "env-test"}));

    // Without an explicit endpoint the environment one is used (and path style on).
    let mut cfg = f.moto.session_config();
    cfg.endpoint_url = None;
    std::env::set_var("AWS_ENDPOINT_URL", f.moto.endpoint());
    std::env::remove_var("AWS_ENDPOINT_URL_S3");
    let from_env = block_on(AwsSession::load(cfg));
    std::env::remove_var("AWS_ENDPOINT_URL");

    assert_eq!(id.unwrap()["Account"], ACCOUNT);
    assert_eq!(bucket.unwrap()["Created"], true);
    let from_env = from_env.unwrap();
    assert_eq!(from_env.endpoint_url(), Some(f.moto.endpoint()));
    assert_eq!(
        ok(&from_env, "s3:EnsureBucket", json!({"Bucket": "env-test"}))["Created"],
        false
    );
}

#[test]
fn missing_region_is_a_config_error() {
    let _g = common::serial();
    let saved: Vec<_> = [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONFIG_FILE",
        "AWS_PROFILE",
        "AWS_EC2_METADATA_DISABLED",
    ]
    .iter()
    .map(|k| (*k, std::env::var_os(k)))
    .collect();
    std::env::remove_var("AWS_REGION");
    std::env::remove_var("AWS_DEFAULT_REGION");
    std::env::remove_var("AWS_PROFILE");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/sagesim/config");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let r = block_on(AwsSession::load(SessionConfig::default()));
    let half = block_on(AwsSession::load(SessionConfig {
        region: Some("us-east-1".into()),
        access_key_id: Some("AKIDONLY".into()),
        ..Default::default()
    }));
    for (k, v) in saved {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
    let e = r.err().expect("no region must fail");
    assert_eq!(e.kind, "config");
    assert!(e.message.contains("region"), "{e}");
    assert_eq!(half.err().expect("key without secret").kind, "config");
}

#[test]
fn missing_credentials_are_classified() {
    let f = moto_or_skip!();
    let keys = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ];
    let saved: Vec<_> = keys.iter().map(|k| (*k, std::env::var_os(k))).collect();
    for k in keys {
        std::env::remove_var(k);
    }
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/sagesim/credentials",
    );
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/sagesim/config");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let mut cfg = f.moto.session_config();
    cfg.access_key_id = None;
    cfg.secret_access_key = None;
    let r = block_on(async {
        let s = AwsSession::load(cfg).await?;
        s.call("sts:GetCallerIdentity", json!({})).await
    });
    for (k, v) in saved {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
    let e = r.unwrap_err();
    eprintln!("credentials error: {e}");
    assert_eq!(e.kind, "credentials", "{e:?}");
    assert!(!e.message.is_empty());
}

#[test]
fn network_errors_never_leak_secrets() {
    let _g = common::serial();
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY";
    let cfg = SessionConfig {
        region: Some("us-east-1".into()),
        access_key_id: Some("AKIASAGESIMTESTKEY01".into()),
        secret_access_key: Some(secret.into()),
        session_token: Some("SESSIONTOKENSAGESIM".into()),
        endpoint_url: Some("http://127.0.0.1:9".into()), // nothing listens on the discard port
        ..Default::default()
    };
    assert!(!format!("{cfg:?}").contains(secret));
    let s = block_on(AwsSession::load(cfg)).unwrap();
    let e = call(&s, "sts:GetCallerIdentity", json!({})).unwrap_err();
    eprintln!("network error: {e}");
    assert_eq!(e.kind, "network", "{e:?}");
    let everything = format!("{e} {e:?} {}", serde_json::to_string(&e).unwrap());
    for needle in [
        secret,
        "SESSIONTOKENSAGESIM",
        "AKIASAGESIMTESTKEY01",
        "Signature=",
        "Authorization",
    ] {
        assert!(
            !everything.contains(needle),
            "{needle} leaked: {everything}"
        );
    }
}
