//! ECR against moto, with stand-in `docker`/`podman` scripts first on PATH
//! that record their arguments and the SHA-256 of their stdin.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{call, ok, TempDir, ACCOUNT};
use serde_json::json;

const PASSWORD: &str = "123456789012-auth-token"; // what moto encodes in its token

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn sha256_hex(text: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s '{text}' | sha256sum"))
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Run `f` with `dir` first on PATH (tests in this binary are serialised).
fn with_path<T>(dir: &Path, f: impl FnOnce() -> T) -> T {
    let old = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(&old));
    std::env::set_var("PATH", std::env::join_paths(paths).unwrap());
    let out = f();
    std::env::set_var("PATH", old);
    out
}

#[test]
fn ensure_repository_creates_once() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let r = ok(
        &s,
        "ecr:EnsureRepository",
        json!({"RepositoryName": "sagesim/r-base"}),
    );
    assert_eq!(r["Created"], json!(true));
    assert_eq!(r["RegistryId"], ACCOUNT);
    assert_eq!(
        r["RepositoryUri"],
        format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/sagesim/r-base")
    );
    let again = ok(
        &s,
        "ecr:EnsureRepository",
        json!({"RepositoryName": "sagesim/r-base"}),
    );
    assert_eq!(again["Created"], json!(false));
    assert_eq!(again["RepositoryUri"], r["RepositoryUri"]);
}

#[test]
fn login_feeds_the_password_on_stdin_only() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let bin = TempDir::new("engine");
    let log = TempDir::new("engine-log");
    write_script(
        &bin.join("docker"),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{args}'\nsha256sum | cut -d' ' -f1 > '{sha}'\necho 'Login Succeeded'\n",
            args = log.s("args"),
            sha = log.s("sha")
        ),
    );
    let r = with_path(bin.path(), || {
        call(&s, "ecr:Login", json!({"Engine": "docker"}))
    })
    .unwrap();
    let registry = format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com");
    assert_eq!(r["Registry"], registry);
    assert_eq!(
        r["ExpiresAt"],
        json!(1_420_070_400.0),
        "moto's token expired in 2015 and is still used"
    );
    assert_eq!(r["Output"], "Login Succeeded\n");
    let args = std::fs::read_to_string(log.join("args")).unwrap();
    assert_eq!(
        args,
        format!("login\n--username\nAWS\n--password-stdin\n{registry}\n")
    );
    assert!(!args.contains(PASSWORD));
    assert_eq!(
        std::fs::read_to_string(log.join("sha")).unwrap().trim(),
        sha256_hex(PASSWORD)
    );
    assert!(!r.to_string().contains(PASSWORD), "password never returned");
}

#[test]
fn login_failure_carries_the_engine_stderr() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let bin = TempDir::new("engine-fail");
    write_script(
        &bin.join("podman"),
        "#!/bin/sh\ncat >/dev/null\necho 'Error: authentication required' >&2\nexit 125\n",
    );
    let e = with_path(bin.path(), || {
        call(
            &s,
            "ecr:Login",
            json!({"Engine": "podman", "RegistryId": ACCOUNT}),
        )
    })
    .unwrap_err();
    assert_eq!(e.kind, "io");
    assert_eq!(e.code.as_deref(), Some("LoginFailed"));
    assert!(e.message.contains("Error: authentication required"), "{e}");
    assert!(!e.message.contains(PASSWORD));

    let e = call(&s, "ecr:Login", json!({"Engine": "nerdctl"})).unwrap_err();
    assert_eq!(e.kind, "invalid_request");

    // An engine that is not installed.
    let empty = TempDir::new("no-engine");
    let old = std::env::var_os("PATH").unwrap_or_default();
    std::env::set_var("PATH", empty.path());
    let e = call(&s, "ecr:Login", json!({"Engine": "docker"}));
    std::env::set_var("PATH", old);
    let e = e.unwrap_err();
    assert_eq!(
        (e.kind.as_str(), e.code.as_deref()),
        ("io", Some("EngineNotFound"))
    );
}
